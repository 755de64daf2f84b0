"""The file kinds azfeeds handles: one module each, found through one registry.

Each registry line names a kind, the module that handles it and the files it claims. Claims are
plain data here, so that walking a tree loads no kind module; a kind's module is imported the
first time a run meets a file of that kind (``handler_for``). A new file kind is one new module
and one line below.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from ..fsio import Snapshot, decode_text, dominant_newline
from .base import FileKind, Kind, SourceFile


class Registration:
    """One kind: its module and the file names it claims (a plain class: the registry is built at
    import, and a dataclass would compile its methods then)."""

    __slots__ = (
        "explicit_suffixes",
        "folded_names",
        "kind",
        "module",
        "names",
        "prefixes",
        "suffixes",
    )

    def __init__(
        self,
        kind: FileKind,
        module: str,
        *,
        names: tuple[str, ...] = (),
        folded_names: tuple[str, ...] = (),
        prefixes: tuple[str, ...] = (),
        suffixes: tuple[str, ...] = (),
        explicit_suffixes: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self.module = module  # module in azfeeds.kinds that defines KIND
        self.names = names  # exact file names
        self.folded_names = folded_names  # file names, any case
        self.prefixes = prefixes  # with ``suffixes``: any case, e.g. requirements*.txt
        self.suffixes = suffixes
        self.explicit_suffixes = explicit_suffixes  # also claimed when named on the command line

    def __repr__(self) -> str:
        return f"Registration({self.kind.value!r}, {self.module!r})"

    def claims(self, name: str, lower: str) -> bool:
        """Whether a file of this name is of this kind (in a walk)."""
        if name in self.names or lower in self.folded_names:
            return True
        return (
            bool(self.prefixes)
            and lower.startswith(self.prefixes)
            and lower.endswith(self.suffixes)
        )


REGISTRY: tuple[Registration, ...] = (
    Registration(FileKind.PYPROJECT, "pyproject", names=("pyproject.toml",)),
    Registration(FileKind.UV_TOML, "uvtoml", names=("uv.toml",)),
    Registration(FileKind.UV_LOCK, "uvlock", names=("uv.lock",)),
    Registration(FileKind.PDM_TOML, "pdmtoml", names=("pdm.toml",)),
    Registration(FileKind.POETRY_LOCK, "poetrylock", names=("poetry.lock",)),
    Registration(FileKind.PDM_LOCK, "pdmlock", names=("pdm.lock",)),
    Registration(
        FileKind.PIP_CONF,
        "pipconf",
        folded_names=("pip.conf", "pip.ini"),
        explicit_suffixes=(".conf", ".ini"),
    ),
    Registration(
        FileKind.REQUIREMENTS,
        "requirements",
        prefixes=("requirements", "constraints"),
        suffixes=(".txt",),
        explicit_suffixes=(".txt", ".in"),
    ),
)

# explicit files: requirements before pip.conf (the order the suffixes were always tried in)
_EXPLICIT_ORDER = (FileKind.REQUIREMENTS, FileKind.PIP_CONF)
_BY_KIND = {r.kind: r for r in REGISTRY}

SUPPORTED_NAMES = (
    "pyproject.toml, uv.toml, uv.lock, pip.conf, pip.ini, requirements*.txt, constraints*.txt,"
    " pdm.toml, poetry.lock, pdm.lock"
)


def classify(path: Path | str, explicit: bool = False) -> FileKind | None:
    """The kind of a file from its name; ``explicit`` files may also match by extension."""
    name = path if isinstance(path, str) else path.name
    lower = name.lower()
    for registration in REGISTRY:
        if registration.claims(name, lower):
            return registration.kind
    if explicit:
        for kind in _EXPLICIT_ORDER:
            if lower.endswith(_BY_KIND[kind].explicit_suffixes):
                return kind
    return None


_HANDLERS: dict[FileKind, Kind] = {}


def handler_for(kind: FileKind) -> Kind:
    """The handler of a kind, its module imported on first use."""
    handler = _HANDLERS.get(kind)
    if handler is None:
        module = import_module(f"{__name__}.{_BY_KIND[kind].module}")
        handler = module.KIND
        assert isinstance(handler, Kind)
        _HANDLERS[kind] = handler
    return handler


def load_source(
    snapshot: Snapshot, kind: FileKind, pinned: tuple[str, ...] = (), *, lazy_lock: bool = False
) -> SourceFile:
    """Decode and scan a file. Raises FileError for undecodable or malformed files.

    With ``lazy_lock``, a lock is only decoded: it is scanned when ``ensure_scanned`` is called,
    which a run does only when one of its strings may have to change.
    """
    text = decode_text(snapshot)
    source = SourceFile(snapshot, kind, text, dominant_newline(text), pinned=pinned)
    handler = handler_for(kind)
    if handler.is_lock and lazy_lock:
        source.scanned = False
        return source
    handler.scan(source, pinned)
    return source
