"""azfeeds against the emulator as a real server process: the live half of DESIGN.md sections 5-8."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, own_pats_config
from helpers import Result, run_cli, run_proc

PAT_A = "canary-pat-a-" + secrets.token_hex(6)
PAT_B = "canary-pat-b-" + secrets.token_hex(6)
TOKEN_A = "canary-token-a-" + secrets.token_hex(6)
CANARIES = (PAT_A, PAT_B, TOKEN_A)


def config() -> dict[str, Any]:
    return own_pats_config(PAT_A, PAT_B, token_a=TOKEN_A)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator.start(config(), tmp_path_factory.mktemp("emulator")) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for org in ("orgA", "orgB"):
        emu.set_faults(org, [])
        emu.set_latency(org, 0)
    emu.clear_log()
    monkeypatch.setenv("AZFEEDS_RATE_LIMIT_WAIT", "5")


def write_project(root: Path, base: str, *, view: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    feedx = f"feedx@{view}" if view else "feedx"
    (root / "pyproject.toml").write_text(
        "[project]\n"
        'name = "demo"\n'
        'version = "0.1.0"\n'
        'dependencies = ["alpha", "delta"]\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orga"\n'
        f'url = "{base}/orgA/ProjectX/_packaging/{feedx}/pypi/simple/"\n'
        "explicit = true\n"
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orgb"\n'
        f'url = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
        "explicit = true\n"
        "\n"
        "[tool.uv.sources]\n"
        'alpha = { index = "orga" }\n'
        'delta = { index = "orgb" }\n'
    )
    return root


def with_pats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_INDEX_ORGA_USERNAME", "any")
    monkeypatch.setenv("UV_INDEX_ORGA_PASSWORD", PAT_A)
    monkeypatch.setenv("UV_INDEX_ORGB_USERNAME", "any")
    monkeypatch.setenv("UV_INDEX_ORGB_PASSWORD", PAT_B)


def assert_no_canary(*texts: str) -> None:
    for text in texts:
        for canary in CANARIES:
            assert canary not in text


def one_error(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("azfeeds: error: ")]
    hints = [line for line in lines if line.startswith("azfeeds: hint: ")]
    assert len(errors) == 1 and len(hints) <= 1 and len(lines) == len(errors) + len(hints), lines
    assert "Traceback" not in result.output
    return errors[0]


def feeds_requests(emu: Emulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in emu.log():
        if row["route"] == "feeds":
            counts[row["org"]] = counts.get(row["org"], 0) + 1
    return counts


# -- the main job, no flags ---------------------------------------------------------------------


def test_map_and_rewrite_with_two_orgs_and_two_pats_need_no_flags(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    project = write_project(tmp_path / "p", emu.root_url)
    with_pats(monkeypatch)
    mapped = run_cli(["map"], cwd=project)
    assert mapped.code == 0, mapped.stderr
    assert "feedx" in mapped.stdout and "feedy" in mapped.stdout and "Project Y" in mapped.stdout
    assert feeds_requests(emu) == {"orgA": 1, "orgB": 1}

    emu.clear_log()
    rewritten = run_cli(["rewrite"], cwd=project)
    assert rewritten.code == 0, rewritten.stderr
    text = (project / "pyproject.toml").read_text()
    feedx = emu.feed_info("orgA", "feedx")
    assert f"/orgA/{feedx['project_id']}/_packaging/{feedx['id']}/pypi/simple/" in text
    assert "# azfeeds: ProjectX/feedx" in text and "# azfeeds: Project%20Y/feedy" in text
    assert feeds_requests(emu) == {"orgA": 1, "orgB": 1}, "one feeds request per organization"
    assert [r for r in emu.log() if r["route"] == "views"] == [], "views only when a URL uses one"

    check = run_cli(["rewrite", "--check"], cwd=project)
    assert check.code == 0, check.output
    assert_no_canary(mapped.output, rewritten.output, check.output, caplog.text, text)
    assert_no_canary((emu.workdir / "emulator.log").read_text())


def test_views_are_fetched_only_for_feeds_that_use_one(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(tmp_path / "p", emu.root_url, view="Release")
    with_pats(monkeypatch)
    assert run_cli(["rewrite"], cwd=project).code == 0
    views = [r for r in emu.log() if r["route"] == "views"]
    assert len(views) == 1 and views[0]["org"] == "orgA"
    release = next(v for v in emu.feed_info("orgA", "feedx")["views"] if v["name"] == "Release")
    assert f"@{release['id']}/pypi/simple/" in (project / "pyproject.toml").read_text()


def test_map_output_and_json(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    with_pats(monkeypatch)
    out = run_cli(["map", "--output", "feeds.json", "--views"], cwd=project)
    assert out.code == 0, out.stderr
    saved = json.loads((project / "feeds.json").read_text())
    printed = json.loads(run_cli(["map", "--json", "--views"], cwd=project).stdout)
    assert saved == printed
    assert saved["schema_version"] == 1
    org_a = next(o for o in saved["organizations"] if o["name"] == "orgA")
    assert {v["name"] for v in org_a["feeds"][0]["views"]} == {"Local", "Prerelease", "Release"}
    # the saved map then resolves offline, with no request at all
    emu.clear_log()
    offline = run_cli(["rewrite", "--map", "feeds.json"], cwd=project)
    assert offline.code == 0, offline.stderr
    assert emu.log() == []


def test_map_with_org_option_and_missing_feed_warning(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pat = tmp_path / "pat.txt"
    pat.write_text(PAT_B + "\n")
    result = run_cli(["map", "--org", f"{emu.root_url}/orgB", "--pat-file", str(pat)], cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "feedy" in result.stdout and "feedx" not in result.stdout
    project = tmp_path / "p"
    project.mkdir()
    (project / "requirements.txt").write_text(
        f"--index-url {emu.root_url}/orgB/Project%20Y/_packaging/nosuchfeed/pypi/simple/\n"
    )
    with_pats(monkeypatch)
    monkeypatch.setenv("UV_INDEX_ORGB_PASSWORD", PAT_B)
    warned = run_cli(
        ["map", "--pat-file", str(pat), "--org", f"{emu.root_url}/orgB", "."], cwd=project
    )
    assert warned.code == 0, warned.stderr
    assert (
        "feed 'nosuchfeed' of organization 'orgB': not found, or this credential cannot read it "
        "(credential from --pat-file)" in warned.stderr
    )
    assert_no_canary(result.output, warned.output)


# -- faults -----------------------------------------------------------------------------------

FATAL = [
    pytest.param({"kind": "500"}, 4, "HTTP 500", id="500"),
    pytest.param({"kind": "503"}, 4, "HTTP 503", id="503"),
    pytest.param({"kind": "429", "retry_after": 120}, 4, "rate limited", id="429"),
    pytest.param({"kind": "truncated"}, 4, "invalid JSON", id="truncated"),
    pytest.param({"kind": "nonjson"}, 4, "instead of JSON", id="nonjson"),
    pytest.param({"kind": "drop"}, 4, "orgB", id="drop"),
    pytest.param({"kind": "401"}, 3, "HTTP 401", id="401"),
    pytest.param({"kind": "203"}, 3, "sign-in page", id="203"),
    pytest.param({"kind": "403"}, 3, "HTTP 403", id="403"),
]
COMMANDS = [["map"], ["rewrite"], ["rewrite", "--check"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
@pytest.mark.parametrize(("fault", "code", "text"), FATAL)
def test_fault_gives_its_exit_code_and_leaves_files_untouched(
    emu: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    fault: dict[str, Any],
    code: int,
    text: str,
) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    before = (project / "pyproject.toml").read_bytes()
    with_pats(monkeypatch)
    emu.set_faults("orgB", [{**fault, "times": None}])
    result = run_cli(command, cwd=project)
    assert result.code == code, result.output
    line = one_error(result)
    assert "collection 'orgB'" in line and text in line
    assert (project / "pyproject.toml").read_bytes() == before
    assert_no_canary(result.output)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "500", "times": 1},
        {"kind": "503", "times": 2},
        {"kind": "drop", "times": 1},
        {"kind": "429", "times": 1, "retry_after": 1},
    ],
    ids=lambda f: f"{f['kind']}x{f['times']}",
)
def test_transient_faults_are_retried(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: dict[str, Any]
) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    with_pats(monkeypatch)
    emu.set_faults("orgA", [fault])
    result = run_cli(["rewrite"], cwd=project)
    assert result.code == 0, result.output
    assert feeds_requests(emu) == {"orgA": 1 + fault["times"], "orgB": 1}


def test_read_timeout(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    before = (project / "pyproject.toml").read_bytes()
    with_pats(monkeypatch)
    emu.set_latency("orgA", 1500)
    result = run_cli(["rewrite", "--timeout", "1"], cwd=project)
    assert result.code == 4
    assert "did not answer in time" in one_error(result)
    assert (project / "pyproject.toml").read_bytes() == before


def test_unknown_organization_is_a_lookup_error(emu: Emulator, tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "uv.toml").write_text(
        f'index-url = "{emu.root_url}/orgZ/_packaging/feed/pypi/simple/"\n'
    )
    result = run_cli(["rewrite"], cwd=project)
    assert result.code == 5
    assert "collection 'orgZ': not found (HTTP 404)" in one_error(result)


def test_connection_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    project = write_project(tmp_path / "p", f"http://127.0.0.1:{port}")
    with_pats(monkeypatch)
    result = run_cli(["rewrite"], cwd=project)
    assert result.code == 4
    assert f"connection to 127.0.0.1:{port} refused" in one_error(result)


def test_missing_credential_names_the_variable(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    with_pats(monkeypatch)
    monkeypatch.delenv("UV_INDEX_ORGB_PASSWORD")
    result = run_cli(["rewrite"], cwd=project)
    assert result.code == 3
    assert "hint: set UV_INDEX_ORGB_PASSWORD" in result.stderr


def test_wrong_pat_is_exit_3_naming_the_source(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    with_pats(monkeypatch)
    monkeypatch.setenv("UV_INDEX_ORGB_PASSWORD", PAT_A)  # orgA's PAT does not open orgB
    result = run_cli(["rewrite"], cwd=project)
    assert result.code == 3
    assert "with the credential from UV_INDEX_ORGB_PASSWORD (HTTP 401)" in one_error(result)
    assert_no_canary(result.output)


# -- credential sources and where they may go ----------------------------------------------------


def cloud_project(root: Path) -> Path:
    return write_project(root, "https://pkgs.dev.azure.com")


def test_cloud_pat_is_not_sent_to_an_api_url(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = cloud_project(tmp_path / "p")
    monkeypatch.setenv("AZFEEDS_PAT", PAT_A)
    result = run_cli(["map", "--api-url", emu.root_url], cwd=project)
    assert result.code == 3
    assert "not sending AZFEEDS_PAT to 127.0.0.1" in result.stderr
    assert all(r["auth"] == "none" for r in emu.log())


def test_pat_file_goes_to_an_explicit_api_url(emu: Emulator, tmp_path: Path) -> None:
    project = cloud_project(tmp_path / "p")
    pat = tmp_path / "pat"
    pat.write_text(PAT_A)
    only_a = tmp_path / "a"
    only_a.mkdir()
    (only_a / "uv.toml").write_text(
        'index-url = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"\n'
    )
    result = run_cli(["rewrite", "--api-url", emu.root_url, "--pat-file", str(pat)], cwd=only_a)
    assert result.code == 0, result.stderr
    assert "# azfeeds: shared" in (only_a / "uv.toml").read_text()
    assert project.exists()


def test_pat_file_from_stdin(emu: Emulator, tmp_path: Path) -> None:
    (tmp_path / "uv.toml").write_text(
        'index-url = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"\n'
    )
    result = run_cli(
        ["rewrite", "--check", "--api-url", emu.root_url, "--pat-file", "-"],
        cwd=tmp_path,
        stdin=PAT_A + "\n",
    )
    assert result.code == 1, result.stderr
    assert_no_canary(result.output)


def test_pipeline_token_goes_to_its_collection_host(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "uv.toml").write_text(
        f'index-url = "{emu.root_url}/orgA/_packaging/shared/pypi/simple/"\n'
    )
    monkeypatch.setenv("TF_BUILD", "True")
    monkeypatch.setenv("SYSTEM_ACCESSTOKEN", TOKEN_A)
    refused = run_cli(["rewrite", "--check"], cwd=tmp_path)
    assert refused.code == 3 and "not sending SYSTEM_ACCESSTOKEN" in refused.stderr
    monkeypatch.setenv("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI", f"{emu.root_url}/orgA/")
    allowed = run_cli(["rewrite", "--check"], cwd=tmp_path)
    assert allowed.code == 1, allowed.stderr
    assert any(r["auth"] == "bearer" and r["status"] == 200 for r in emu.log())
    assert_no_canary(refused.output, allowed.output)


def test_pinned_auth_that_is_not_configured(emu: Emulator, tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    result = run_cli(["rewrite", "--auth", "service-principal"], cwd=project)
    assert result.code == 3
    assert "--auth service-principal is not configured" in one_error(result)


def test_entra_never_goes_to_a_server(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    monkeypatch.setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000002")
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "canary-secret-" + secrets.token_hex(4))
    result = run_cli(["rewrite", "--check"], cwd=project)
    assert result.code == 3  # no credential was sent: Azure DevOps Server takes PATs only
    assert all(r["auth"] == "none" for r in emu.log())


# -- refresh -----------------------------------------------------------------------------------


def test_refresh_rename_recreate_and_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_factory: Any
) -> None:
    emu = emulator_factory(config())
    project = write_project(tmp_path / "p", emu.root_url)
    with_pats(monkeypatch)
    assert run_cli(["rewrite"], cwd=project).code == 0
    pyproject = project / "pyproject.toml"

    emu.rename_feed("orgA", "feedx", "feedx2")
    renamed = run_cli(["rewrite"], cwd=project)
    assert renamed.code == 0, renamed.stderr
    assert "# azfeeds: ProjectX/feedx2" in pyproject.read_text()

    old_id = emu.feed_info("orgB", "feedy")["id"]
    new = emu.recreate_feed("orgB", "feedy")
    check = run_cli(["rewrite", "--check"], cwd=project)
    assert check.code == 1
    moved = run_cli(["rewrite"], cwd=project)
    assert moved.code == 0, moved.stderr
    text = pyproject.read_text()
    assert new["id"] in text and old_id not in text

    emu.delete_feed("orgB", "feedy")
    before = pyproject.read_bytes()
    gone = run_cli(["rewrite"], cwd=project)
    assert gone.code == 5
    line = one_error(gone)
    assert "pyproject.toml:" in line and new["id"] in line
    assert pyproject.read_bytes() == before


def test_real_process_with_no_flags(emu: Emulator, tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", emu.root_url)
    env = {"UV_INDEX_ORGA_PASSWORD": PAT_A, "UV_INDEX_ORGB_PASSWORD": PAT_B}
    result = run_proc(["rewrite", "--verbose"], cwd=project, env=env)
    assert result.code == 0, result.stderr
    assert "using UV_INDEX_ORGA_PASSWORD" in result.stderr
    assert_no_canary(result.output)
