"""Reading files exactly and writing them atomically, all or nothing.

A run reads every file once into a Snapshot. Writing goes through a Transaction:

1. every new content is written to a temporary file in the target's own directory (same
   file system), with the original's permission bits, and flushed to disk;
2. every target is checked again: if its bytes changed since azfeeds read them, nothing is
   replaced (exit 6) and the other edit survives;
3. the temporary files replace the targets (``os.replace``, atomic on POSIX and Windows);
   if one replace fails, the targets already replaced get their original bytes back.

SIGINT during step 3 is held until the step ends, so files are never left half-replaced.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Final

from .errors import FileError
from .record import Record, Value

TEMP_MARKER = ".azfeeds-"


class Snapshot(Value):
    """A file's bytes and identity at the moment azfeeds read it."""

    __slots__ = ("path", "real", "data", "mode")
    path: Final[Path]  # as shown to the user
    real: Final[Path]  # the file actually written (symbolic links resolved)
    data: Final[bytes]
    mode: Final[int | None]  # permission bits; None: read from the file when it is written

    def __init__(self, path: Path, real: Path, data: bytes, mode: int | None = None) -> None:
        self.path = path
        self.real = real
        self.data = data
        self.mode = mode


def read_bytes(name: str, *, resolve: bool = True) -> tuple[str, bytes, int | None]:
    """(the file actually read, its bytes, its permission bits or None). Raises FileError.

    ``resolve=False`` is for a regular file found by a walk (the walk has checked its type):
    no link to resolve and no extra system call.
    """
    mode: int | None = None
    try:
        real = os.path.realpath(name, strict=True) if resolve else name
        if resolve:
            st = os.stat(real)  # before open: opening a FIFO would block
            if stat.S_ISDIR(st.st_mode):
                raise FileError("is a directory", path=name)
            if not stat.S_ISREG(st.st_mode):
                raise FileError("is not a regular file", path=name)
            mode = stat.S_IMODE(st.st_mode)
        with open(real, "rb") as fh:
            data = fh.read()
    except FileError:
        raise
    except FileNotFoundError:
        raise FileError("no such file", path=name) from None
    except IsADirectoryError:
        raise FileError("is a directory", path=name) from None
    except PermissionError:
        raise FileError("permission denied while reading", path=name) from None
    except OSError as exc:
        raise FileError(f"cannot read: {exc.strerror or exc}", path=name) from None
    return real, data, mode


def read_snapshot(path: Path, shown: Path | None = None, *, resolve: bool = True) -> Snapshot:
    """Read a file into a Snapshot (following a symbolic link to its target)."""
    real, data, mode = read_bytes(os.fspath(path), resolve=resolve)
    return Snapshot(shown or path, Path(real) if resolve else path, data, mode)


def decode_text(snapshot: Snapshot) -> str:
    """UTF-8 text of a snapshot; a BOM stays in the text as U+FEFF so it is written back."""
    try:
        return snapshot.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = snapshot.data.count(b"\n", 0, exc.start) + 1
        raise FileError(
            f"is not valid UTF-8 (byte 0x{snapshot.data[exc.start]:02x})",
            path=snapshot.path,
            line=line,
            hint="save the file as UTF-8",
        ) from None
    except ValueError:  # pragma: no cover - defensive
        raise FileError("cannot be decoded", path=snapshot.path) from None


