"""azfeeds doctor and azfeeds env, offline (the live doctor is in test_e2e)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import JSON_KEYS, run_cli

FIXTURES = Path(__file__).parent / "fixtures"
MAP = FIXTURES / "map.json"

TWO_ORGS = """\
[project]
name = "x"
version = "0.1.0"

[[tool.uv.index]]
name = "orga-feedx"
url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
explicit = true

[[tool.uv.index]]
name = "orgb"
url = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"
explicit = true
"""


@pytest.fixture
def two_orgs(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(TWO_ORGS)
    return tmp_path


def doctor(cwd: Path, *args: str) -> dict:  # type: ignore[type-arg]
    result = run_cli(["doctor", "--offline", "--json", *args], cwd=cwd)
    doc = json.loads(result.stdout)
    assert doc["exit_code"] == result.code
    return doc


def test_doctor_two_orgs_in_name_form_is_a_401_risk(
    two_orgs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ORGA_FEEDX", "ORGB"):
        monkeypatch.setenv(f"UV_INDEX_{name}_USERNAME", "u")
        monkeypatch.setenv(f"UV_INDEX_{name}_PASSWORD", f"canary-{name}")
    doc = doctor(two_orgs)
    assert (doc["exit_code"], doc["status"]) == (1, "problems")
    first = doc["result"]["indexes"][0]
    assert first["form"] == "name" and first["organization"] == "orgA"
    assert first["checks"]["host"] == "pkgs.dev.azure.com shared by 2 organizations (orgA, orgB)"
    assert (
        first["checks"]["variables"]
        == "UV_INDEX_ORGA_FEEDX_USERNAME set, UV_INDEX_ORGA_FEEDX_PASSWORD set"
    )
    assert any(p.startswith("401 risk") for p in first["problems"])
    assert first["fixes"] == ["azfeeds rewrite pyproject.toml"]
    assert "canary-" not in json.dumps(doc)
    assert run_cli(["rewrite", "--map", str(MAP)], cwd=two_orgs).code == 0
    after = doctor(two_orgs)
    assert after["exit_code"] == 0, after
    assert after["result"]["indexes"][0]["feed"] == "feedx"
    assert after["result"]["indexes"][0]["project"] == "ProjectX"


def test_doctor_one_org_is_only_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "uv.toml").write_text(
        '[[index]]\nname = "a"\nurl = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"\n'
    )
    monkeypatch.setenv("UV_INDEX_A_USERNAME", "u")
    monkeypatch.setenv("UV_INDEX_A_PASSWORD", "p")
    doc = doctor(tmp_path)
    assert doc["exit_code"] == 0
    assert "extra 401 round trip" in doc["result"]["indexes"][0]["notes"][0]


def test_doctor_missing_variables_and_credentials_in_url(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "a"\nurl = "https://u:canary-in-url@pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"\n'
    )
    result = run_cli(["doctor", "--offline"], cwd=tmp_path)
    assert result.code == 1
    assert "UV_INDEX_A_USERNAME and UV_INDEX_A_PASSWORD not set" in result.stdout
    assert "fix           azfeeds rewrite --strip-credentials pyproject.toml" in result.stdout
    assert "canary-in-url" not in result.output


def test_doctor_sees_a_lock_that_disagrees(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "rewrite" / "lock" / "before", tmp_path / "p")
    project = tmp_path / "p"
    assert run_cli(["rewrite", "--no-lock", "--map", str(MAP)], cwd=project).code == 0
    doc = doctor(project, "--map", str(MAP))
    index = doc["result"]["indexes"][0]
    assert index["checks"]["uv.lock"].startswith("disagrees")
    assert any("uv.lock names this index in another form" in p for p in index["problems"])
    assert run_cli(["rewrite", "--map", str(MAP)], cwd=project).code == 0
    assert (
        doctor(project, "--map", str(MAP))["result"]["indexes"][0]["checks"]["uv.lock"] == "agrees"
    )


def test_doctor_json_contract(two_orgs: Path) -> None:
    doc = doctor(two_orgs)
    assert set(doc) == JSON_KEYS
    assert set(doc["result"]) == {
        "indexes",
        "findings",
        "sources_read",
        "organizations",
        "problems",
        "files_scanned",
        "variables",
    }
    for org in doc["result"]["organizations"]:
        assert set(org) == {"name", "url", "api_version"}
    assert set(doc["result"]["indexes"][0]) == {
        "path",
        "line",
        "key",
        "index",
        "url",
        "organization",
        "project",
        "feed",
        "view",
        "form",
        "twin_of",
        "checks",
        "problems",
        "fixes",
        "notes",
        "source",
    }


SNIPPETS = {
    "sh": [
        "export UV_INDEX_ORGA_FEEDX_USERNAME=azfeeds",
        "export UV_INDEX_ORGB_PASSWORD='<PAT for orgB>'",
    ],
    "powershell": [
        '$env:UV_INDEX_ORGA_FEEDX_USERNAME = "azfeeds"',
        '$env:UV_INDEX_ORGB_PASSWORD = "<PAT for orgB>"',
    ],
    "github": ["env:", "  UV_INDEX_ORGB_PASSWORD: ${{ secrets.AZDO_ORGB_PAT }}"],
    "azure-pipelines": [
        "    UV_INDEX_ORGA_FEEDX_PASSWORD: $(System.AccessToken)",
        "    UV_INDEX_ORGB_PASSWORD: $(AZDO_ORGB_PAT)  # orgB: another organization, a secret variable",
    ],
    "dockerfile": [
        "RUN --mount=type=secret,id=azdo_orga_pat \\",
        '    UV_INDEX_ORGB_PASSWORD="$(cat /run/secrets/azdo_orgb_pat)" \\',
        "    uv sync --locked",
    ],
}


@pytest.mark.parametrize("shell", sorted(SNIPPETS))
def test_env_snippets(two_orgs: Path, shell: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_INDEX_ORGB_PASSWORD", "canary-value-never-printed")
    result = run_cli(["env", "--shell", shell], cwd=two_orgs)
    assert result.code == 0
    for line in SNIPPETS[shell]:
        assert line in result.stdout.splitlines(), (shell, result.stdout)
    assert "canary-value-never-printed" not in result.output


def test_env_twins_share_the_original_credential(two_orgs: Path) -> None:
    assert run_cli(["rewrite", "--mode", "add", "--map", str(MAP)], cwd=two_orgs).code == 0
    out = run_cli(["env"], cwd=two_orgs).stdout
    assert 'export UV_INDEX_ORGA_FEEDX_UUID_PASSWORD="$UV_INDEX_ORGA_FEEDX_PASSWORD"' in out
    doc = json.loads(run_cli(["env", "--json", "--shell", "github"], cwd=two_orgs).stdout)
    twin = next(v for v in doc["result"]["variables"] if v["index"] == "orgb-uuid")
    assert twin == {
        "index": "orgb-uuid",
        "organization": "orgB",
        "username_variable": "UV_INDEX_ORGB_UUID_USERNAME",
        "password_variable": "UV_INDEX_ORGB_UUID_PASSWORD",
        "secret": "AZDO_ORGB_PAT",
        "twin_of": "orgb",
        "client": "uv",
    }
    assert "UV_INDEX_ORGB_UUID_PASSWORD: ${{ secrets.AZDO_ORGB_PAT }}" in doc["result"]["snippet"]


def test_env_without_named_indexes(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "--index-url https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/\n"
    )
    result = run_cli(["env"], cwd=tmp_path)
    assert result.code == 0 and result.stdout == ""
    assert "no named Azure index and no ${VAR} in an Azure URL" in result.stderr


LOOK_ALIKES = [
    "pkgs.dev.azure.com.evil.example",
    "pkgs.dev-azure.com",
    "pkgs.dev.\u0430zure.com",  # a Cyrillic 'a'
]


@pytest.mark.parametrize("host", LOOK_ALIKES)
def test_look_alike_hosts_are_named_by_doctor_env_and_rewrite(tmp_path: Path, host: str) -> None:
    url = f"https://{host}/orgA/ProjectX/_packaging/feedx/pypi/simple/"
    (tmp_path / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "a"\nurl = "{url}"\n')
    shown = host.encode("idna").decode() if not host.isascii() else host
    said = f"the host {shown} imitates Azure DevOps (pkgs.dev.azure.com) but is not it"

    result = run_cli(["doctor", "--offline", "--json"], cwd=tmp_path)
    index = json.loads(result.stdout)["result"]["indexes"][0]
    assert any(said in problem for problem in index["problems"]), index
    env = run_cli(["env"], cwd=tmp_path)
    assert env.code == 0 and f"warning: pyproject.toml:3: {said}" in env.stderr

    # A map that knows the server: the rewrite works, and says so too.
    doc = json.loads(MAP.read_text())
    org = next(o for o in doc["organizations"] if o["name"] == "orgA")
    server = dict(org, url=f"https://{host}/orgA")
    (tmp_path / "map.json").write_text(json.dumps(dict(doc, organizations=[server])))
    rewrite = run_cli(["rewrite", "--map", str(tmp_path / "map.json")], cwd=tmp_path)
    assert said in rewrite.stderr, rewrite.stderr


@pytest.mark.parametrize(
    "host", ["tfs.corp.example", "azure-devops.corp.example", "devops.azure.internal"]
)
def test_ordinary_servers_are_not_look_alikes(tmp_path: Path, host: str) -> None:
    url = f"https://{host}/DefaultCollection/Tools/_packaging/onprem/pypi/simple/"
    (tmp_path / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "a"\nurl = "{url}"\n')
    result = run_cli(["doctor", "--offline"], cwd=tmp_path)
    assert "imitates" not in result.output


POETRY_PDM_PIP = {
    "pyproject.toml": """\
