"""Crash safety, the short variant of ``scripts/crash_test.py`` (which runs 100+ trials).

One seeded run of the script's core: SIGKILL at random moments of a 200-file recursive rewrite
(and a few aimed inside the replace loop), then SIGINT likewise. Every file must be wholly old or
wholly new and parse; a normal run after a SIGKILL must finish the job and sweep the stale
temporary files; SIGINT must give exit 130 (or 0 when the run had already finished), no traceback
and no temporary file. A sweep of SIGINTs over the first 40 ms covers the start-up, where only
CPython's own code (before any azfeeds code runs) may print a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEED = 20240607

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals (SIGKILL)")


def _crash_test() -> ModuleType:
    spec = importlib.util.spec_from_file_location("crash_test", ROOT / "scripts" / "crash_test.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_test"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def crash() -> ModuleType:
    return _crash_test()


@pytest.fixture(scope="module")
def report(crash: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """12 SIGKILL + 6 SIGINT trials at random moments, 4 + 2 aimed at the replace loop, and 40
    SIGINTs spread over the first 40 ms of a start-up."""
    return crash.run_crash_test(
        trials=12,
        sigint_trials=6,
        seed=SEED,
        replace_trials=4,
        sigint_replace_trials=2,
        start_up_probes=40,
        workdir=tmp_path_factory.mktemp("crash"),
    )


def test_the_checker_catches_what_it_must(crash: ModuleType, tmp_path: Path) -> None:
    """The harness itself: a torn, unparsable or re-moded file and a temporary file are seen."""
    old = {
        "a/pyproject.toml": (b'x = "old"\n', 0o644),
        "b/requirements.txt": (b"--index-url https://old.example/simple/\nfoo>=1\n", 0o644),
        "c/pip.conf": (b"[global]\nindex-url = https://old.example/simple/\n", 0o600),
    }
    new = {
        "a/pyproject.toml": b'x = "new"\n',
        "b/requirements.txt": b"--index-url https://new.example/simple/\nfoo>=1\n",
        "c/pip.conf": b"[global]\nindex-url = https://new.example/simple/\n",
    }
    crash.write_tree(tmp_path, old)
    assert crash.scan(tmp_path, old, new).outcome == "all-old"
    (tmp_path / "a/pyproject.toml").write_bytes(new["a/pyproject.toml"])
    state = crash.scan(tmp_path, old, new)
    assert (state.outcome, state.old, state.new) == (
        "mixed",
        ["b/requirements.txt", "c/pip.conf"],
        ["a/pyproject.toml"],
    )
    (tmp_path / "b/requirements.txt").write_bytes(b"--index-url https://new.exa")
    (tmp_path / "a/.pyproject.toml.azfeeds-4242-0.tmp").write_bytes(b"")
    os.chmod(tmp_path / "c/pip.conf", 0o644)
    state = crash.scan(tmp_path, old, new)
    assert state.outcome == "torn" and state.torn[0].startswith("b/requirements.txt")
    assert state.temps == ["a/.pyproject.toml.azfeeds-4242-0.tmp"]
    assert state.mode_changes == ["c/pip.conf: mode 644, expected 600"]
    assert crash.parse_check("x/pyproject.toml", b'url = "https://x') is not None
    assert crash.parse_check("x/pip.conf", b"index-url = https://x/\n") is not None
    assert crash.parse_check("x/requirements.txt", b"--index-url\n") is not None
    assert crash.parse_check("x/uv.lock", b"\xef\xbb\xbfversion = 1\r\n") is None


_SET_NAME_INTERRUPT = """
import azfeeds.cli


class Descriptor:
    def __set_name__(self, owner, name):
        raise KeyboardInterrupt  # where a SIGINT can land while a module defines a class


def run(argv=None):
    class Interrupted:  # Python 3.11 wraps the interrupt in a RuntimeError here
        field = Descriptor()


azfeeds.cli.run = run
from azfeeds.__main__ import main

main()
"""


def test_a_sigint_inside_a_class_definition_is_exit_130_not_a_traceback() -> None:
    """Found by the start-up sweep in CI: a SIGINT that lands while the standard library
    defines a class (``ipaddress``, imported by ``urllib.parse``) reached azfeeds as a
    RuntimeError around the KeyboardInterrupt, and printed a traceback with exit 1."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", _SET_NAME_INTERRUPT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "azfeeds: interrupted\n"


def test_interrupts_are_found_behind_wrapping_exceptions() -> None:
    from azfeeds.errors import caused_by_interrupt

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as inner:
            raise RuntimeError("Error calling __set_name__") from inner
    except RuntimeError as wrapped:
        assert caused_by_interrupt(wrapped)
    assert not caused_by_interrupt(RuntimeError("a bug"))
    looped = ValueError("loop")
    looped.__context__ = looped
    assert not caused_by_interrupt(looped)


