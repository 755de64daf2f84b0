"""doctor reads what the clients read: user and system config, variables, netrc, .pypirc, CI files.

Each finding is reproduced from the situation users report, and none fires on a working setup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli

from azfeeds.userconfig import pip_files, uv_files

FIXTURES = Path(__file__).parent / "fixtures"
MAP = FIXTURES / "map.json"

A_NAME = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
B_NAME = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"
A_UUID = (
    "https://pkgs.dev.azure.com/orgA/a1a1a1a1-0000-4000-8000-00000000b001/_packaging/"
    "a1a1a1a1-0000-4000-8000-00000000f001/pypi/simple/"
)
B_UUID = (
    "https://pkgs.dev.azure.com/orgB/b2b2b2b2-0000-4000-8000-00000000b001/_packaging/"
    "b2b2b2b2-0000-4000-8000-00000000f001/pypi/simple/"
)
CANARY = "canary-outside-secret-8d2e"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home and config directories; the project is ``home/project``."""
    root = tmp_path / "home"
    (root / "project").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(root))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(root / ".config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))
    monkeypatch.setenv("NETRC", str(root / ".netrc"))
    return root


def doctor(cwd: Path, *args: str) -> dict[str, Any]:
    result = run_cli(["doctor", "--offline", "--json", *args], cwd=cwd)
    assert CANARY not in result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    assert doc["exit_code"] == result.code
    return doc


def findings(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in doc["result"]["findings"] if f["kind"] == kind]


def uv_index(name: str, url: str) -> str:
    return f'[[index]]\nname = "{name}"\nurl = "{url}"\n\n'


# -- user and system config -------------------------------------------------------------------


def test_indexes_only_in_the_user_uv_toml_are_found_and_named(home: Path) -> None:
    conf = home / ".config" / "uv" / "uv.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text(uv_index("orga", A_NAME) + uv_index("orgb", B_NAME))
    doc = doctor(home / "project")
    indexes = doc["result"]["indexes"]
    assert [i["index"] for i in indexes] == ["orga", "orgb"]
    assert all(i["source"] == "uv user config (~/.config/uv/uv.toml)" for i in indexes)
    assert any(p.startswith("401 risk") for p in indexes[0]["problems"])
    assert "uv user config ~/.config/uv/uv.toml" in doc["result"]["sources_read"]
    text = run_cli(["doctor", "--offline"], cwd=home / "project").stdout
    assert "  source        uv user config (~/.config/uv/uv.toml)" in text
    assert "No Azure Artifacts index found" not in text


def test_system_uv_toml_pip_conf_and_the_variables_naming_files(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "etc-xdg" / "uv" / "uv.toml"
    system.parent.mkdir(parents=True)
    system.write_text(uv_index("orga", A_NAME))
    pip_user = home / ".config" / "pip" / "pip.conf"
    pip_user.parent.mkdir(parents=True)
    pip_user.write_text(f"[global]\nextra-index-url = {B_NAME}\n")
    doc = doctor(home / "project")
    sources = {i["source"] for i in doc["result"]["indexes"]}
    assert sources == {
        f"uv system config ({system})",
        "pip user config (~/.config/pip/pip.conf)",
    }

    named = tmp_path / "ci-uv.toml"
    named.write_text(uv_index("orgb", B_NAME))
    monkeypatch.setenv("UV_CONFIG_FILE", str(named))
    piped = tmp_path / "ci-pip.conf"
    piped.write_text(f"[global]\nindex-url = {A_NAME}\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(piped))
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pip.conf").write_text(f"[install]\nextra-index-url = {B_NAME}\n")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    doc = doctor(home / "project")
    sources = {i["source"] for i in doc["result"]["indexes"]}
    # UV_CONFIG_FILE replaces uv's user and system files; PIP_CONFIG_FILE hides pip's user files.
    assert sources == {
        f"uv config from UV_CONFIG_FILE ({named})",
        f"pip config from PIP_CONFIG_FILE ({piped})",
        f"pip virtualenv config ({venv / 'pip.conf'})",
    }


def test_config_locations_per_platform() -> None:
    env = {"HOME": "/h", "APPDATA": r"C:\Users\u\AppData\Roaming", "PROGRAMDATA": r"C:\ProgramData"}
    linux = [str(f.path) for f in uv_files(env, "linux")]
    assert linux == ["/h/.config/uv/uv.toml", "/etc/xdg/uv/uv.toml", "/etc/uv/uv.toml"]
    windows = [(f.scope, f.path.name, f.path.parent.name) for f in uv_files(env, "win32")]
    assert windows == [("user", "uv.toml", "uv"), ("system", "uv.toml", "uv")]
    pip_linux = [str(f.path) for f in pip_files(env, "linux")]
    assert pip_linux == [
        "/etc/xdg/pip/pip.conf",
        "/etc/pip.conf",
        "/h/.pip/pip.conf",
        "/h/.config/pip/pip.conf",
    ]
    mac = [str(f.path) for f in pip_files(env, "darwin")]
    assert "/Library/Application Support/pip/pip.conf" in mac
    assert "/h/Library/Application Support/pip/pip.conf" in mac
    assert [f.path.name for f in pip_files(env, "win32")] == ["pip.ini"] * 3


def test_a_malformed_user_config_is_a_warning_not_a_failure(home: Path) -> None:
    conf = home / ".config" / "uv" / "uv.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text(f'[[index]]\nurl = "{A_NAME}\n')
    result = run_cli(["doctor", "--offline"], cwd=home / "project")
    assert result.code == 0, result.output
    assert "uv.toml: not read:" in result.stderr and "Traceback" not in result.output


# -- index variables and the credential provider's endpoint lists --------------------------------


def test_index_variables_are_reported_once(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables themselves are issue 12b's report (``variables``, with the url command);
    the outside findings do not repeat them, and a CI file's URLs still count their hosts."""
    monkeypatch.setenv("UV_INDEX", f"orga={A_NAME} orgb={B_NAME}")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", A_UUID)
    doc = doctor(home / "project", "--map", str(MAP))
    assert [v["variable"] for v in doc["result"]["variables"]] == [
        "UV_INDEX",
        "PIP_EXTRA_INDEX_URL",
    ]
    assert not any(f["kind"] == "index-variable" for f in doc["result"]["findings"])
    assert "variable UV_INDEX" in doc["result"]["sources_read"]


def test_endpoint_list_in_name_form_after_a_rewrite(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = home / "project"
    (project / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "orga"\nurl = "{A_NAME}"\n')
    endpoints = {
        "endpointCredentials": [
            {"endpoint": A_NAME, "username": "VssSessionToken", "password": CANARY}
        ]
    }
    monkeypatch.setenv("VSS_NUGET_EXTERNAL_FEED_ENDPOINTS", json.dumps(endpoints))
    monkeypatch.setenv("UV_INDEX_ORGA_USERNAME", "u")
    monkeypatch.setenv("UV_INDEX_ORGA_PASSWORD", "p")
    before = findings(doctor(project, "--map", str(MAP)), "endpoint-list")
    assert before[0]["problems"] == [] and "no longer matches" in before[0]["notes"][0]
    assert run_cli(["rewrite", "--map", str(MAP)], cwd=project).code == 0
    doc = doctor(project, "--map", str(MAP))
    (after,) = findings(doc, "endpoint-list")
    assert after["source"] == "VSS_NUGET_EXTERNAL_FEED_ENDPOINTS"
    assert "no longer matches" in after["problems"][0]
    assert after["fixes"] == [f'set "endpoint": "{A_UUID}" in VSS_NUGET_EXTERNAL_FEED_ENDPOINTS']
    endpoints["endpointCredentials"][0]["endpoint"] = A_UUID
    monkeypatch.setenv("VSS_NUGET_EXTERNAL_FEED_ENDPOINTS", json.dumps(endpoints))
    assert doctor(project, "--map", str(MAP))["result"]["problems"] == 0
    monkeypatch.setenv("ARTIFACTS_CREDENTIALPROVIDER_FEED_ENDPOINTS", "{not json " + CANARY)
    listed = findings(doctor(project, "--map", str(MAP)), "endpoint-list")
    (bad,) = [f for f in listed if f["source"] == "ARTIFACTS_CREDENTIALPROVIDER_FEED_ENDPOINTS"]
    assert "is not JSON of the shape" in bad["problems"][0]


# -- netrc --------------------------------------------------------------------------------------


NETRC = f"""\
# a comment
machine example.org login me password other
machine pkgs.dev.azure.com
  login me
  password {CANARY}
macdef init
  machine pkgs.dev.azure.com login fake password fake

"""


def test_netrc_entry_for_a_host_with_two_organizations(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / ".netrc").write_text(NETRC)
    project = home / "project"
    (project / "uv.toml").write_text(uv_index("orga", A_UUID) + uv_index("orgb", B_UUID))
    doc = doctor(project)
    (entry,) = findings(doc, "netrc")
    assert entry["source"] == "~/.netrc:3"
    assert entry["subject"] == "pkgs.dev.azure.com"
    assert "2 organizations on pkgs.dev.azure.com (orgA, orgB)" in entry["problems"][0]
    assert "azfeeds never uses it" in entry["checks"]["meaning"]
    # Every index with its own credential: uv does not use the login, a note.
    for name in ("ORGA", "ORGB"):
        monkeypatch.setenv(f"UV_INDEX_{name}_USERNAME", "u")
        monkeypatch.setenv(f"UV_INDEX_{name}_PASSWORD", "p")
    (covered,) = findings(doctor(project), "netrc")
    assert covered["problems"] == [] and "uv does not use this login" in covered["notes"][0]
    # One organization: a note only.
    (project / "uv.toml").write_text(uv_index("orga", A_UUID))
    (one,) = findings(doctor(project), "netrc")
    assert one["problems"] == [] and "cannot serve a second organization" in one["notes"][0]


def test_netrc_without_azure_hosts_says_nothing(home: Path) -> None:
    (home / ".netrc").write_text("machine example.org login me password x\n")
    (home / "project" / "uv.toml").write_text(uv_index("orga", A_UUID))
    assert findings(doctor(home / "project"), "netrc") == []


# -- publishing ---------------------------------------------------------------------------------


def test_publish_url_must_be_the_upload_endpoint(home: Path) -> None:
    project = home / "project"
    (project / "uv.toml").write_text(
        f'[[index]]\nname = "orga"\nurl = "{A_UUID}"\npublish-url = "{A_UUID}"\n'
    )
    doc = doctor(project)
    publish = next(i for i in doc["result"]["indexes"] if i["key"].endswith("publish-url"))
    assert publish["problems"] == [
        "the upload target is the /pypi/simple/ endpoint: uploads go to /pypi/upload/"
    ]
    assert publish["fixes"] == [f"use {A_UUID.replace('/simple/', '/upload/')}"]
    (project / "uv.toml").write_text(
        f'[[index]]\nname = "orga"\nurl = "{A_UUID}"\n'
        f'publish-url = "{A_UUID.replace("/simple/", "/upload/")}"\n'
    )
    again = doctor(project)
    publish = next(i for i in again["result"]["indexes"] if i["key"].endswith("publish-url"))
    assert publish["problems"] == [] and publish["checks"]["publish"].startswith("an /pypi/upload")


def test_pypirc_repository(home: Path) -> None:
    (home / ".pypirc").write_text(
        "[distutils]\nindex-servers = azure\n\n"
        f"[azure]\nrepository = {A_NAME}\nusername = build\npassword = {CANARY}\n"
    )
    (one,) = findings(doctor(home / "project"), "pypirc")
    assert one["source"] == "~/.pypirc:5 [azure]"
    assert one["fixes"] == [f"use {A_NAME.replace('/simple/', '/upload/')}"]
    (home / ".pypirc").write_text(
        f"[distutils]\nindex-servers = azure\n\n[azure]\nrepository = "
        f"{A_NAME.replace('/simple/', '/upload/')}\n"
    )
    (fine,) = findings(doctor(home / "project"), "pypirc")
    assert fine["problems"] == []


# -- CI and container files ---------------------------------------------------------------------


CI_FILES = {
    "azure-pipelines.yml": f"steps:\n- script: uv sync\n  env:\n    UV_INDEX: orga={A_NAME}\n",
    ".github/workflows/ci.yml": (
        "jobs:\n  test:\n    env:\n"
        f"      PIP_EXTRA_INDEX_URL: https://x:${{{{ secrets.PAT }}}}@{B_NAME[8:]}\n"
    ),
    ".gitlab-ci.yml": f"variables:\n  UV_DEFAULT_INDEX: '{B_NAME}'\n",
    "Dockerfile": f"FROM python:3.12\nRUN pip install --index-url {A_NAME} alpha\n",
    "build.dockerfile": f"ENV PIP_INDEX_URL={A_UUID}\n",
    "tox.ini": f"[testenv]\nsetenv =\n    PIP_EXTRA_INDEX_URL = https://u:{CANARY}@{B_NAME[8:]}\n",
}


def write_ci(project: Path) -> dict[str, bytes]:
    out = {}
    for name, text in CI_FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out[name] = path.read_bytes()
    return out


def test_ci_files_are_reported_by_file_and_line_with_the_fix(home: Path) -> None:
    project = home / "project"
    before = write_ci(project)
    doc = doctor(project, "--map", str(MAP))
    found = {f["source"]: f for f in findings(doc, "ci-file")}
    assert set(found) == {
        "azure-pipelines.yml:4",
        ".github/workflows/ci.yml:4",
        ".gitlab-ci.yml:2",
        "Dockerfile:2",
        "build.dockerfile:1",
        "tox.ini:3",
    }
    pipelines = found["azure-pipelines.yml:4"]
    assert pipelines["checks"]["401 risk"].startswith("low: one organization")
    assert pipelines["fixes"] == [f"use {A_UUID}"]
    docker = found["Dockerfile:2"]
    assert docker["fixes"] == [f"use {A_UUID}"]
    assert found["build.dockerfile:1"]["checks"]["401 risk"] == "none (UUID form)"
    # The workflow's password is a secret reference; tox.ini holds a literal one.
    assert not any("password" in p for p in found[".github/workflows/ci.yml:4"]["problems"])
    assert any("leaks into" in p for p in found["tox.ini:3"]["problems"])
    assert found["tox.ini:3"]["fixes"] == [f"use https://***@{B_UUID[8:]}"]
    assert doc["exit_code"] == 1
    text = run_cli(["doctor", "--offline", "--map", str(MAP)], cwd=project).stdout
    assert "Dockerfile:2  CI file (read-only)" in text
    # rewrite leaves them alone, byte for byte.
    (project / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "a"\nurl = "{A_NAME}"\n')
    assert run_cli(["rewrite", "--map", str(MAP)], cwd=project).code == 0
    assert {name: (project / name).read_bytes() for name in before} == before


def test_a_ci_file_too_large_to_read_is_reported_as_skipped(home: Path) -> None:
    project = home / "project"
    padding = "# " + "x" * 1000 + "\n"
    (project / "Dockerfile").write_text(
        f"RUN pip install --index-url {A_NAME} a\n" + padding * 2200  # over 2 MiB
    )
    (ci,) = findings(doctor(project, "--map", str(MAP)), "ci-file")
    assert ci["source"] == "Dockerfile"
    assert ci["checks"] == {"read": "skipped: larger than 2 MiB"}
    text = run_cli(["doctor", "--offline", "--map", str(MAP)], cwd=project).stdout
    assert "Dockerfile  CI file (read-only)" in text and "skipped: larger than 2 MiB" in text


def test_ci_file_with_two_organizations_is_a_401_risk(home: Path) -> None:
    project = home / "project"
    (project / "azure-pipelines.yml").write_text(f"variables:\n  UV_INDEX: a={A_NAME} b={B_NAME}\n")
    (ci_a, ci_b) = findings(doctor(project, "--map", str(MAP)), "ci-file")
    assert ci_a["checks"]["401 risk"] == "high: 2 organizations on pkgs.dev.azure.com (orgA, orgB)"
    assert ci_a["problems"][0].startswith("401 risk")
    assert ci_b["fixes"] == [f"use {B_UUID}"]
    (project / "azure-pipelines.yml").write_text(f"variables:\n  UV_INDEX: a={A_UUID} b={B_UUID}\n")
    assert doctor(project, "--map", str(MAP))["result"]["problems"] == 0


def test_ci_files_in_subfolders_need_recursive_and_follow_the_walk_rules(home: Path) -> None:
    """A monorepo: the services' Dockerfiles and workflows are found with --recursive only;
    copies inside a virtual environment, node_modules or a hidden folder, and a link out of the
    tree, are not read; rewrite --recursive leaves every CI file byte for byte."""
    project = home / "project"
    service = project / "services" / "api"
    files = {
        "services/api/Dockerfile": f"FROM python:3.12\nRUN pip install --index-url {A_NAME} a\n",
        "services/api/.github/workflows/build.yml": f"env:\n  UV_INDEX: b={B_NAME}\n",
        "services/api/pipelines/deploy.yaml": f"variables:\n  PIP_INDEX_URL: {B_NAME}\n",
        ".venv/Dockerfile": f"RUN pip install --index-url {B_NAME} x\n",
        "node_modules/pkg/Dockerfile": f"RUN pip install --index-url {B_NAME} x\n",
        "services/env/pyvenv.cfg": "home = /usr/bin\n",
        "services/env/tox.ini": f"[testenv]\nsetenv = PIP_INDEX_URL={B_NAME}\n",
        ".cache/tox.ini": f"[testenv]\nsetenv = PIP_INDEX_URL={B_NAME}\n",
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    outside = home / "elsewhere"
    outside.mkdir()
    (outside / "Dockerfile").write_text(f"RUN pip install --index-url {B_NAME} x\n")
    (service / "Containerfile").symlink_to(outside / "Dockerfile")
    (service / "lib").symlink_to(outside, target_is_directory=True)
    (service / "pyproject.toml").write_text(
        f'[project]\nname = "api"\n\n[[tool.uv.index]]\nname = "a"\nurl = "{A_NAME}"\n'
    )
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file() and not p.is_symlink()}

    assert findings(doctor(project, "--map", str(MAP)), "ci-file") == []
    doc = doctor(project, "--map", str(MAP), "--recursive")
    found = {f["source"]: f for f in findings(doc, "ci-file")}
    assert list(found) == [
        "services/api/Dockerfile:2",
        "services/api/.github/workflows/build.yml:2",
        "services/api/pipelines/deploy.yaml:2",
        "services/api/Containerfile",  # not read, and said so: nothing passed over in silence
    ]
    skipped = found["services/api/Containerfile"]
    assert skipped["checks"]["read"].startswith("skipped: a symbolic link that points out of")
    assert skipped["subject"] == "(not read)" and skipped["problems"] == []
    assert found["services/api/Dockerfile:2"]["fixes"] == [f"use {A_UUID}"]
    # the two organizations of the project and its CI files share the host: a 401 risk
    risk = found["services/api/pipelines/deploy.yaml:2"]["checks"]["401 risk"]
    assert risk.startswith("high: 2 organizations")
    assert "CI file services/api/Dockerfile" in doc["result"]["sources_read"]
    # named from where doctor runs: a subfolder given as PATH keeps its prefix
    sub = doctor(project / "services", "--map", str(MAP), "--recursive", "api")
    assert [f["source"] for f in findings(sub, "ci-file")] == [
        "api/Dockerfile:2",
        "api/.github/workflows/build.yml:2",
        "api/pipelines/deploy.yaml:2",
        "api/Containerfile",
    ]

    result = run_cli(["rewrite", "--recursive", "--map", str(MAP)], cwd=project)
    assert result.code == 0, result.output
    after = {p: p.read_bytes() for p in before}
    changed = [p.relative_to(project).as_posix() for p in before if after[p] != before[p]]
    assert changed == ["services/api/pyproject.toml"]


# -- a working setup ----------------------------------------------------------------------------


def test_no_finding_fires_on_a_working_setup(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = home / "project"
    (project / "pyproject.toml").write_text(
        f'[[tool.uv.index]]\nname = "orga"\nurl = "{A_UUID}"\n'
        f'publish-url = "{A_UUID.replace("/simple/", "/upload/")}"\n\n'
        f'[[tool.uv.index]]\nname = "orgb"\nurl = "{B_UUID}"\n'
    )
    conf = home / ".config" / "uv" / "uv.toml"
    conf.parent.mkdir(parents=True)
    conf.write_text(uv_index("orga-user", A_UUID))
    for name in ("ORGA", "ORGB", "ORGA_USER"):
        monkeypatch.setenv(f"UV_INDEX_{name}_USERNAME", "u")
        monkeypatch.setenv(f"UV_INDEX_{name}_PASSWORD", "p")
    monkeypatch.setenv("UV_INDEX", f"orga={A_UUID}")
    monkeypatch.setenv(
        "ARTIFACTS_CREDENTIALPROVIDER_FEED_ENDPOINTS",
        json.dumps({"endpointCredentials": [{"endpoint": B_UUID, "password": CANARY}]}),
    )
    (home / ".netrc").write_text("machine example.org login me password x\n")
    (project / "Dockerfile").write_text(f"RUN uv pip install --index-url {A_UUID} alpha\n")
    doc = doctor(project, "--map", str(MAP))
    assert doc["result"]["problems"] == 0, json.dumps(doc["result"], indent=1)
    assert doc["exit_code"] == 0


# -- against the emulator: project scope, 403, the credential doctor sends -----------------------


def live_project(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "live"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "orga"\nurl = "{url}"\n')
    monkeypatch.setenv("UV_INDEX_ORGA_USERNAME", "any")
    monkeypatch.setenv("UV_INDEX_ORGA_PASSWORD", "pat-a")
    return project


def live_doctor(project: Path) -> dict[str, Any]:
    result = run_cli(["doctor", "--json"], cwd=project)
    assert "pat-a" not in result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_project_scoped_feed_without_its_project(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulator_client import sample_config

    emu = emulator_factory(sample_config())
    wrong = f"{emu.org_url('orgA')}/_packaging/feedx/pypi/simple/"
    project = live_project(tmp_path, wrong, monkeypatch)
    (index,) = live_doctor(project)["result"]["indexes"]
    assert index["problems"] == [
        "feed feedx belongs to project ProjectX, but the URL has no project segment: Azure "
        "answers 404, and azfeeds rewrite refuses the URL"
    ]
    assert index["fixes"] == [f"write the URL as {emu.index_url('orgA', 'feedx', 'ProjectX')}"]
    assert index["checks"]["probe"].startswith("HTTP 404")
    # The corrected URL: no problem at all.
    right = live_project(tmp_path / "ok", emu.index_url("orgA", "feedx", "ProjectX"), monkeypatch)
    (fine,) = live_doctor(right)["result"]["indexes"]
    assert fine["problems"] == [] and fine["checks"]["probe"].startswith("HTTP 200")


@pytest.mark.parametrize("pipeline", [False, True], ids=["laptop", "pipeline"])
def test_403_is_a_feed_permission_problem(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool
) -> None:
    from emulator_client import sample_config

    emu = emulator_factory(sample_config())
    project = live_project(tmp_path, emu.index_url("orgA", "feedx", "ProjectX"), monkeypatch)
    emu.set_faults("orgA", [{"kind": "403", "scope": "pypi", "times": None}])
    if pipeline:
        monkeypatch.setenv("TF_BUILD", "True")
        monkeypatch.setenv("SYSTEM_TEAMPROJECT", "ProjectX")
    (index,) = live_doctor(project)["result"]["indexes"]
    assert index["checks"]["probe"].startswith("HTTP 403")
    (problem,) = index["problems"]
    assert "no read permission on feed ProjectX/feedx in orgA (not an expired PAT)" in problem
    fixes = " ".join(index["fixes"])
    assert "expired" not in fixes
    if pipeline:
        assert "'ProjectX Build Service (orgA)' (the pipeline's build identity) as Feed Reader" in (
            fixes
        )
    else:
        assert "Feed Reader role on ProjectX/feedx" in fixes


def test_a_password_in_an_url_is_a_leak_risk_named_with_the_clients_variables(home: Path) -> None:
    secret_a = A_NAME.replace("https://", f"https://me:{CANARY}@")
    (home / "project" / "pyproject.toml").write_text(
        f'[[tool.uv.index]]\nname = "orga"\nurl = "{secret_a}"\n\n'
        f'[[tool.poetry.source]]\nname = "feed-b"\nurl = "{secret_a}"\n'
    )
    uv_side, poetry_side = doctor(home / "project")["result"]["indexes"]
    said = (
        "the URL carries a password: it leaks into version control, CI logs and error messages; "
        "keep it in "
    )
    assert uv_side["problems"][-1].startswith(said)
    assert "UV_INDEX_ORGA_PASSWORD" in uv_side["problems"][-1]
    assert poetry_side["problems"][-1].startswith(said)
    assert "POETRY_HTTP_BASIC_FEED_B_PASSWORD" in poetry_side["problems"][-1]
    assert not any("fails" in p for p in uv_side["problems"] + poetry_side["problems"])


# -- rewrite --user / --system ------------------------------------------------------------------


def test_rewrite_user_fixes_the_user_config_only(home: Path) -> None:
    project = home / "project"
    (project / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "p"\nurl = "{A_NAME}"\n')
    project_before = (project / "pyproject.toml").read_bytes()
    uv_user = home / ".config" / "uv" / "uv.toml"
    uv_user.parent.mkdir(parents=True)
    uv_user.write_text(uv_index("orga", A_NAME) + uv_index("orgb", B_NAME))
    pip_user = home / ".pip" / "pip.conf"
    pip_user.parent.mkdir(parents=True)
    pip_user.write_text(f"[global]\nindex-url = {B_NAME}\n")
    result = run_cli(["rewrite", "--user", "--map", str(MAP)], cwd=project)
    assert result.code == 0, result.output
    assert (project / "pyproject.toml").read_bytes() == project_before
    assert A_UUID in uv_user.read_text() and B_UUID in uv_user.read_text()
    assert B_UUID in pip_user.read_text()
    assert "fails 'uv sync --locked' until you run 'azfeeds rewrite' there too" in result.stderr
    assert run_cli(["rewrite", "--user", "--check", "--map", str(MAP)], cwd=project).code == 0
    # Only the project's own index is left in name form.
    doc = doctor(project)
    risky = [i["source"] for i in doc["result"]["indexes"] if i["form"] == "name"]
    assert risky == ["project"]


def test_rewrite_user_is_all_or_nothing(home: Path) -> None:
    uv_user = home / ".config" / "uv" / "uv.toml"
    uv_user.parent.mkdir(parents=True)
    uv_user.write_text(uv_index("orga", A_NAME))
    pip_user = home / ".config" / "pip" / "pip.conf"
    pip_user.parent.mkdir(parents=True)
    pip_user.write_text(f"index-url = {B_NAME}\n")  # a key before any [section]
    before = uv_user.read_bytes(), pip_user.read_bytes()
    result = run_cli(["rewrite", "--user", "--map", str(MAP)], cwd=home / "project")
    assert result.code == 6, result.output
    assert "pip.conf" in result.stderr and "Traceback" not in result.output
    assert (uv_user.read_bytes(), pip_user.read_bytes()) == before


def test_rewrite_system_and_the_usage_errors(home: Path, tmp_path: Path) -> None:
    system = tmp_path / "etc-xdg" / "uv" / "uv.toml"
    system.parent.mkdir(parents=True)
    system.write_text(uv_index("orga", A_NAME))
    uv_user = home / ".config" / "uv" / "uv.toml"
    uv_user.parent.mkdir(parents=True)
    uv_user.write_text(uv_index("orgb", B_NAME))
    assert run_cli(["rewrite", "--system", "--map", str(MAP)], cwd=home / "project").code == 0
    assert A_UUID in system.read_text() and B_NAME in uv_user.read_text()
    mixed = run_cli(["rewrite", "--user", "pyproject.toml"], cwd=home / "project")
    assert mixed.code == 2 and "not a PATH" in mixed.stderr
    uv_user.unlink()
    none = run_cli(["rewrite", "--user", "--map", str(MAP)], cwd=home / "project")
    assert none.code == 0 and "no user-level uv, pip or PDM config file found" in none.stderr


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="POSIX FIFOs")
def test_hostile_outside_files_are_passed_over(home: Path, tmp_path: Path) -> None:
    import os

    project = home / "project"
    os.mkfifo(project / "Dockerfile")  # opening it would block
    outside = tmp_path / "secret.txt"
    outside.write_text(f"PIP_INDEX_URL={A_NAME}\n")
    (project / "tox.ini").symlink_to(outside)  # leads out of the project
    os.mkfifo(home / ".netrc")
    (home / ".pypirc").write_bytes(b"[x]\nrepository = " + b"a" * (2 * 1024 * 1024))
    doc = doctor(project)
    # neither is opened; each is named, with why it was not read
    assert doc["exit_code"] == 0
    assert {f["source"]: f["checks"]["read"] for f in doc["result"]["findings"]} == {
        "Dockerfile": "skipped: not a regular file",
        "tox.ini": "skipped: a symbolic link that points out of the tree (azfeeds reads no file "
        "outside it)",
    }


def test_netrc_tokens_and_the_underscore_name(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from azfeeds.outside import netrc_machines, netrc_path

    text = "machine a.example login x password y\n# machine b.example\ndefault login d\n"
    assert netrc_machines(text) == [("a.example", 1, True), ("*", 3, True)]
    assert netrc_machines("machine c password p macdef m\nmachine fake\n\nmachine d\n") == [
        ("c", 1, False),
        ("d", 4, False),
    ]
    monkeypatch.delenv("NETRC")
    (home / "_netrc").write_text("machine pkgs.dev.azure.com login a password b\n")
    assert netrc_path({"HOME": str(home)}) == home / "_netrc"
    (home / ".netrc").write_text("")
    assert netrc_path({"HOME": str(home)}) == home / ".netrc"


def test_ci_scan_names_and_placeholders(tmp_path: Path) -> None:
    from azfeeds.ciscan import scan_file

    path = tmp_path / "azure-pipelines.yml"
    path.write_text(
        f"UV_INDEX: a={A_NAME} b=https://u:$(PAT)@{B_NAME[8:]}\n"
        f"- run: pip install --extra-index-url=https://u:{CANARY}@{A_NAME[8:]}, x\n"
    )
    found = scan_file(path)
    assert [(c.line, c.index_name, c.password_placeholder) for c in found] == [
        (1, "a", False),
        (1, "b", True),
        (2, None, False),
    ]
    assert str(found[2].url.without_userinfo()) == A_NAME


def test_rewrite_user_takes_pdm_config_and_a_file_named_by_uv_config_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PDM_CONFIG_FILE", raising=False)  # PDM's own default location
    pdm = home / ".config" / "pdm" / "config.toml"
    pdm.parent.mkdir(parents=True)
    pdm.write_text(f'[pypi.orgb]\nurl = "{B_NAME}"\nverify_ssl = true\n')
    named = tmp_path / "ci-uv.toml"  # not a name azfeeds would recognise by itself
    named.write_text(uv_index("orga", A_NAME))
    monkeypatch.setenv("UV_CONFIG_FILE", str(named))
    doc = doctor(home / "project")
    assert {i["source"] for i in doc["result"]["indexes"]} == {
        "pdm user config (~/.config/pdm/config.toml)",
        f"uv config from UV_CONFIG_FILE ({named})",
    }
    result = run_cli(["rewrite", "--user", "--map", str(MAP)], cwd=home / "project")
    assert result.code == 0, result.output
    assert pdm.read_text().startswith(f'[pypi.orgb]\nurl = "{B_UUID}"')
    assert "verify_ssl = true" in pdm.read_text()
    assert A_UUID in named.read_text()
    again = run_cli(["rewrite", "--user", "--check", "--map", str(MAP)], cwd=home / "project")
    assert again.code == 0, again.output
