"""Canary secrets through every command and error path: they must appear nowhere.

A canary PAT (given as UV_INDEX_*_PASSWORD, AZFEEDS_PAT and --pat-file), a canary Entra token
(from a fake `az`), and a canary password written into an index URL go through map, rewrite
(--check, --diff, --json, --debug), doctor, env, login and logout, on success and on every kind of
failure. stdout, stderr (log records at DEBUG and --debug tracebacks included), every file
written, and the text of exceptions are scanned. Expected hits: 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config
from helpers import run_cli, run_proc, write_fake_az

PAT_A = "CANARYPATA0123456789abcdef"
PAT_B = "CANARYPATB0123456789abcdef"
TOKEN = "CANARYTOKEN.eyJjYW5hcnkiOjF9.c2ln"
IN_URL = "CANARYINURL9876543210"
CANARIES = (PAT_A, PAT_B, TOKEN, IN_URL)


def scan(*texts: str) -> list[str]:
    return [c for c in CANARIES for t in texts if c in t]


def scan_files(text: str, original_in_url: int) -> list[str]:
    """Files: no PAT or token at all; the password written into a URL by the user no more often
    than the user wrote it (azfeeds keeps userinfo as written unless --strip-credentials)."""
    hits = [c for c in (PAT_A, PAT_B, TOKEN) if c in text]
    if text.count(IN_URL) > original_in_url:
        hits.append(f"{IN_URL} copied")
    return hits


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    cfg = sample_config()
    cfg["organizations"][0]["pats"] = [PAT_A]
    cfg["organizations"][0]["tokens"] = [TOKEN]
    cfg["organizations"][1]["pats"] = [PAT_B]
    cfg["organizations"][1]["tokens"] = [TOKEN]
    with Emulator.start(cfg, tmp_path_factory.mktemp("emulator")) as emulator:
        yield emulator


@pytest.fixture
def project(tmp_path: Path, emu: Emulator) -> Path:
    root = tmp_path / "p"
    root.mkdir()
    base = emu.root_url
    (root / "pyproject.toml").write_text(
        '[project]\nname = "s"\nversion = "0.1.0"\n\n'
        f'[[tool.uv.index]]\nname = "orga"\nurl = "{base}/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n\n'
        f'[[tool.uv.index]]\nname = "orgb"\nurl = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n\n'
        f'[tool.uv]\nextra-index-url = ["http://user:{IN_URL}@{base.split("://", 1)[1]}/orgA/_packaging/shared/pypi/simple/"]\n'
    )
    (root / "requirements.txt").write_text(
        f"--extra-index-url http://build:{IN_URL}@{base.split('://', 1)[1]}/orgB/Project%20Y/_packaging/feedy/pypi/simple/\n"
    )
    cloud = (
        root / "cloud"
    )  # cloud URLs, reached through --api-url (the emulator): Entra may go there
    cloud.mkdir()
    (cloud / "uv.toml").write_text(
        'index-url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
    )
    return root


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    pat = tmp_path / "pat.txt"
    pat.write_text(PAT_A + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_fake_az(
        bin_dir,
        f"import json\nprint(json.dumps({{'accessToken': {TOKEN!r}, 'expires_on': 4102444800}}))\n",
    )
    return {
        "UV_INDEX_ORGA_USERNAME": "u",
        "UV_INDEX_ORGA_PASSWORD": PAT_A,
        "UV_INDEX_ORGB_USERNAME": "u",
        "UV_INDEX_ORGB_PASSWORD": PAT_B,
        "AZFEEDS_PAT": PAT_B,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PAT_FILE": str(pat),
    }


def files_text(*roots: Path) -> str:
    out = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                out.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def commands(emu: Emulator, pat_file: str) -> list[list[str]]:
    api = ["--api-url", emu.root_url]
    return [
        ["map", "--debug"],
        ["map", "--json", "--views"],
        ["rewrite", "--check", "--json", "--debug"],
        ["rewrite", "--diff"],
        ["rewrite", "--diff", "--json"],
        ["rewrite", "--debug", "--verbose"],
        ["rewrite", "--strip-credentials", "--debug"],
        ["rewrite", "--mode", "names", "--json", "--debug"],
        ["doctor", "--debug"],
        ["doctor", "--json"],
        ["env", "--json", "--shell", "github"],
        ["env", "--shell", "dockerfile"],
        ["rewrite", "--check", "--auth", "azure-cli", *api, "--debug", "cloud"],
        ["rewrite", "--check", *api, "--debug", "--verbose", "cloud"],
        ["doctor", "--json", *api, "cloud"],
        ["map", "--pat-file", pat_file, "--org", f"{emu.root_url}/orgA", "--debug"],
        [
            "rewrite",
            "--check",
            "--auth",
            "pat",
            "--pat-file",
            pat_file,
            *api,
            "--json",
            "--debug",
            "cloud",
        ],
        ["logout", "--debug"],
    ]


def test_canaries_never_appear_on_success_paths(
    emu: Emulator, project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    pat_file = env.pop("PAT_FILE")
    cache = tmp_path / "cache"
    env["AZFEEDS_CACHE_DIR"] = str(cache)
    hits: list[str] = []
    bearer_before = sum(1 for r in emu.log() if r["auth"] == "bearer" and r["status"] == 200)
    for args in commands(emu, pat_file):
        result = run_proc(args, cwd=project, env=env)
        assert result.code in (0, 1), (args, result.stderr)
        hits += [f"{args}: {h}" for h in scan(result.stdout, result.stderr)]
    hits += scan_files(files_text(project, cache if cache.exists() else tmp_path / "nothing"), 2)
    assert hits == []
    bearer = (
        sum(1 for r in emu.log() if r["auth"] == "bearer" and r["status"] == 200) - bearer_before
    )
    assert bearer >= 1, "the Entra canary token was really used (and then hidden)"


FAILURES: list[tuple[str, dict[str, Any] | None, int]] = [
    ("401", {"kind": "401", "times": None}, 3),
    ("203", {"kind": "203", "times": None}, 3),
    ("500", {"kind": "500", "times": None}, 4),
    ("truncated", {"kind": "truncated", "times": None}, 4),
    ("drop", {"kind": "drop", "times": None}, 4),
]


@pytest.mark.parametrize(("name", "fault", "code"), FAILURES, ids=[f[0] for f in FAILURES])
def test_canaries_never_appear_on_error_paths(
    emu: Emulator, project: Path, env: dict[str, str], name: str, fault: dict[str, Any], code: int
) -> None:
    env.pop("PAT_FILE")
    emu.set_faults("orgB", [fault])
    try:
        for args in (
            ["rewrite", "--debug"],
            ["rewrite", "--json"],
            ["map", "--debug", "--verbose"],
            ["doctor", "--json", "--debug"],
        ):
            result = run_proc(args, cwd=project, env=env)
            expected = 1 if args[0] == "doctor" else code
            assert result.code == expected, (args, result.stderr)
            if "--debug" in args and args[0] != "doctor":
                assert "Traceback" in result.stderr, "--debug shows the traceback"
            assert scan(result.stdout, result.stderr) == [], args
            if "--json" in args:
                json.loads(result.stdout)
    finally:
        emu.set_faults("orgB", [])
    assert scan_files(files_text(project), 2) == []


def test_canaries_never_appear_in_debug_tracebacks(
    project: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--debug prints the traceback (exception text included) before the error line."""
    env.pop("PAT_FILE")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    (project / "pyproject.toml").write_text(
        (project / "pyproject.toml").read_text() + "\nnot toml at all [\n"
    )
    for args in (
        ["rewrite", "--debug"],
        ["rewrite", "--offline", "--debug"],
        ["doctor", "--offline", "--debug"],
    ):
        result = run_cli(args, cwd=project)
        assert result.code == 6, (args, result.stderr)
        assert "Traceback (most recent call last)" in result.stderr
        assert scan(result.stdout, result.stderr) == []


