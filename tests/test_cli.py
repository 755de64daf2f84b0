"""The rewrite command line: exit codes, messages, JSON contract (offline; live cases elsewhere)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import JSON_KEYS, run_cli, run_proc

FIXTURES = Path(__file__).parent / "fixtures"
MAP = FIXTURES / "map.json"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "rewrite" / "lock" / "before", tmp_path / "p")
    return tmp_path / "p"


def _bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_version() -> None:
    result = run_cli(["--version"])
    assert result.code == 0
    assert result.stdout.startswith("azfeeds ")


def test_rewrite_writes_and_reports_a_table(project: Path) -> None:
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=project)
    assert result.code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["FILE", "LINE", "OLD", "NEW"]
    assert rows[0].split()[:3] == ["pyproject.toml", "9", "ProjectX/feedx"]
    assert any(r.startswith("uv.lock") for r in rows)
    assert "made 4 changes in 2 files" in result.stderr
    again = run_cli(["rewrite", "--map", str(MAP)], cwd=project)
    assert again.code == 0 and again.stdout == ""
    assert "nothing to change" in again.stderr


def test_add_mode_lists_the_twin_variables_in_aligned_columns(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "a"\n'
        'url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n\n'
        '[[tool.uv.index]]\nname = "orgb-data-science"\n'
        'url = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
    )
    result = run_cli(["rewrite", "--mode", "add", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 0, result.output
    listed = [line for line in result.stdout.splitlines() if "(twin of '" in line]
    assert [line.split() for line in listed] == [
        ["UV_INDEX_A_UUID_USERNAME", "UV_INDEX_A_UUID_PASSWORD", "(twin", "of", "'a')"],
        [
            "UV_INDEX_ORGB_DATA_SCIENCE_UUID_USERNAME",
            "UV_INDEX_ORGB_DATA_SCIENCE_UUID_PASSWORD",
            "(twin",
            "of",
            "'orgb-data-science')",
        ],
    ]
    assert len({line.index("UV_INDEX", 3) for line in listed}) == 1  # one password column
    assert len({line.index("(twin of") for line in listed}) == 1


def test_offline_check_counts_the_files_not_the_urls(tmp_path: Path) -> None:
    """Two name-form URLs in one file, offline without a map: '2 changes in 1 file'."""
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "a"\n'
        'url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n\n'
        '[[tool.uv.index]]\nname = "b"\n'
        'url = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
    )
    result = run_cli(["rewrite", "--check", "--offline"], cwd=tmp_path)
    assert result.code == 1, result.output
    assert "would make 2 changes in 1 file;" in result.stderr, result.stderr


def test_check_exits_1_and_writes_nothing(project: Path) -> None:
    before = _bytes(project)
    result = run_cli(["rewrite", "--check", "--map", str(MAP)], cwd=project)
    assert result.code == 1
    assert "would make" in result.stderr
    assert _bytes(project) == before


def test_diff_prints_a_diff_and_exits_0(project: Path) -> None:
    before = _bytes(project)
    result = run_cli(["rewrite", "--diff", "--map", str(MAP)], cwd=project)
    assert result.code == 0
    assert result.stdout.startswith("--- a/pyproject.toml\n+++ b/pyproject.toml\n")
    assert "+++ b/uv.lock" in result.stdout
    assert _bytes(project) == before
    assert run_cli(["rewrite", "--diff", "--check", "--map", str(MAP)], cwd=project).code == 1


def test_no_lock_leaves_the_lock(project: Path) -> None:
    lock = (project / "uv.lock").read_bytes()
    assert run_cli(["rewrite", "--no-lock", "--map", str(MAP)], cwd=project).code == 0
    assert (project / "uv.lock").read_bytes() == lock
    assert b"azfeeds: ProjectX/feedx" in (project / "pyproject.toml").read_bytes()


def test_given_a_file_the_lock_beside_it_follows(project: Path) -> None:
    assert run_cli(["rewrite", "--map", str(MAP), str(project / "pyproject.toml")]).code == 0
    assert b"ProjectX" not in (project / "uv.lock").read_bytes()


def test_offline_check_without_map_flags_name_form(project: Path) -> None:
    result = run_cli(["rewrite", "--check", "--offline"], cwd=project)
    assert result.code == 1
    assert "not resolved offline" in result.stdout


def test_offline_rewrite_without_map_is_a_lookup_error(project: Path) -> None:
    before = _bytes(project)
    result = run_cli(["rewrite", "--offline"], cwd=project)
    assert result.code == 5
    assert "pyproject.toml:9:" in result.stderr
    assert "hint: give --map FILE" in result.stderr
    assert _bytes(project) == before


def test_unknown_feed_is_exit_5_naming_file_line_and_url(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "x"\n'
        'url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/nope/pypi/simple/"\n'
    )
    before = (tmp_path / "pyproject.toml").read_bytes()
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 5
    line = result.stderr.splitlines()[0]
    assert line.startswith(
        "azfeeds: error: pyproject.toml:3: https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/nope/"
    )
    assert "unknown feed 'nope'" in line
    assert (tmp_path / "pyproject.toml").read_bytes() == before


def test_one_failed_lookup_means_no_file_is_written(tmp_path: Path) -> None:
    good = tmp_path / "a" / "pyproject.toml"
    bad = tmp_path / "b" / "pyproject.toml"
    good.parent.mkdir()
    bad.parent.mkdir()
    good.write_text(
        '[tool.uv]\nindex-url = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"\n'
    )
    bad.write_text(
        '[tool.uv]\nindex-url = "https://pkgs.dev.azure.com/orgA/_packaging/missing/pypi/simple/"\n'
    )
    snapshot = (good.read_bytes(), bad.read_bytes())
    result = run_cli(["rewrite", "-r", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 5
    assert (good.read_bytes(), bad.read_bytes()) == snapshot


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (
            '[project]\nname = "x"\nbad line\nurl = "https://pkgs.dev.azure.com/o/_packaging/f/pypi/simple/"\n',
            "pyproject.toml:3:",
        ),
        (
            '[tool.uv]\nindex-url = "https://pkgs.dev.azure.com/o/_packaging/f/pypi/simple/\n',
            "pyproject.toml:2:",
        ),
        (
            'a = 1\na = 2\n[tool.uv]\nindex-url = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"\n',
            "pyproject.toml:2:",
        ),
    ],
)
def test_malformed_toml_is_exit_6_with_file_and_line(
    tmp_path: Path, content: str, where: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(content)
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 6
    assert result.stderr.startswith(f"azfeeds: error: {where} is not valid TOML")
    assert "Traceback" not in result.output
    assert (tmp_path / "pyproject.toml").read_text() == content


def test_malformed_pip_conf_is_exit_6(tmp_path: Path) -> None:
    (tmp_path / "pip.conf").write_text(
        "index-url = https://pkgs.dev.azure.com/o/_packaging/f/pypi/simple/\n"
    )
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 6
    assert "pip.conf:1:" in result.stderr and "[section]" in result.stderr


def test_non_utf8_is_exit_6(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(
        b'[tool.uv]\n# caf\xe9\nindex-url = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"\n'
    )
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 6
    assert "pyproject.toml:2: is not valid UTF-8" in result.stderr


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ("{", "not valid JSON"),
        ('{"schema_version": 99, "organizations": []}', "schema_version 99 is not supported"),
        ('{"schema_version": "1", "organizations": []}', "schema_version: expected an integer"),
        ('{"schema_version": 1}', "organizations: expected an array"),
        (
            '{"schema_version": 1, "organizations": [{"name": "o", "url": "https://x/o", "feeds": [{"id": "nope", "name": "f"}]}]}',
            "organizations[0].feeds[0].id: expected a UUID",
        ),
        (
            '{"schema_version": 1, "organizations": [{"name": 3, "url": "https://x/o", "feeds": []}]}',
            "organizations[0].name: expected a non-empty string, got a number",
        ),
    ],
)
def test_bad_map_file_is_exit_6_naming_the_field(project: Path, doc: str, field: str) -> None:
    bad = project / "bad.json"
    bad.write_text(doc)
    result = run_cli(["rewrite", "--map", str(bad)], cwd=project)
    assert result.code == 6
    assert field in result.stderr


def test_usage_errors_are_exit_2_on_one_line(project: Path) -> None:
    for args in (["rewrite", "--bogus"], ["rewrite", "--mode", "sideways"], ["nosuchcommand"]):
        result = run_cli(args, cwd=project)
        assert result.code == 2, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("azfeeds: error: ")


def test_bad_option_value_names_the_variable_only_when_it_is_set(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = run_cli(["rewrite", "--timeout", "0"], cwd=project)
    assert flag.code == 2
    assert flag.stderr.startswith("azfeeds: error: Invalid value for '--timeout': "), flag.stderr
    assert "AZFEEDS_TIMEOUT" not in flag.stderr
    monkeypatch.setenv("AZFEEDS_TIMEOUT", "0")
    variable = run_cli(["rewrite"], cwd=project)
    assert variable.code == 2
    assert "Invalid value for '--timeout' (env var: 'AZFEEDS_TIMEOUT'): " in variable.stderr


def test_a_usage_error_with_json_still_prints_the_envelope(project: Path) -> None:
    result = run_cli(["rewrite", "--json", "--mode", "sideways"], cwd=project)
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == JSON_KEYS
    assert (doc["command"], doc["status"], doc["exit_code"], doc["result"]) == (
        "rewrite",
        "error",
        2,
        None,
    )
    assert doc["error"]["type"] == "usage"
    assert "--mode" in doc["error"]["message"]
    assert run_cli(["map", "--json", "--bogus"], cwd=project).stdout == ""  # map --json: the map


def test_usage_error_points_at_help_that_exists(project: Path) -> None:
    unknown = run_cli(["version"], cwd=project)
    assert unknown.code == 2
    assert "(see 'azfeeds --help')" in unknown.stderr, unknown.stderr
    assert "azfeeds version --help" not in unknown.stderr
    bad_option = run_cli(["rewrite", "--bogus"], cwd=project)
    assert "(see 'azfeeds rewrite --help')" in bad_option.stderr, bad_option.stderr


def test_unknown_file_kind_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("hello\n")
    result = run_cli(["rewrite", "--map", str(MAP), "notes.md"], cwd=tmp_path)
    assert result.code == 2
    assert "does not know this kind of file" in result.stderr


def test_a_directory_without_files_is_a_warning_not_a_silent_pass(tmp_path: Path) -> None:
    """A --check run at a monorepo root without --recursive scans nothing: it must say so."""
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "a"\n'
        'url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
    )
    flat = run_cli(["rewrite", "--check", "--map", str(MAP)], cwd=tmp_path)
    assert flat.code == 0
    warning, summary = flat.stderr.splitlines()
    assert warning.startswith("azfeeds: warning: found no file azfeeds handles (pyproject.toml, ")
    assert warning.endswith("); --recursive also walks subdirectories")
    assert summary == "azfeeds: nothing to change (0 files scanned)"
    doc = json.loads(
        run_cli(["rewrite", "--check", "--json", "--map", str(MAP)], cwd=tmp_path).stdout
    )
    assert doc["warnings"][0].startswith("found no file azfeeds handles")
    assert run_cli(["rewrite", "--check", "-r", "--map", str(MAP)], cwd=tmp_path).code == 1
    (tmp_path / "svc" / "pyproject.toml").unlink()
    walked = run_cli(["rewrite", "--check", "-r", "--map", str(MAP)], cwd=tmp_path)
    assert "found no file azfeeds handles (" in walked.stderr
    assert "--recursive also walks" not in walked.stderr


def test_missing_path_is_exit_6(tmp_path: Path) -> None:
    result = run_cli(["rewrite", "--map", str(MAP), "nope"], cwd=tmp_path)
    assert result.code == 6
    assert "nope: no such file or directory" in result.stderr


def test_internal_errors_are_exit_70_without_traceback(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import azfeeds.engine

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(azfeeds.engine, "rewrite", boom)
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=project)
    assert result.code == 70
    assert "internal error: RuntimeError: unexpected" in result.stderr
    assert "Traceback" not in result.output
    debug = run_cli(["rewrite", "--debug", "--map", str(MAP)], cwd=project)
    assert debug.code == 70, "--debug keeps the exit code"
    assert (
        "Traceback (most recent call last)" in debug.stderr
        and "RuntimeError: unexpected" in debug.stderr
    )


def test_add_mode_reports_twin_variables(project: Path) -> None:
    result = run_cli(["rewrite", "--mode", "add", "--map", str(MAP)], cwd=project)
    assert result.code == 0
    assert "UV_INDEX_ORGA_UUID_USERNAME  UV_INDEX_ORGA_UUID_PASSWORD" in result.stdout


def test_strip_credentials(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "orga"\n'
        'url = "https://me:canary-secret-1234@pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"\n'
    )
    warned = run_cli(["rewrite", "--check", "--map", str(MAP)], cwd=tmp_path)
    assert "canary-secret-1234" not in warned.output
    assert "UV_INDEX_ORGA_USERNAME and UV_INDEX_ORGA_PASSWORD" in warned.stderr
    diff = run_cli(["rewrite", "--diff", "--map", str(MAP)], cwd=tmp_path)
    assert "canary-secret-1234" not in diff.output and "https://***@pkgs" in diff.stdout
    stripped = run_cli(["rewrite", "--strip-credentials", "--map", str(MAP)], cwd=tmp_path)
    assert stripped.code == 0
    text = (tmp_path / "pyproject.toml").read_text()
    assert "canary-secret-1234" not in text and "me:" not in text
    assert "canary-secret-1234" not in stripped.output


RESULT_KEYS = {
    "mode",
    "check",
    "dry_run",
    "files_scanned",
    "written",
    "changes",
    "skipped",
    "variables",
    "actions",
}
CHANGE_KEYS = {
    "path",
    "line",
    "key",
    "action",
    "old",
    "new",
    "old_form",
    "new_form",
    "organization",
    "note",
}


def test_json_document_is_pinned(project: Path) -> None:
    result = run_cli(["rewrite", "--json", "--check", "--map", str(MAP)], cwd=project)
    assert result.code == 1
    doc = json.loads(result.stdout)
    assert set(doc) == JSON_KEYS
    assert doc["schema_version"] == 1
    assert (doc["command"], doc["status"], doc["exit_code"], doc["error"]) == (
        "rewrite",
        "changes",
        1,
        None,
    )
    assert set(doc["result"]) == RESULT_KEYS
    first = doc["result"]["changes"][0]
    assert set(first) == CHANGE_KEYS
    assert first == {
        "path": "pyproject.toml",
        "line": 9,
        "key": "tool.uv.index[0].url",
        "action": "rewrite",
        "old": "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/",
        "new": "https://pkgs.dev.azure.com/orgA/a1a1a1a1-0000-4000-8000-00000000b001/_packaging/a1a1a1a1-0000-4000-8000-00000000f001/pypi/simple/",
        "old_form": "ProjectX/feedx",
        "new_form": "a1a1a1a1-0000-4000-8000-00000000b001/a1a1a1a1-0000-4000-8000-00000000f001",
        "organization": "orgA",
        "note": None,
    }
    assert [c["action"] for c in doc["result"]["changes"]] == ["rewrite", "lock", "lock", "lock"]


def test_json_error_document(project: Path) -> None:
    result = run_cli(["rewrite", "--json", "--offline"], cwd=project)
    assert result.code == 5
    doc = json.loads(result.stdout)
    assert set(doc) == JSON_KEYS
    assert doc["status"] == "error" and doc["result"] is None
    assert set(doc["error"]) == {"type", "message", "hint"}
    assert doc["error"]["type"] == "lookup"


def test_real_process_exit_codes_and_no_traceback(project: Path) -> None:
    ok = run_proc(["rewrite", "--check", "--map", str(MAP)], cwd=project)
    assert ok.code == 1
    bad = run_proc(["rewrite", "--map", str(project / "missing.json")], cwd=project)
    assert bad.code == 6 and "Traceback" not in bad.output
    assert run_proc(["--version"]).stdout.startswith("azfeeds ")
