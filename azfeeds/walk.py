"""Find the files a run handles (DESIGN.md section 4)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from .errors import FileError, UsageError
from .kinds import SUPPORTED_NAMES, classify
from .kinds.base import FileKind
from .record import Record

SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__"})


class Candidate:
    """A file to handle: the path shown to the user, and its kind.

    A plain slotted class with a string path: a walk of a monorepo makes tens of thousands of
    these, most are read once and dropped, and a frozen dataclass costs several times more.
    """

    __slots__ = ("explicit", "kind", "link", "name")

    def __init__(
        self, name: str, kind: FileKind, explicit: bool = False, link: bool = False
    ) -> None:
        self.name = name
        self.kind = kind
        self.explicit = explicit
        self.link = link  # a symbolic link (resolved when read)

    @property
    def path(self) -> Path:
        """The path as a Path."""
        return Path(self.name)

    def __repr__(self) -> str:
        return f"Candidate({self.name!r}, {self.kind.value})"


class Discovery(Record):
    """What a walk found."""

    __slots__ = ("files", "warnings", "refused", "bystanders")
    files: list[Candidate]
    warnings: list[str]
    # Files the walk refused (symbolic links out of the tree), as normalised paths: never read,
    # not even as the configuration beside a uv.lock.
    refused: set[str]
    # pyproject.toml files of a uv workspace that a run given one member does not handle: the
    # root's uv.lock keeps the strings they use.
    bystanders: list[str]

    def __init__(
        self,
        files: list[Candidate],
        warnings: list[str],
        refused: set[str],
        bystanders: list[str] | None = None,
    ) -> None:
        self.files = files
        self.warnings = warnings
        self.refused = refused
        self.bystanders = [] if bystanders is None else bystanders


def _shown(path: Path | str) -> str:
    return os.path.normpath(path)


def discover(
    paths: Sequence[Path],
    *,
    recursive: bool,
    lock: bool,
    kinds: Mapping[str, FileKind] | None = None,
) -> Discovery:
    """Files to handle under ``paths`` (default: the current directory).

    ``kinds`` gives the kind of named files whose name does not tell it (a client's config file
    outside the project, such as PDM's ``config.toml`` or a file named by ``UV_CONFIG_FILE``),
    keyed by the path as given."""
    found: list[Candidate] = []
    warnings: list[str] = []
    refused: set[str] = set()
    seen: set[str] = set()
    cwd = os.getcwd()

    unkeyed: list[Candidate] = []  # found by the one-tree fast path, not in ``seen`` yet

    def keyof(candidate: Candidate) -> str:
        text = candidate.name
        try:
            if candidate.link or candidate.explicit or text.startswith(".."):
                return os.path.normcase(os.path.realpath(text))
            # already normalised by the walk: no system call needed
            return os.path.normcase(os.path.join(cwd, text))
        except OSError:
            return text

    def add(candidate: Candidate) -> None:
        if unkeyed:
            seen.update(keyof(c) for c in unkeyed)
            unkeyed.clear()
        key = keyof(candidate)
        if key in seen:
            return
        if candidate.kind.is_lock and not lock:
            return
        seen.add(key)
        found.append(candidate)

    roots = list(paths or [Path(".")])
    projects: list[str] = []  # directories given (or holding a given uv file): workspace checks
    for given in roots:
        if _is_dir_given(given):
            walked = list(_walk_dir(given, recursive, warnings, refused))
            walked.sort(key=lambda c: c.name)  # one sort: files in a stable order
            projects.append(os.fspath(given))
            if len(roots) == 1:  # one tree: its paths are unique, no need to compare them
                found.extend(c for c in walked if lock or not c.kind.is_lock)
                unkeyed.extend(found)
                continue
            for candidate in walked:
                add(candidate)
            continue
        kind = (kinds or {}).get(os.fspath(given)) or classify(given, explicit=True)
        if kind is None:
            raise UsageError(
                f"{given}: azfeeds does not know this kind of file",
                hint=f"it handles {SUPPORTED_NAMES}",
            )
        add(Candidate(_shown(given), kind, explicit=True))
        if kind.is_uv_config or kind is FileKind.UV_LOCK:
            projects.append(os.fspath(given.parent))
        if lock and kind.is_uv_config:
            siblings = [FileKind.UV_LOCK]
            if kind is FileKind.PYPROJECT:  # their content hashes cover pyproject.toml
                siblings += [FileKind.POETRY_LOCK, FileKind.PDM_LOCK]
            for sibling_kind in siblings:
                sibling = given.parent / sibling_kind.value
                if sibling.is_file():
                    add(Candidate(_shown(sibling), sibling_kind))
    discovery = Discovery(found, warnings, refused)
    _workspaces(projects, discovery, add, lock)
    return discovery


def _may_be_in_workspace(projects: list[str]) -> bool:
    """Cheap test: does any pyproject.toml in or above these directories mention a workspace?"""
    seen: set[str] = set()
    for project in projects:
        directory = os.path.realpath(project)
        while directory not in seen:
            seen.add(directory)
            candidate = os.path.join(directory, "pyproject.toml")
            try:
                if os.path.isfile(candidate):
                    with open(candidate, "rb") as handle:
                        if b"workspace" in handle.read():
                            return True
            except OSError:
                pass
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
    return False


def _workspaces(
    projects: list[str], discovery: Discovery, add: Callable[[Candidate], None], lock: bool
) -> None:
    """uv workspaces: a root brings its members' pyproject.toml files; a member brings the root's
    uv.lock (and the other members, read as they are, so that the lock keeps their strings)."""
    if not _may_be_in_workspace(projects):
        return  # no pyproject.toml here or above mentions a workspace: nothing to import or glob
    from .uvworkspace import RealPaths, find_root, members, read_workspace

    real = RealPaths()
    in_run: set[str] | None = None  # the real paths of the run's files, made when a member needs it
    for project in dict.fromkeys(projects):
        own = os.path.join(project, "pyproject.toml")
        if os.path.normpath(own) in discovery.refused:
            continue
        table = read_workspace(own)
        if table is not None:
            names = {c.name for c in discovery.files}  # the walk found most members already
            for member in members(project, table, names):
                path = member + os.sep + "pyproject.toml"  # members are normalised paths
                if path not in names and path not in discovery.refused:
                    add(Candidate(path, FileKind.PYPROJECT))
            continue
        root = find_root(project) if lock else None
        if root is None:
            continue
        shown_root = _shown(os.path.relpath(root) if not os.path.isabs(project) else root)
        lock_file = os.path.join(shown_root, "uv.lock")
        if lock and os.path.isfile(lock_file):
            add(Candidate(_shown(lock_file), FileKind.UV_LOCK))
        root_table = read_workspace(os.path.join(shown_root, "pyproject.toml"))
        others = [shown_root, *(members(shown_root, root_table) if root_table else [])]
        if in_run is None:
            in_run = {real(c.name) for c in discovery.files}
        for directory in others:
            path = _shown(os.path.join(directory, "pyproject.toml"))
            if real(path) not in in_run and os.path.isfile(path):
                discovery.bystanders.append(path)


def _is_dir_given(given: Path) -> bool:
    """Whether a path named on the command line is a directory; FileError when it cannot be
    reached (a dangling symbolic link is reached: it is refused later, as a link)."""
    try:
        return stat.S_ISDIR(os.stat(given).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(given):
            return False
        raise FileError("no such file or directory", path=given) from None
    except PermissionError:
        raise FileError(
            "permission denied: a directory on its path cannot be searched",
            path=given,
            hint="check the permissions of its directories (ls -ld)",
        ) from None
    except OSError as exc:
        raise FileError(f"cannot read: {exc.strerror}", path=given) from None


def is_inside(path: str, root_real: str) -> bool:
    """Whether ``path``, its symbolic links resolved, stays in the tree whose real path is
    ``root_real``."""
    target = os.path.realpath(path)
    return target == root_real or target.startswith(root_real.rstrip(os.sep) + os.sep)


def directories(
    root: Path, recursive: bool, warnings: list[str]
) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """The directories a walk of ``root`` visits, each as its path prefix (``""`` for ``.``,
    else the directory and a separator) and its entries.

    Without ``recursive``, only ``root``. Otherwise its subdirectories too, except hidden ones,
    SKIP_DIRS and virtual environments (a ``pyvenv.cfg`` inside); a symbolic link to a directory
    is never entered."""
    top = os.path.normpath(root)
    # paths are built as prefix + name: no normpath per file ("." gives plain relative names)
    stack = [(top, "" if top == os.curdir else top + os.sep)]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            warnings.append(f"{_shown(directory)}: skipped, cannot list it ({exc.strerror})")
            continue
        if directory != top and "pyvenv.cfg" in [e.name for e in entries]:
            continue  # a virtual environment
        if recursive:
            for entry in entries:
                try:
                    if not entry.is_dir(follow_symlinks=False):
                        continue
                except OSError:
                    continue
                name = entry.name
                if name[0] != "." and name not in SKIP_DIRS:
                    path = prefix + name
                    stack.append((path, path + os.sep))
        yield prefix, entries


def _walk_dir(
    root: Path, recursive: bool, warnings: list[str], refused: set[str]
) -> Iterator[Candidate]:
    root_real = os.path.realpath(root)
    for prefix, entries in directories(root, recursive, warnings):
        for entry in entries:
            name = entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                continue
            kind = classify(name)
            if kind is None:
                continue
            if not is_link and not entry.is_file(follow_symlinks=False):
                continue  # a FIFO, socket or device: never opened
            if is_link:
                if not is_inside(entry.path, root_real):
                    warnings.append(
                        f"{prefix + name}: skipped, a symbolic link that points out of the tree"
                    )
                    refused.add(os.path.normpath(prefix + name))
                    continue
                if not os.path.isfile(entry.path):
                    continue
            yield Candidate(prefix + name, kind, False, is_link)
