"""Find the files a run handles (DESIGN.md section 4)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import FileError, UsageError
from .sources import SUPPORTED_NAMES, FileKind, classify

SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__"})


@dataclass(frozen=True)
class Candidate:
    """A file to handle: the path shown to the user, and its kind."""

    path: Path
    kind: FileKind
    explicit: bool = False


@dataclass
class Discovery:
    """What a walk found."""

    files: list[Candidate]
    warnings: list[str]


def _shown(path: Path) -> Path:
    return Path(os.path.normpath(path))


def discover(paths: Sequence[Path], *, recursive: bool, lock: bool) -> Discovery:
    """Files to handle under ``paths`` (default: the current directory)."""
    found: list[Candidate] = []
    warnings: list[str] = []
    seen: set[str] = set()

    def add(candidate: Candidate) -> None:
        try:
            key = os.path.normcase(os.path.realpath(candidate.path))
        except OSError:
            key = str(candidate.path)
        if key in seen:
            return
        if candidate.kind is FileKind.UV_LOCK and not lock:
            return
        seen.add(key)
        found.append(candidate)

    for given in paths or [Path(".")]:
        if not given.exists() and not given.is_symlink():
            raise FileError("no such file or directory", path=given)
        if given.is_dir():
            for candidate in _walk_dir(given, recursive, warnings):
                add(candidate)
            continue
        kind = classify(given, explicit=True)
        if kind is None:
            raise UsageError(
                f"{given}: azfeeds does not know this kind of file",
                hint=f"it handles {SUPPORTED_NAMES}",
            )
        add(Candidate(_shown(given), kind, explicit=True))
        if lock and kind.is_uv_config:
            sibling = given.parent / "uv.lock"
            if sibling.is_file():
                add(Candidate(_shown(sibling), FileKind.UV_LOCK))
    return Discovery(found, warnings)


def _walk_dir(root: Path, recursive: bool, warnings: list[str]) -> Iterator[Candidate]:
    root_real = os.path.realpath(root)
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            warnings.append(f"{_shown(directory)}: skipped, cannot list it ({exc.strerror})")
            continue
        if directory is not root and any(e.name == "pyvenv.cfg" for e in entries):
            continue  # a virtual environment
        subdirs: list[Path] = []
        for entry in entries:
            name = entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if recursive and not name.startswith(".") and name not in SKIP_DIRS:
                    subdirs.append(Path(entry.path))
                continue
            kind = classify(Path(name))
            if kind is None:
                continue
            path = Path(entry.path)
            if is_link:
                target = os.path.realpath(path)
                inside = target == root_real or target.startswith(root_real.rstrip(os.sep) + os.sep)
                if not inside:
                    warnings.append(
                        f"{_shown(path)}: skipped, a symbolic link that points out of the tree"
                    )
                    continue
                if not os.path.isfile(target):
                    continue
            yield Candidate(_shown(path), kind)
        stack.extend(reversed(subdirs))