def test_log_records_are_scrubbed(
    emu: Emulator,
    project: Path,
    env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env.pop("PAT_FILE")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    caplog.set_level(5)
    result = run_cli(["rewrite", "--check", "--debug"], cwd=project)
    assert result.code == 1
    assert scan(caplog.text, result.stdout, result.stderr) == []
    import logging

    logging.getLogger("azfeeds.test").warning(
        "leak attempt %s and Basic %s", PAT_A, "Q0FOQVJZUEFUQTAxMjM0NTY3ODlhYmNkZWY="
    )
    assert PAT_A not in result.stderr


@pytest.mark.parametrize(
    ("text", "one_line", "shown"),
    [
        ("plain text\twith a tab\n", False, "plain text\twith a tab\n"),
        ("a\x1b[2Jb\x07", False, "a\\x1b[2Jb\\x07"),
        ("two\nlines\r", True, "two\\nlines\\r"),
        ("keep\nnewlines", False, "keep\nnewlines"),
        ("rtl \u202eevil\u2066", False, "rtl \\u202eevil\\u2066"),
        ("c1 \x85 \x9b", False, "c1 \\x85 \\x9b"),
    ],
)
def test_printable_escapes_what_could_drive_a_terminal(
    text: str, one_line: bool, shown: str
) -> None:
    from azfeeds.secrets import printable

    assert printable(text, one_line=one_line) == shown


# The credential patterns are tried only on text holding the literal part each needs, and
# printable() rules ASCII text out without a pattern. Those shortcuts must never change a result:
# here every text goes through the patterns alone as well, and both answers must agree.
_SHORTCUT_TEXTS = [
    "",
    "plain text, nothing to hide",
    "Authorization: Bearer abcdefgh12345678",
    "authorization: BASIC dXNlcjpwYXNzd29yZA==",
    "Ba\u017fic dXNlcjpwYXNzd29yZA==",  # long s: matches "s" under IGNORECASE
    "token eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl here",
    '{"access_token": "0123456789abcdef", "Password" : "hunter2hunter2"}',
    '{"\u0130d_token": "0123456789abcdef"}',
    "https://user:pat0123@pkgs.dev.azure.com/org/_packaging/f/pypi/simple/",
    "see HTTPS://me@host/x and mailto:someone@example.com",
    "tab\there, newline\nthere, escape \x1b[31m, bell \x07, del \x7f",
    "carriage\rreturn",
    "bidi \u202e override and C1 \x85 and nbsp\u00a0",
]


@pytest.mark.parametrize("text", _SHORTCUT_TEXTS)
def test_shortcuts_give_the_patterns_answers(text: str) -> None:
    import re

    from azfeeds import secrets
    from azfeeds.urls import redact_userinfo

    full = text
    full = re.sub(secrets._AUTH, lambda m: f"{m.group(1)} {secrets.MASK}", full)
    full = re.sub(secrets._JWT, secrets.MASK, full)
    full = re.sub(secrets._FIELD, lambda m: f"{m.group(1)}{secrets.MASK}{m.group(3)}", full)
    full = re.sub(
        r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@\"'<>]+)@",
        lambda m: f"{m.group(1)}{redact_userinfo(m.group(2))}@",
        full,
    )
    assert secrets.scrub(text) == full
    for one_line in (False, True):
        chars = f"[\n{secrets._UNPRINTABLE}]" if one_line else f"[{secrets._UNPRINTABLE}]"
        expected = re.sub(chars, secrets._escape, text)
        assert secrets.printable(text, one_line=one_line) == expected