def test_where_a_sigint_landed(crash: ModuleType) -> None:
    runpy = (
        "Could not import runpy module\nTraceback (most recent call last):\n"
        '  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load\n'
        '  File "<frozen runpy>", line 15, in <module>\nKeyboardInterrupt\n'
    )
    ours = (
        "Traceback (most recent call last):\n"
        f'  File "{ROOT}/azfeeds/__main__.py", line 15, in main\nKeyboardInterrupt\n'
    )
    lock = (
        "Exception ignored in: <function _get_module_lock.<locals>.cb at 0x7f>\n"
        "Traceback (most recent call last):\n"
        '  File "<frozen importlib._bootstrap>", line 207, in cb\nKeyboardInterrupt: \n'
    )
    runpy_search = (
        "Traceback (most recent call last):\n"
        '  File "<frozen importlib._bootstrap_external>", line 1437, in _path_importer_cache\n'
        f"KeyError: '{ROOT}/azfeeds'\n\nDuring handling of the above exception:\n\n"
        "Traceback (most recent call last):\n"
        '  File "<frozen runpy>", line 189, in _run_module_as_main\nKeyboardInterrupt\n'
    )
    package = (
        "Traceback (most recent call last):\n"
        '  File "<frozen runpy>", line 112, in _get_module_details\n'
        f'  File "{ROOT}/azfeeds/__init__.py", line 10, in <module>\n'
        '  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load\n'
        "KeyboardInterrupt\n"
    )
    assert crash.sigint_landing(-2, "") == "python-start-up"
    assert crash.sigint_landing(-2, runpy_search) == "python-start-up"
    assert crash.sigint_landing(-2, package) == "azfeeds-import"
    assert crash.sigint_landing(1, runpy) == "python-start-up"
    assert crash.sigint_landing(-2, ours) == "azfeeds"
    assert crash.sigint_landing(0, lock) == "import-lock"
    assert crash.sigint_landing(130, "azfeeds: interrupted\n") == "azfeeds"
    assert crash.sigint_landing(-2, "azfeeds: interrupted\n") == "azfeeds"
    assert crash.shell_status(-2) == 130 and crash.shell_status(130) == 130


def _records(report: Any, *kinds: str) -> list[dict[str, Any]]:
    return [r for r in report.trials if r["kind"] in kinds]


@pytest.mark.slow
def test_the_tree_is_rewritten_by_a_normal_run(report: Any) -> None:
    assert report.files == 200
    assert report.files_changed >= 180, "the tree must be mostly files that azfeeds rewrites"
    assert report.kill.trials == 12 and report.kill_in_replace_loop.trials == 4
    assert report.sigint.trials == 6 and report.sigint_in_replace_loop.trials == 2


@pytest.mark.slow
def test_sigkill_leaves_every_file_wholly_old_or_new(report: Any) -> None:
    for kill in (report.kill, report.kill_in_replace_loop):
        assert kill.interrupted_writes == 0, report.violations
        assert kill.unparsable_files == 0, report.violations
        assert kill.mode_changes == 0, report.violations
        assert kill.unexpected_files == 0, report.violations
    for record in _records(report, "kill", "kill-replace"):
        assert record["outcome"] in ("all-old", "mixed", "all-new"), record
        assert record["exit_code"] in (0, -9), record


@pytest.mark.slow
def test_a_run_after_sigkill_finishes_the_job_and_sweeps_temporary_files(report: Any) -> None:
    for kill in (report.kill, report.kill_in_replace_loop):
        assert kill.recovery_runs == kill.trials
        assert kill.recovery_failures == 0, report.violations
        assert kill.recovery_temp_files == 0, report.violations
    for record in _records(report, "kill", "kill-replace"):
        assert record["recovery_exit_code"] == 0, record


@pytest.mark.slow
def test_sigint_exits_130_with_no_traceback_and_no_temporary_file(
    report: Any, crash: ModuleType
) -> None:
    for sigint in (report.sigint, report.sigint_in_replace_loop):
        assert sigint.hangs == 0, report.violations
        assert sigint.tracebacks == 0, report.violations
        assert sigint.leftover_temp_files == 0, report.violations
        assert sigint.interrupted_writes == 0, report.violations
        assert sigint.not_all_or_nothing == 0, report.violations
    for record in _records(report, "sigint", "sigint-replace"):
        assert record["temps"] == 0, record
        if record["landing"] == "python-start-up":
            # before any azfeeds code ran (CPython's own start-up): nothing may be written
            assert record["outcome"] == "all-old", record
            continue
        # 130, or ended by SIGINT (-2), which a shell shows as 130; 0 if the run had finished
        assert crash.shell_status(record["exit_code"]) in (130, 0), record
        if crash.shell_status(record["exit_code"]) == 0:
            assert record["outcome"] == "all-new", record


@pytest.mark.slow
def test_sigint_during_the_replace_loop_is_held_until_every_file_is_replaced(
    report: Any, crash: ModuleType
) -> None:
    for record in _records(report, "sigint-replace"):
        if not record["triggered"]:
            continue  # the run ended before the first replacement was seen
        assert record["outcome"] == "all-new", record
        assert crash.shell_status(record["exit_code"]) in (130, 0), record


@pytest.mark.slow
def test_sigint_during_start_up_gives_no_azfeeds_traceback(report: Any, crash: ModuleType) -> None:
    """Before main() runs, only CPython's own start-up may print a traceback (it cannot be
    caught); once azfeeds code runs (the package import included), SIGINT is an orderly 130."""
    start_up = report.start_up
    assert start_up.probes == 40 and start_up.hangs == 0
    assert start_up.tracebacks == 0, [
        p for r in _records(report, "start-up") for p in r["problems"]
    ]
    assert start_up.bad_exit_codes == 0, report.violations
    for record in _records(report, "start-up"):
        if record["landing"] != "python-start-up":
            assert crash.shell_status(record["exit_code"]) in (130, 0), record


@pytest.mark.slow
def test_no_invariant_is_broken(report: Any) -> None:
    assert report.violations == []
    assert report.ok
    assert report.workdir is None, "a clean run keeps no work directory"
