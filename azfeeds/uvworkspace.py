"""uv workspaces as uv sees them (DESIGN.md section 4).

A workspace root is a ``pyproject.toml`` with ``[tool.uv.workspace]``. Its members are the
directories its ``members`` globs match, minus those its ``exclude`` globs match, that hold a
``pyproject.toml``; the workspace has one ``uv.lock``, the root's. From a project, uv finds its
root by looking at the nearest ``pyproject.toml`` above it, and only that one: when it declares
a workspace that includes the project (and does not exclude it), that is the root; anything else
(no workspace table, a plain project, an exclusion) means the project stands alone.

Read with the package's own TOML scanner: no third-party import.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Collection
from typing import Final

from .record import Value
from .tomlscan import KeyPath, TomlSyntaxError, scan_toml

_WORKSPACE: KeyPath = ("tool", "uv", "workspace")


class WorkspaceTable(Value):
    """The ``[tool.uv.workspace]`` of a root."""

    __slots__ = ("members", "exclude")
    members: Final[tuple[str, ...]]
    exclude: Final[tuple[str, ...]]

    def __init__(self, members: tuple[str, ...], exclude: tuple[str, ...]) -> None:
        self.members = members
        self.exclude = exclude


class RealPaths:
    """``os.path.realpath`` for many paths in few directories (a workspace's members, a walk's
    files): each directory is resolved once and listed once (which of its entries are links),
    so a path in it costs no system call instead of one per component. Outside POSIX, plain
    ``realpath``."""

    def __init__(self) -> None:
        self._directories: dict[str, tuple[str, frozenset[str]] | None] = {}

    def _directory(self, head: str) -> tuple[str, frozenset[str]] | None:
        if head not in self._directories:
            try:
                with os.scandir(head or os.curdir) as entries:
                    links = frozenset(e.name for e in entries if e.is_symlink())
                self._directories[head] = (os.path.realpath(head or os.curdir), links)
            except OSError:
                self._directories[head] = None
        return self._directories[head]

    def __call__(self, path: str) -> str:
        head, tail = os.path.split(path)
        known = None if tail in ("", ".", "..") or os.name != "posix" else self._directory(head)
        if known is None or tail in known[1]:
            return os.path.realpath(path)
        real_head = known[0]
        return real_head + tail if real_head.endswith(os.sep) else real_head + os.sep + tail


def _keep(path: KeyPath, value: str) -> bool:
    return path[:3] == _WORKSPACE


def read_workspace(pyproject: str) -> WorkspaceTable | None:
    """The workspace table of a ``pyproject.toml`` file; None when it declares none (or cannot be
    read: the run reports a malformed file where it handles it)."""
    if not os.path.isfile(pyproject):  # never opens a FIFO or a device
        return None
    try:
        with open(pyproject, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    if b"workspace" not in data:
        return None
    try:
        scan = scan_toml(data.decode("utf-8-sig"), _keep)
    except (TomlSyntaxError, UnicodeDecodeError):
        return None
    declared = any(t.path == _WORKSPACE for t in scan.tables) or any(
        s.path[:3] == _WORKSPACE for s in scan.strings
    )
    if not declared:
        return None
    members = tuple(s.value for s in scan.strings if s.path[:4] == (*_WORKSPACE, "members"))
    exclude = tuple(s.value for s in scan.strings if s.path[:4] == (*_WORKSPACE, "exclude"))
    return WorkspaceTable(members, exclude)


def _expand(root: str, patterns: tuple[str, ...], real: RealPaths | None = None) -> set[str]:
    """Real paths of the directories the globs match, relative to ``root``."""
    real = real or RealPaths()
    out: set[str] = set()
    base = glob.escape(root)
    for pattern in patterns:
        cleaned = pattern.strip().rstrip("/\\")
        if not cleaned or os.path.isabs(cleaned):
            continue
        for match in glob.glob(os.path.join(base, cleaned), recursive=True):
            if os.path.isdir(match):
                out.add(real(match))
    return out


def members(root: str, table: WorkspaceTable, files: Collection[str] = ()) -> list[str]:
    """The member directories of the workspace at ``root`` (not the root), as paths under
    ``root``, sorted; each holds a ``pyproject.toml``. ``files``: regular files known to be
    there (a walk's, its paths built the same way from ``root``): no need to stat those."""
    real = RealPaths()
    real_root = os.path.realpath(root)
    excluded = _expand(root, table.exclude, real)
    found: dict[str, str] = {}
    base = glob.escape(root)
    for pattern in table.members:
        cleaned = pattern.strip().rstrip("/\\")
        if not cleaned or os.path.isabs(cleaned):
            continue
        for match in glob.glob(os.path.join(base, cleaned), recursive=True):
            resolved = real(match)
            if resolved == real_root or resolved in excluded or resolved in found:
                continue
            member = os.path.normpath(match)
            pyproject = member + os.sep + "pyproject.toml"  # glob's matches end in a name
            if pyproject in files or os.path.isfile(pyproject):
                found[resolved] = member
    return sorted(found.values())


def find_root(project_dir: str) -> str | None:
    """The workspace root of the project in ``project_dir``, as uv finds it; None when the
    project is not a member of a workspace (or is itself the root)."""
    real = os.path.realpath(project_dir)
    current = real
    while True:
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
        candidate = os.path.join(current, "pyproject.toml")
        if not os.path.isfile(candidate):
            continue
        table = read_workspace(candidate)
        if table is None:
            return None  # a plain project (or an odd file) above: uv stops there
        if real in _expand(current, table.exclude):
            return None
        if real in _expand(current, table.members):
            return current
        return None
