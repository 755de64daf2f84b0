"""Every case of the hostile-input corpus (tests/hostile_corpus.py): a clear error or a correct result.

For each case the files are built in a fresh directory, every file's bytes, mtime and mode are
recorded, and azfeeds runs in-process. Then:

- never exit 70 and never a traceback; the exit code is the case's;
- an error is exactly one ``azfeeds: error:`` line holding the expected substring, plus at most one
  ``azfeeds: hint:`` line right after it; warning lines appear only where the case expects them;
- on any non-zero exit, every file (and symbolic link, and everything outside the tree) is exactly
  as it was, mtime included; on success, the files the case names hold exactly the expected bytes
  and every other file is untouched; no temporary file is left;
- a secret is never printed, and never copied into more places in the files than it was;
- nothing printed holds a control character (a file's own bytes may show in a --diff only);
- after a successful rewrite, a second run changes nothing;
- a FIFO in the tree is never opened (a watchdog would see a reader, and releases it).

Mode 0000 files and directories are real for other users; root, whom permissions do not stop, gets
the same errors through patched ``os`` calls. Read-only files are real for everyone: as root they
expose a known defect (see the corpus). Cases marked ``defect`` are strict xfails.

A few representative cases also run as real processes, to prove that no traceback escapes end to end.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import json
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from helpers import Result, run_cli, run_proc
from hostile_corpus import (
    BY_NAME,
    CASES,
    Big,
    Case,
    Directory,
    Fifo,
    Link,
    Locked,
    ReadOnly,
    Sparse,
    Unreadable,
)

FIXTURE_MAP = Path(__file__).parent / "fixtures" / "map.json"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # all but tab and newline
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
POSIX = sys.platform != "win32"


def _marks(case: Case) -> list[pytest.MarkDecorator]:
    marks = []
    if case.slow:
        marks.append(pytest.mark.slow)
    if case.posix and not POSIX:
        marks.append(pytest.mark.skip(reason="POSIX symbolic links, FIFOs or permissions"))
    if case.defect and (IS_ROOT or not case.defect_only_as_root):
        marks.append(pytest.mark.xfail(strict=True, reason=f"known defect: {case.defect}"))
    return marks


# -- building the tree ----------------------------------------------------------------------------


def _bytes(content: bytes | Big) -> bytes:
    return content.make() if isinstance(content, Big) else content


def _write(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, (bytes, Big)):
        path.write_bytes(_bytes(content))
    elif isinstance(content, (ReadOnly, Unreadable)):
        path.write_bytes(content.data)
    elif isinstance(content, Sparse):
        with open(path, "wb") as fh:
            fh.write(content.head)
            fh.truncate(content.size)
    elif isinstance(content, Link):
        os.symlink(content.target, path)
    elif isinstance(content, (Directory, Locked)):
        path.mkdir(exist_ok=True)
    elif isinstance(content, Fifo):
        os.mkfifo(path)
    else:  # pragma: no cover - a corpus mistake
        raise TypeError(f"unknown content {content!r}")


class Built:
    """A case's files on disk: the tree (the working directory), what is outside it, the map."""

    def __init__(self, case: Case, base: Path) -> None:
        self.case = case
        self.base = base
        self.tree = base / "tree"
        self.tree.mkdir()
        for name, data in case.outside.items():
            _write(base / "outside" / name, data)
        # parents before children: a Locked or Directory entry may hold other entries
        for name in sorted(case.files, key=lambda n: n.count("/")):
            _write(self.tree / name, case.files[name])
        self.map = FIXTURE_MAP
        if case.map_file is not None:
            self.map = base / "maps" / "map.json"
            _write(self.map, case.map_file)
        for name, content in case.files.items():
            if isinstance(content, ReadOnly):  # real, even for root: that is the point
                (self.tree / name).chmod(0o444)
        self.fifos = self._of(Fifo)
        self.locked = self._of(Locked)
        self.unreadable = self._of(Unreadable)

    def _of(self, kind: type) -> list[Path]:
        return [self.tree / n for n, c in self.case.files.items() if isinstance(c, kind)]

    def args(self) -> list[str]:
        return [str(self.map) if a == "{map}" else a for a in self.case.args]

    @contextmanager
    def permissions(self) -> Iterator[None]:
        """Mode 0000 for Locked and Unreadable entries during the run (simulated for root, whom
        permissions do not stop), then their modes back."""
        if not (self.locked or self.unreadable):
            yield
            return
        if IS_ROOT:
            with _simulated_permissions(self.locked, self.unreadable):
                yield
            return
        modes = {path: stat.S_IMODE(path.stat().st_mode) for path in self.locked + self.unreadable}
        try:
            for path in modes:
                path.chmod(0)
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)