[tool.poetry]
name = "x"
version = "0.1.0"

[[tool.poetry.source]]
name = "orga-feed.x"
url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
""",
    "sub/pyproject.toml": """\
[[tool.pdm.source]]
name = "orgb"
url = "https://${ORGB_USER}:${ORGB_PAT}@pkgs.dev.azure.com/orgB/_packaging/feedy/pypi/simple/"
""",
    "requirements.txt": (
        "--extra-index-url https://x:${ORGA_PIP_PAT}@pkgs.dev.azure.com/orgA/_packaging/s/pypi/simple/\n"
    ),
    # pip.conf does not expand ${VAR}: nothing to set for it
    "pip.conf": "[global]\nindex-url = https://x:${NOT_EXPANDED}@pkgs.dev.azure.com/orgA/_packaging/s/pypi/simple/\n",
}

CLIENT_SNIPPETS = {
    "sh": [
        "export POETRY_HTTP_BASIC_ORGA_FEED.X_USERNAME=azfeeds",
        "export POETRY_HTTP_BASIC_ORGA_FEED.X_PASSWORD='<PAT for orgA>'",
        "export ORGB_USER=azfeeds",
        "export ORGB_PAT='<PAT for orgB>'",
        "export ORGA_PIP_PAT='<PAT for orgA>'",
    ],
    "powershell": [
        '$env:POETRY_HTTP_BASIC_ORGA_FEED.X_PASSWORD = "<PAT for orgA>"',
        '$env:ORGB_PAT = "<PAT for orgB>"',
        '$env:ORGA_PIP_PAT = "<PAT for orgA>"',
    ],
    "github": [
        "  POETRY_HTTP_BASIC_ORGA_FEED.X_PASSWORD: ${{ secrets.AZDO_ORGA_PAT }}",
        "  ORGB_PAT: ${{ secrets.AZDO_ORGB_PAT }}",
        "  ORGA_PIP_PAT: ${{ secrets.AZDO_ORGA_PAT }}",
    ],
    "azure-pipelines": [
        "- script: poetry install && pip install -r requirements.txt && pdm install",
        "    POETRY_HTTP_BASIC_ORGA_FEED.X_PASSWORD: $(System.AccessToken)",
        "    ORGB_PAT: $(AZDO_ORGB_PAT)  # orgB: another organization, a secret variable",
    ],
    "dockerfile": [
        '    POETRY_HTTP_BASIC_ORGA_FEED.X_PASSWORD="$(cat /run/secrets/azdo_orga_pat)" \\',
        '    ORGB_PAT="$(cat /run/secrets/azdo_orgb_pat)" \\',
        "    sh -c 'poetry install && pip install -r requirements.txt && pdm install'",
    ],
}


@pytest.mark.parametrize("shell", sorted(CLIENT_SNIPPETS))
def test_env_names_the_variables_of_poetry_pdm_and_pip(tmp_path: Path, shell: str) -> None:
    for name, text in POETRY_PDM_PIP.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    result = run_cli(["env", "--recursive", "--shell", shell], cwd=tmp_path)
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    for line in CLIENT_SNIPPETS[shell]:
        assert line in lines, (shell, result.stdout)
    assert "UV_INDEX" not in result.stdout and "NOT_EXPANDED" not in result.stdout
    doc = json.loads(run_cli(["env", "--recursive", "--json"], cwd=tmp_path).stdout)
    found = [
        (v["client"], v["username_variable"], v["password_variable"])
        for v in doc["result"]["variables"]
    ]
    assert found == [
        (
            "poetry",
            "POETRY_HTTP_BASIC_ORGA_FEED.X_USERNAME",
            "POETRY_HTTP_BASIC_ORGA_FEED.X_PASSWORD",
        ),
        ("pip", None, "ORGA_PIP_PAT"),
        ("pdm", "ORGB_USER", "ORGB_PAT"),
    ]
