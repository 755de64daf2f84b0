"""Each package client's own credential feeds ``--auth auto`` step 2 (DESIGN.md section 6).

The unit half checks where each client keeps its credential and how it expands placeholders.
The live half runs azfeeds against the emulator (a real server process on 127.0.0.1), with two
organizations on one host, each accepting only its own canary PAT: the emulator's request log
then says, for every request, which organization was asked and whether it accepted the
credential. A credential sent to the wrong organization would show as a rejected one.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, own_pats_config
from helpers import run_cli

from azfeeds.clientcreds import (
    ConfigFiles,
    IndexRef,
    client_variables,
    is_governed,
    own_credential,
    pdm_global_config,
    poetry_auth_file,
    poetry_env_name,
)

PAT_A = "canary-own-a-" + secrets.token_hex(6)
PAT_B = "canary-own-b-" + secrets.token_hex(6)
CANARIES = (PAT_A, PAT_B)


# -- unit: where each client keeps its credential -----------------------------------------------


def ref(client: str, url: str, name: str | None = None, directory: str = ".") -> IndexRef:
    expands = client in ("pdm",) or (client == "pip" and directory != "pip.conf")
    return IndexRef(client, name, url, "f:1", directory, expands)


URL = "https://pkgs.dev.azure.com/orgA/_packaging/f/pypi/simple/"


def with_userinfo(userinfo: str) -> str:
    return URL.replace("https://", f"https://{userinfo}@")


def test_poetry_names_its_variables_as_poetry_does() -> None:
    assert poetry_env_name("my-feed") == "MY_FEED"
    assert poetry_env_name("my_feed") == "MY_FEED"
    assert poetry_env_name("my.feed") == "MY.FEED"  # Poetry maps only '-'
    assert client_variables(ref("poetry", URL, "orga-feed")) == (
        "POETRY_HTTP_BASIC_ORGA_FEED_USERNAME",
        "POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD",
    )
    assert client_variables(ref("uv", URL, "orga.feed")) == (
        "UV_INDEX_ORGA_FEED_USERNAME",
        "UV_INDEX_ORGA_FEED_PASSWORD",
    )


@pytest.mark.parametrize(
    ("platform", "env", "poetry", "pdm"),
    [
        (
            "linux",
            {"HOME": "/h"},
            "/h/.config/pypoetry/auth.toml",
            "/h/.config/pdm/config.toml",
        ),
        (
            "linux",
            {"HOME": "/h", "XDG_CONFIG_HOME": "/x"},
            "/x/pypoetry/auth.toml",
            "/x/pdm/config.toml",
        ),
        (
            "darwin",
            {"HOME": "/h"},
            "/h/Library/Application Support/pypoetry/auth.toml",
            "/h/Library/Application Support/pdm/config.toml",
        ),
        (
            "win32",
            {"USERPROFILE": "/u", "APPDATA": "/a", "LOCALAPPDATA": "/l"},
            "/a/pypoetry/auth.toml",
            "/l/pdm/pdm/config.toml",
        ),
        (
            "linux",
            {"HOME": "/h", "POETRY_CONFIG_DIR": "/pc", "PDM_CONFIG_FILE": "/pd.toml"},
            "/pc/auth.toml",
            "/pd.toml",
        ),
    ],
)
def test_config_file_locations_per_platform(
    platform: str, env: dict[str, str], poetry: str, pdm: str
) -> None:
    assert poetry_auth_file(env, platform).as_posix() == poetry
    assert pdm_global_config(env, platform).as_posix() == pdm


def lookup(r: IndexRef, env: dict[str, str]) -> tuple[str | None, str | None, list[str]]:
    files = ConfigFiles(env)
    out = own_credential(r, env, files)
    found = out.found
    return (
        found.source if found else None,
        found.password if found else None,
        [*out.warnings, *out.notes, *files.warnings],
    )


def test_poetry_env_then_auth_toml(tmp_path: Path) -> None:
    env = {"POETRY_CONFIG_DIR": str(tmp_path)}
    (tmp_path / "auth.toml").write_text(
        f'[http-basic.orga-feed]\nusername = "u"\npassword = "{PAT_A}"\n'
        '[http-basic."other"]\npassword = "x"\n'
    )
    r = ref("poetry", URL, "orga-feed")
    assert lookup(r, env) == (f"http-basic.orga-feed in {tmp_path / 'auth.toml'}", PAT_A, [])
    env["POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD"] = PAT_B
    assert lookup(r, env) == ("POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD", PAT_B, [])
    # Poetry expands no placeholder: a ${VAR} in its URL is sent as written, so it is no credential
    placeholder = ref("poetry", with_userinfo("u:${ORGA_PAT}"), "x")
    source, password, notes = lookup(placeholder, {"ORGA_PAT": PAT_A})
    assert (source, password) == (None, None)
    assert "Poetry does not expand ${ORGA_PAT} here" in notes[0]


def test_a_broken_auth_toml_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "auth.toml").write_text("[http-basic.orga\n")
    source, _, notes = lookup(ref("poetry", URL, "orga"), {"POETRY_CONFIG_DIR": str(tmp_path)})
    assert source is None and "auth.toml:1: not valid TOML" in notes[0]


def test_pdm_expands_its_source_url_and_reads_pdm_toml_then_global(tmp_path: Path) -> None:
    env = {"PDM_CONFIG_FILE": str(tmp_path / "global.toml"), "ORGA_PAT": PAT_A}
    r = ref("pdm", with_userinfo("${ORGA_USER}:${ORGA_PAT}"), "orga", str(tmp_path))
    assert lookup(r, env) == ("${ORGA_PAT} in the URL at f:1", PAT_A, [])
    # [pypi.<name>] with a username wins over the URL: project pdm.toml, then the global file
    (tmp_path / "global.toml").write_text(f'[pypi.orga]\nusername = "u"\npassword = "{PAT_B}"\n')
    assert lookup(r, env) == (f"pypi.orga.password in {tmp_path / 'global.toml'}", PAT_B, [])
    (tmp_path / "pdm.toml").write_text('[pypi.orga]\nusername = "u"\npassword = "local"\n')
    assert lookup(r, env) == (f"pypi.orga.password in {tmp_path / 'pdm.toml'}", "local", [])
    # PDM does not expand the password field
    (tmp_path / "pdm.toml").write_text('[pypi.orga]\nusername = "u"\npassword = "${ORGA_PAT}"\n')
    source, _, notes = lookup(r, env)
    assert source is None and "does not expand" in notes[0]


def test_pdm_quotes_and_decodes_like_pdm() -> None:
    value = "a:b@c/d%"
    r = ref("pdm", with_userinfo("u:${ORGA_PAT}"), "orga")
    assert lookup(r, {"ORGA_PAT": value})[1] == value
    assert lookup(r, {})[1] is None  # unset: PDM sends an empty password


def test_pip_expands_requirements_urls_only() -> None:
    url = with_userinfo("x:${PAT_A}")
    assert lookup(ref("pip", url), {"PAT_A": PAT_A})[:2] == ("${PAT_A} in the URL at f:1", PAT_A)
    # unset: pip sends the text as written
    source, _, notes = lookup(ref("pip", url), {})
    assert source is None and "${PAT_A} is not set" in notes[0]
    # pip.conf: no expansion at all
    conf = IndexRef("pip", None, url, "pip.conf:2", ".", False)
    source, _, notes = lookup(conf, {"PAT_A": PAT_A})
    assert source is None and "pip does not expand ${PAT_A} here" in notes[0]
    # pip expands only upper-case names: ${pat} is sent as written
    assert lookup(ref("pip", with_userinfo("x:${pat}")), {"pat": PAT_A})[1] is None


def test_a_password_written_in_the_url_is_its_own_credential() -> None:
    for client in ("uv", "poetry", "pdm", "pip"):
        r = ref(client, with_userinfo("user:se%2Fcret"), "n")
        assert lookup(r, {})[:2] == ("the password written in the URL at f:1", "se/cret")
    # a user name alone is a keyring hint, no credential
    assert lookup(ref("pip", with_userinfo("VssSessionToken")), {})[1] is None


@pytest.mark.parametrize(
    "variable",
    [
        "AZFEEDS_PAT",
        "AZURE_DEVOPS_EXT_PAT",
        "SYSTEM_ACCESSTOKEN",
        "AZURE_CLIENT_SECRET",
        "GITHUB_TOKEN",
        "CI_JOB_TOKEN",
    ],
)
@pytest.mark.parametrize("client", ["pip", "pdm"])
def test_governed_variables_are_never_expanded(variable: str, client: str) -> None:
    assert is_governed(variable)
    r = ref(client, with_userinfo(f"x:${{{variable}}}"), "n")
    source, password, warnings = lookup(r, {variable: PAT_A})
    assert (source, password) == (None, None)
    assert f"${{{variable}}} is not expanded" in warnings[0]
    assert PAT_A not in " ".join(warnings)


# -- live: against the emulator ---------------------------------------------------------------


def config() -> dict[str, Any]:
    return own_pats_config(PAT_A, PAT_B)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator.start(config(), tmp_path_factory.mktemp("emulator")) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emu.clear_log()
    monkeypatch.setenv("AZFEEDS_RATE_LIMIT_WAIT", "5")


def feed_urls(emu: Emulator, userinfo_a: str = "", userinfo_b: str = "") -> tuple[str, str]:
    a = emu.index_url("orgA", "feedx", "ProjectX")
    b = emu.index_url("orgB", "feedy", "Project Y")
    if userinfo_a:
        a = a.replace("http://", f"http://{userinfo_a}@")
    if userinfo_b:
        b = b.replace("http://", f"http://{userinfo_b}@")
    return a, b


def requests_by_org(emu: Emulator) -> dict[str, list[tuple[str | None, int]]]:
    """(credential, status) of every request, by organization."""
    out: dict[str, list[tuple[str | None, int]]] = {}
    for row in emu.log():
        if row["route"] != "control":
            out.setdefault(row["org"], []).append((row["credential"], row["status"]))
    return out


def assert_each_org_got_only_its_own(emu: Emulator) -> None:
    seen = requests_by_org(emu)
    assert set(seen) == {"orgA", "orgB"}, seen
    for org, rows in seen.items():
        # the emulator accepts only the organization's own PAT: any other credential is a 401
        assert all(cred == "pat:0" and status == 200 for cred, status in rows), (org, rows)


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text


def poetry_project(root: Path, emu: Emulator) -> Path:
    a, b = feed_urls(emu)
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "demo"\nversion = "0.1.0"\n\n'
        f'[[tool.poetry.source]]\nname = "orga-feed"\nurl = "{a}"\npriority = "explicit"\n\n'
        f'[[tool.poetry.source]]\nname = "orgb"\nurl = "{b}"\npriority = "explicit"\n'
    )
    return root


def test_poetry_credentials_alone_run_map_rewrite_and_doctor(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = poetry_project(tmp_path / "p", emu)
    # orgA from Poetry's environment variable, orgB from Poetry's auth.toml
    monkeypatch.setenv("POETRY_HTTP_BASIC_ORGA_FEED_USERNAME", "u")
    monkeypatch.setenv("POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD", PAT_A)
    auth = Path(str(tmp_path / "poetry-config"))
    auth.mkdir()
    (auth / "auth.toml").write_text(f'[http-basic.orgb]\nusername = "u"\npassword = "{PAT_B}"\n')
    monkeypatch.setenv("POETRY_CONFIG_DIR", str(auth))
    # cloud-wide credentials are set too, and must not be what reaches this server
    monkeypatch.setenv("AZFEEDS_PAT", PAT_A)

    mapped = run_cli(["map", "--verbose"], cwd=project)
    assert mapped.code == 0, mapped.output
    assert_each_org_got_only_its_own(emu)
    assert "using POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD" in mapped.stderr
    assert f"using http-basic.orgb in {auth / 'auth.toml'}" in mapped.stderr

    emu.clear_log()
    rewritten = run_cli(["rewrite"], cwd=project)
    assert rewritten.code == 0, rewritten.output
    assert_each_org_got_only_its_own(emu)
    assert "UV_INDEX" not in rewritten.output

    emu.clear_log()
    doc = run_cli(["doctor", "--json"], cwd=project)
    assert doc.code == 0, doc.output
    indexes = json.loads(doc.stdout)["result"]["indexes"]
    assert [i["checks"]["probe"].split(" in ")[0] for i in indexes] == ["HTTP 200", "HTTP 200"]
    assert indexes[0]["checks"]["credential"] == "Poetry sends POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD"
    assert_each_org_got_only_its_own(emu)
    assert_no_canary(mapped.output, rewritten.output, doc.output)


def test_doctor_says_pip_poetry_and_pdm_have_no_401_risk_in_name_form(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = poetry_project(tmp_path / "p", emu)
    monkeypatch.setenv("POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD", PAT_A)
    monkeypatch.setenv("POETRY_HTTP_BASIC_ORGB_PASSWORD", PAT_B)
    result = run_cli(["doctor"], cwd=project)
    assert result.code == 0, result.output
    assert "no 401 risk for Poetry in name form" in result.stdout
    assert "longest" not in result.stdout or "shares the most leading segments" in result.stdout
    # each key once (it used to print 'tool.poetry.source[0].url tool.poetry.source[0].url')
    for line in result.stdout.splitlines():
        words = line.split()
        assert len(words) < 2 or words[-1] != words[-2], line


def test_pdm_url_placeholders_and_pdm_toml(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = feed_urls(emu, userinfo_a="${ORGA_USER}:${ORGA_PAT}")
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\n\n'
        f'[[tool.pdm.source]]\nname = "orga"\nurl = "{a}"\n\n'
        f'[[tool.pdm.source]]\nname = "orgb"\nurl = "{b}"\n'
    )
    (project / "pdm.toml").write_text(f'[pypi.orgb]\nusername = "u"\npassword = "{PAT_B}"\n')
    monkeypatch.setenv("ORGA_USER", "u")
    monkeypatch.setenv("ORGA_PAT", PAT_A)
    mapped = run_cli(["map"], cwd=project)
    assert mapped.code == 0, mapped.output
    assert_each_org_got_only_its_own(emu)
    emu.clear_log()
    doc = run_cli(["doctor", "--json"], cwd=project)
    assert doc.code == 0, doc.output
    assert_each_org_got_only_its_own(emu)  # the probe sent the expanded value, not '${ORGA_PAT}'
    rewritten = run_cli(["rewrite"], cwd=project)
    assert rewritten.code == 0, rewritten.output
    assert "carries credentials" not in rewritten.output and "netrc" not in rewritten.output
    assert "${ORGA_USER}:${ORGA_PAT}@" in (project / "pyproject.toml").read_text()
    assert_no_canary(mapped.output, doc.output, rewritten.output)


def test_pdm_global_config(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = feed_urls(emu)
    project = tmp_path / "p"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        f'[[tool.pdm.source]]\nname = "orga"\nurl = "{a}"\n\n'
        f'[[tool.pdm.source]]\nname = "orgb"\nurl = "{b}"\n'
    )
    config_file = tmp_path / "pdm-global.toml"
    config_file.write_text(
        f'[pypi.orga]\nusername = "u"\npassword = "{PAT_A}"\n\n'
        f'[pypi.orgb]\nusername = "u"\npassword = "{PAT_B}"\n'
    )
    monkeypatch.setenv("PDM_CONFIG_FILE", str(config_file))
    mapped = run_cli(["map"], cwd=project)
    assert mapped.code == 0, mapped.output
    assert_each_org_got_only_its_own(emu)


def requirements_project(root: Path, emu: Emulator, userinfo_a: str, userinfo_b: str) -> Path:
    a, b = feed_urls(emu, userinfo_a, userinfo_b)
    root.mkdir(parents=True, exist_ok=True)
    (root / "requirements.txt").write_text(
        f"--index-url {a}\n--extra-index-url {b}\nalpha\ndelta\n"
    )
    return root


def test_pip_requirements_placeholders(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = requirements_project(tmp_path / "p", emu, "x:${PAT_A}", "x:${PAT_B}")
    monkeypatch.setenv("PAT_A", PAT_A)
    monkeypatch.setenv("PAT_B", PAT_B)
    rewritten = run_cli(["rewrite"], cwd=project)
    assert rewritten.code == 0, rewritten.output
    assert_each_org_got_only_its_own(emu)
    assert "carries credentials" not in rewritten.output and "netrc" not in rewritten.output
    text = (project / "requirements.txt").read_text()
    assert "x:${PAT_A}@" in text and "x:${PAT_B}@" in text
    assert_no_canary(rewritten.output, text)


def test_pip_conf_placeholders_are_not_expanded(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = feed_urls(emu, "x:${PAT_A}")
    (tmp_path / "pip.conf").write_text(f"[global]\nindex-url = {a}\n")
    monkeypatch.setenv("PAT_A", PAT_A)
    result = run_cli(["map"], cwd=tmp_path)
    assert result.code == 3, result.output
    assert "pip.conf cannot hold a variable" in result.stderr
    assert "UV_INDEX" not in result.stderr
    assert all(cred is None for cred, _ in requests_by_org(emu)["orgA"])


def test_doctor_on_a_pip_conf_index_without_a_credential_points_at_what_pip_can_use(
    emu: Emulator, tmp_path: Path
) -> None:
    """pip.conf cannot expand a variable: the 401 is "no credential", and the fix names pip's
    keyring or a requirements file, not a variable pip.conf would send as written."""
    a, _ = feed_urls(emu)
    (tmp_path / "pip.conf").write_text(f"[global]\nindex-url = {a}\n")
    result = run_cli(["doctor"], cwd=tmp_path)
    assert "HTTP 401 to no credential" in result.stdout, result.output
    assert "pip.conf cannot hold a variable" in result.stdout
    assert "is missing or rejected" not in result.stdout


def test_a_placeholder_never_expands_into_a_governed_variable(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull request points an index at a server and asks for the pipeline's token."""
    project = requirements_project(
        tmp_path / "p", emu, "x:${SYSTEM_ACCESSTOKEN}", "x:${AZFEEDS_PAT}"
    )
    monkeypatch.setenv("TF_BUILD", "True")
    monkeypatch.setenv("SYSTEM_ACCESSTOKEN", PAT_A)  # valid for orgA: a leak would be accepted
    monkeypatch.setenv("AZFEEDS_PAT", PAT_B)
    monkeypatch.setenv("AZURE_DEVOPS_EXT_PAT", PAT_B)
    result = run_cli(["map"], cwd=project)
    assert result.code == 3, result.output
    assert "${SYSTEM_ACCESSTOKEN} is not expanded" in result.stderr
    for rows in requests_by_org(emu).values():
        assert all(cred is None for cred, _ in rows), rows
    doctor = run_cli(["doctor", "--json"], cwd=project)
    for rows in requests_by_org(emu).values():
        assert all(cred is None for cred, _ in rows), rows
    assert "is not expanded" in doctor.stdout
    assert_no_canary(result.output, doctor.output)