def dominant_newline(text: str) -> str:
    """The line ending used by most lines (``\\r\\n`` or ``\\n``)."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf * 2 >= text.count("\n") else "\n"


def has_nul(data: bytes) -> bool:
    """Binary content: azfeeds never edits a file holding NUL bytes."""
    return b"\x00" in data


class _Pending(Record):
    __slots__ = ("snapshot", "data", "temp", "replaced")
    snapshot: Snapshot
    data: bytes
    temp: Path | None
    replaced: bool

    def __init__(
        self, snapshot: Snapshot, data: bytes, temp: Path | None = None, replaced: bool = False
    ) -> None:
        self.snapshot = snapshot
        self.data = data
        self.temp = temp
        self.replaced = replaced


class Transaction:
    """All-or-nothing replacement of several files."""

    def __init__(self) -> None:
        self._items: list[_Pending] = []
        self._interrupted = False

    def add(self, snapshot: Snapshot, new_text: str) -> None:
        """Queue a new content for a file."""
        self._items.append(_Pending(snapshot, new_text.encode("utf-8")))

    def __len__(self) -> int:
        return len(self._items)

    def commit(self) -> None:
        """Write everything or nothing. Raises FileError; re-raises KeyboardInterrupt.

        SIGINT is held for the whole commit: one that arrives while temporary files are written
        or checked cancels the commit (temporary files removed, no file replaced); one that
        arrives while files are being replaced lets the replacing finish first. Either way the
        KeyboardInterrupt is raised at the end, and no file is left half-written.
        """
        if not self._items:
            return
        with self._hold_sigint():
            try:
                for item in self._items:
                    self._check_writable(item.snapshot)
                for item in self._items:
                    _remove_stale_temps(item.snapshot.real)
                    item.temp = _write_temp(item.snapshot, item.data)
                    if self._interrupted:
                        raise KeyboardInterrupt
                for item in self._items:
                    _check_unchanged(item.snapshot)
                if self._interrupted:
                    raise KeyboardInterrupt
                self._replace_all()
            except BaseException:
                self._cleanup()
                raise
        if self._interrupted:
            raise KeyboardInterrupt

    def _check_writable(self, snapshot: Snapshot) -> None:
        # No write bit for anyone is read-only too: root, whom os.access always allows, and
        # Windows' read-only attribute (shown as mode 0o444) are refused alike.
        try:
            no_write_bit = os.stat(snapshot.real).st_mode & 0o222 == 0
        except OSError:
            no_write_bit = False  # gone or unreachable: the conflict check says so
        if no_write_bit or not os.access(snapshot.real, os.W_OK):
            raise FileError(
                "is read-only; azfeeds does not replace read-only files",
                path=snapshot.path,
                hint="make it writable (chmod u+w) or leave it out of the run",
            )
        if not os.access(snapshot.real.parent, os.W_OK | os.X_OK):
            raise FileError(
                "its directory is not writable, so it cannot be replaced atomically",
                path=snapshot.path,
            )

    def _replace_all(self) -> None:
        for item in self._items:
            assert item.temp is not None
            try:
                os.replace(item.temp, item.snapshot.real)
            except OSError as exc:
                self._rollback()
                raise FileError(
                    f"cannot replace: {exc.strerror or exc}; every file was left as it was",
                    path=item.snapshot.path,
                ) from None
            item.temp = None
            item.replaced = True
        for directory in {item.snapshot.real.parent for item in self._items}:
            _fsync_dir(directory)

    def _rollback(self) -> None:
        for item in self._items:
            if item.replaced:
                with contextlib.suppress(OSError):
                    temp = _write_temp(item.snapshot, item.snapshot.data)
                    os.replace(temp, item.snapshot.real)
                    item.replaced = False

    def _cleanup(self) -> None:
        for item in self._items:
            if item.temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(item.temp)
                item.temp = None

    @contextlib.contextmanager
    def _hold_sigint(self) -> Iterator[None]:
        """Turn SIGINT into a flag while files are written (main thread only)."""

        def _hold(signum: int, frame: FrameType | None) -> None:
            self._interrupted = True

        try:
            previous = signal.signal(signal.SIGINT, _hold)
        except ValueError:  # not the main thread: nothing to hold
            previous = None
        try:
            yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def write_text(path: Path, text: str) -> None:
    """Write a file of azfeeds' own (a map file) atomically: temporary file, then replace."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    except OSError as exc:
        raise FileError(f"cannot write: {exc.strerror or exc}", path=path) from None
    if path.is_dir():
        raise FileError("is a directory", path=path)
    shown = Snapshot(path, path.absolute(), b"", mode)
    temp = _write_temp(shown, text.encode("utf-8"))
    try:
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise FileError(f"cannot write: {exc.strerror or exc}", path=path) from None


def _remove_stale_temps(target: Path) -> None:
    """Remove temporary files that a killed azfeeds left beside ``target`` (POSIX only: the
    name carries the process id, and a file whose process is gone is stale)."""
    if sys.platform == "win32":
        return
    prefix = f".{target.name}{TEMP_MARKER}"
    try:
        names = [
            n for n in os.listdir(target.parent) if n.startswith(prefix) and n.endswith(".tmp")
        ]
    except OSError:
        return
    for name in names:
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(target.parent / name)
        except OSError:
            continue


def _write_temp(snapshot: Snapshot, data: bytes) -> Path:
    directory = snapshot.real.parent
    base = f".{snapshot.real.name}{TEMP_MARKER}{os.getpid()}-"
    for attempt in range(100):
        temp = directory / f"{base}{attempt}.tmp"
        try:
            fd = os.open(
                temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600
            )
        except FileExistsError:
            continue
        except OSError as exc:
            raise FileError(
                f"cannot create a temporary file beside it: {exc.strerror or exc}",
                path=snapshot.path,
            ) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            mode = snapshot.mode
            if mode is None:
                mode = stat.S_IMODE(os.stat(snapshot.real).st_mode)
            os.chmod(temp, mode)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return temp
    raise FileError("cannot create a temporary file beside it", path=snapshot.path)


def _check_unchanged(snapshot: Snapshot) -> None:
    try:
        with open(snapshot.real, "rb") as fh:
            current = fh.read()
    except OSError:
        current = None
    if current != snapshot.data:
        raise FileError(
            "changed on disk while azfeeds was running; no file was written",
            path=snapshot.path,
            hint="run azfeeds again on the new content",
        )


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