@contextmanager
def _simulated_permissions(locked: list[Path], unreadable: list[Path]) -> Iterator[None]:
    """What a non-root user meets: a mode 0000 directory can be stat'ed but not listed, and
    nothing under it can be stat'ed or opened; a mode 0000 file can be stat'ed, not opened."""
    locked_dirs = [os.path.realpath(p) for p in locked]
    closed_files = {os.path.realpath(p) for p in unreadable}

    def where(path: Any) -> str | None:
        if isinstance(path, int):
            return None
        return os.path.normpath(os.path.join(os.getcwd(), os.fsdecode(os.fspath(path))))

    def under_locked(path: Any) -> bool:
        full = where(path)
        return full is not None and any(full.startswith(d + os.sep) for d in locked_dirs)

    def is_locked_dir(path: Any) -> bool:
        return where(path) in locked_dirs

    def is_closed_file(path: Any) -> bool:
        return where(path) in closed_files

    def never(path: Any) -> bool:
        return False

    def denying(real: Callable[..., Any], also: Callable[[Any], bool]) -> Callable[..., Any]:
        def fake(*args: Any, **kwargs: Any) -> Any:
            path = args[0] if args else kwargs.get("path", kwargs.get("file", "."))
            if under_locked(path) or also(path):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real(*args, **kwargs)

        return fake

    with pytest.MonkeyPatch.context() as patch:  # its own: the test's also holds the environment
        patch.setattr(os, "stat", denying(os.stat, never))
        patch.setattr(os, "lstat", denying(os.lstat, never))
        patch.setattr(os, "scandir", denying(os.scandir, is_locked_dir))
        patch.setattr(os, "listdir", denying(os.listdir, is_locked_dir))
        patch.setattr(os, "open", denying(os.open, is_closed_file))
        patch.setattr(builtins, "open", denying(builtins.open, is_closed_file))
        yield


# -- snapshots ------------------------------------------------------------------------------------


def _snapshot(base: Path) -> dict[str, tuple[object, ...]]:
    """Everything under ``base``: files (digest, mtime, mode), links, directories, FIFOs."""
    found: dict[str, tuple[object, ...]] = {}
    for directory, dirs, names in os.walk(base):
        for name in [*dirs, *names]:
            path = Path(directory, name)
            rel = path.relative_to(base).as_posix()
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[rel] = ("file", digest, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
            else:
                found[rel] = ("special", stat.S_IFMT(st.st_mode))
    return found


# -- FIFO watchdog ---------------------------------------------------------------------------------


class FifoWatch:
    """Notices (and releases) any reader that opens one of the FIFOs."""

    def __init__(self, fifos: list[Path]) -> None:
        self.fifos = fifos
        self.opened: list[Path] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            for fifo in self.fifos:
                try:  # succeeds only while a reader has the FIFO open
                    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
                except OSError:
                    continue
                self.opened.append(fifo)
                os.close(fd)  # the reader sees end of file: no hang

    def __enter__(self) -> FifoWatch:
        if self.fifos:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.fifos:
            self._thread.join()


# -- the checks -----------------------------------------------------------------------------------


def _check_streams(case: Case, result: Result) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.code != 70, f"internal error (a bug):\n{result.stderr}"
    assert result.code == case.code, f"exit {result.code}, expected {case.code}:\n{output}"
    lines = result.stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("azfeeds: error: ")]
    hints = [i for i, line in enumerate(lines) if line.startswith("azfeeds: hint: ")]
    warnings = [line for line in lines if line.startswith("azfeeds: warning: ")]
    if case.code >= 2:
        assert len(errors) == 1, f"expected one error line:\n{result.stderr}"
        stray = [x for i, x in enumerate(lines) if i not in errors + hints and x not in warnings]
        assert not stray, f"lines beside the error and its hint: {stray}\n{result.stderr}"
        assert case.error is not None and case.error in lines[errors[0]], result.stderr
        assert len(hints) <= 1, f"more than one hint line:\n{result.stderr}"
        assert all(i == errors[0] + 1 for i in hints), f"a hint apart:\n{result.stderr}"
    else:
        assert not errors and not hints, result.stderr
    for line in warnings:
        assert any(w in line for w in case.warnings), f"unexpected warning: {line}"
    for expected in case.warnings:
        assert any(expected in line for line in warnings), f"missing warning {expected!r}"
    for note in case.notes:
        assert note in result.stderr, f"missing {note!r} on stderr:\n{result.stderr}"
    for text in case.stdout:
        assert text in result.stdout, f"missing {text!r} on stdout:\n{result.stdout}"
    for secret in case.secrets:
        assert secret not in output, f"the secret {secret!r} was printed"
    shown = result.stderr if "--diff" in case.args else output  # a diff shows the file's bytes
    controls = sorted({c for c in shown if _CONTROL_RE.match(c)})
    assert not controls, f"control characters printed: {controls!r}"
    if "--json" in case.args:
        doc = json.loads(result.stdout)  # exactly one JSON document
        assert doc["exit_code"] == case.code
        if case.code >= 2:
            assert case.error in doc["error"]["message"]