def test_no_credential_hint_names_the_client_in_use(emu: Emulator, tmp_path: Path) -> None:
    project = poetry_project(tmp_path / "p", emu)
    result = run_cli(["map"], cwd=project)
    assert result.code == 3
    assert "POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD" in result.stderr
    assert "UV_INDEX" not in result.stderr


def test_doctor_strip_advice_names_the_client_variables(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(f"--index-url {with_userinfo('x:s3cret')}\n")
    (tmp_path / "pyproject.toml").write_text(
        f'[[tool.poetry.source]]\nname = "my-feed"\nurl = "{with_userinfo("u:s3cret")}"\n'
    )
    doc = json.loads(run_cli(["doctor", "--offline", "--json"], cwd=tmp_path).stdout)
    fixes = {i["key"]: i["fixes"] for i in doc["result"]["indexes"]}
    assert fixes["tool.poetry.source[0].url"] == [
        "azfeeds rewrite --strip-credentials pyproject.toml; then set "
        "POETRY_HTTP_BASIC_MY_FEED_PASSWORD (or 'poetry config http-basic.my-feed USER PAT')"
    ]
    assert "a ${PAT} variable in the URL's userinfo" in fixes["--index-url"][0]
    assert "netrc" not in json.dumps(doc) and "s3cret" not in json.dumps(doc)


@pytest.mark.parametrize(
    ("name", "text", "variable"),
    [
        (
            "pyproject.toml",
            '[[tool.poetry.source]]\nname = "my-feed"\nurl = "{url}"\n',
            "POETRY_HTTP_BASIC_MY_FEED_PASSWORD",
        ),
        (
            "pyproject.toml",
            '[[tool.pdm.source]]\nname = "orga"\nurl = "{url}"\n',
            "'pdm config pypi.orga.password PAT'",
        ),
        ("requirements.txt", "--index-url {url}\n", "a ${PAT} variable in the URL's userinfo"),
        (
            "pip.conf",
            "[global]\nindex-url = {url}\n",
            "a keyring credential for pip (pip.conf cannot hold a variable",
        ),
    ],
)
def test_rewrite_warning_names_the_client_variables_never_netrc(
    tmp_path: Path, name: str, text: str, variable: str
) -> None:
    (tmp_path / name).write_text(text.format(url=with_userinfo("u:s3cret")))
    result = run_cli(["rewrite", "--check", "--offline"], cwd=tmp_path)
    assert "carries credentials" in result.stderr and variable in result.stderr, result.stderr
    assert "netrc" not in result.output and "UV_INDEX" not in result.output
    assert "s3cret" not in result.output


def test_poetry_reads_poetry_toml_auth_toml_then_config_toml(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    env = {"POETRY_CONFIG_DIR": str(config)}
    r = ref("poetry", URL, "orga", str(tmp_path))
    (config / "config.toml").write_text('[http-basic.orga]\npassword = "from-config"\n')
    assert lookup(r, env)[1] == "from-config"
    (config / "auth.toml").write_text('[http-basic.orga]\npassword = "from-auth"\n')
    assert lookup(r, env)[1] == "from-auth"
    (tmp_path / "poetry.toml").write_text('[http-basic.orga]\npassword = "from-project"\n')
    assert lookup(r, env)[:2] == (f"http-basic.orga in {tmp_path / 'poetry.toml'}", "from-project")


def test_auth_pat_names_the_client_variables(emu: Emulator, tmp_path: Path) -> None:
    project = poetry_project(tmp_path / "p", emu)
    result = run_cli(["map", "--auth", "pat"], cwd=project)
    assert result.code == 3, result.output
    assert "POETRY_HTTP_BASIC_ORGA_FEED_PASSWORD" in result.stderr
    assert "UV_INDEX" not in result.stderr