def _count_in_files(base: Path, secret: str) -> int:
    needle = secret.encode()
    count = 0
    for directory, _dirs, names in os.walk(base):
        for name in names:
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                count += path.read_bytes().count(needle)
    return count


def _check_files(
    case: Case, built: Built, before: dict[str, tuple[object, ...]], code: int
) -> dict[str, tuple[object, ...]]:
    after = _snapshot(built.base)
    leftovers = [name for name in after if ".azfeeds-" in name]
    assert not leftovers, f"temporary files left: {leftovers}"
    expected = {f"tree/{name}": _bytes(data) for name, data in case.result.items()}
    if code != 0 or not expected:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"exit {code}, but these changed: {changed}"
        return after
    for key in sorted(set(before) | set(after)):
        if key in expected:
            data = (built.base / key).read_bytes()
            assert data == expected[key], f"{key}: {data[:2000]!r}\n!=\n{expected[key][:2000]!r}"
            assert after[key][3] == before[key][3], f"{key}: mode changed"
        else:
            assert after.get(key) == before.get(key), f"{key} changed, and should not have"
    return after


def run_case(
    case: Case,
    base: Path,
    runner: Callable[[list[str], Path], Result],
) -> None:
    built = Built(case, base)
    before = _snapshot(base)
    secrets_before = {s: _count_in_files(base, s) for s in case.secrets}
    with FifoWatch(built.fifos) as watch, built.permissions():
        result = runner(built.args(), built.tree)
    assert not watch.opened, f"azfeeds opened a FIFO: {watch.opened}"
    _check_streams(case, result)
    after = _check_files(case, built, before, result.code)
    for secret, count in secrets_before.items():
        assert _count_in_files(base, secret) <= count, f"{secret!r} copied into more places"
    writes = case.args[0] == "rewrite" and not {"--check", "--diff"} & set(case.args)
    if result.code == 0 and case.result and writes:
        with FifoWatch(built.fifos) as watch, built.permissions():
            again = runner(built.args(), built.tree)
        assert again.code == 0, again.stderr
        assert _snapshot(base) == after, f"a second run changed files:\n{again.output}"


def _in_process(args: list[str], cwd: Path) -> Result:
    return run_cli(args, cwd=cwd)


def _as_process(args: list[str], cwd: Path) -> Result:
    return run_proc(args, cwd=cwd, timeout=60)


# -- the tests --------------------------------------------------------------------------------------


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 55
    assert sum(1 for c in CASES if c.map_file is not None) >= 10, "hostile map files"


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=_marks(c)) for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    run_case(case, tmp_path, _in_process)


AS_PROCESS = [
    "toml-bare-line",
    "non-utf8-latin1-comment",
    "nul-byte-in-pyproject",
    "credentials-in-an-error",
    "look-alike-host-suffix",
    "map-schema-version-99",
    "map-nested-100k-levels",
    "symlink-out-of-the-tree",
    "fifo-named-pyproject-toml-given-by-name",
    "toml-deep-array-10k-levels",
]


@pytest.mark.parametrize(
    "case", [pytest.param(BY_NAME[n], id=n, marks=_marks(BY_NAME[n])) for n in AS_PROCESS]
)
def test_hostile_input_as_a_process(case: Case, tmp_path: Path) -> None:
    run_case(case, tmp_path, _as_process)
