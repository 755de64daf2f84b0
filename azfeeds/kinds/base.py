"""The vocabulary every file kind shares, and the one small interface a kind implements.

A *kind* (``Kind``) is one module in this package that knows one kind of file:

- which files it claims (declared on its registry line in ``kinds/__init__.py``, so that
  classifying a file name loads no kind module);
- ``scan``: find the index-URL sites in a file, and the readable names azfeeds wrote beside them;
- ``place_readable``: where the readable name of a line's UUID-form URLs goes (a trailing comment,
  or a comment line above for pip.conf);
- ``verify``: check a file's new text before it is written;
- ``twin_edits`` / ``twin_spans``: insert a twin index entry (``--mode add``), find the twins it
  inserted earlier (``--mode names``); only uv configuration has them;
- its lock follow-up: a configuration kind names the lock that follows it (``lock``); a lock kind
  plans its own edits from the configuration's decisions (``follow_up``).

Readable names (``Project/feed[@view]``) are written exactly as the URL's segments were. When one
line holds several UUID-form URLs, the names are listed in their order, comma-separated, with
``?`` for one whose names are unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final

from ..fsio import Snapshot
from ..record import Record, Value
from ..tomlscan import KeyPath, TomlScan
from ..urls import AzureUrl, Readable, UrlError, parse_azure_url, parse_readable

if TYPE_CHECKING:
    from ..errors import FileError

ANNOTATION_PREFIX = "azfeeds:"
TWIN_MARKER = "azfeeds: twin of"
_AZURE_BYTES_RE = re.compile(rb"(?i)/_packaging/")


class FileKind(str, Enum):
    """The kinds of file azfeeds handles (one module each in ``azfeeds.kinds``)."""

    PYPROJECT = "pyproject.toml"
    UV_TOML = "uv.toml"
    UV_LOCK = "uv.lock"
    PIP_CONF = "pip.conf"
    REQUIREMENTS = "requirements"
    PDM_TOML = "pdm.toml"
    POETRY_LOCK = "poetry.lock"
    PDM_LOCK = "pdm.lock"

    @property
    def is_toml(self) -> bool:
        """TOML documents."""
        return self not in (FileKind.PIP_CONF, FileKind.REQUIREMENTS)

    @property
    def is_uv_config(self) -> bool:
        """uv configuration (pyproject.toml or uv.toml)."""
        return self in (FileKind.PYPROJECT, FileKind.UV_TOML)

    @property
    def is_lock(self) -> bool:
        """A lock file (left alone by ``--no-lock``)."""
        return self in (FileKind.UV_LOCK, FileKind.POETRY_LOCK, FileKind.PDM_LOCK)

    @property
    def follows_pyproject(self) -> bool:
        """A lock whose content hash covers pyproject.toml: read even when it names no Azure
        URL (DESIGN.md section 4a)."""
        return self in (FileKind.POETRY_LOCK, FileKind.PDM_LOCK)


class Role(str, Enum):
    """What an URL site is for."""

    UV_INDEX = "uv-index"  # [[tool.uv.index]] / [[index]] url
    UV_PUBLISH = "uv-publish-url"  # ... publish-url
    UV_INDEX_URL = "uv-index-url"  # index-url / extra-index-url (older uv keys, [pip] keys)
    POETRY = "poetry-source"
    PDM = "pdm-source"
    PIP_CONF = "pip-conf"
    REQUIREMENTS = "requirements"
    LOCK_REGISTRY = "lock-registry"
    LOCK_INDEX = "lock-index"

    @property
    def in_lock(self) -> bool:
        """A lock file string."""
        return self in (Role.LOCK_REGISTRY, Role.LOCK_INDEX)


# The lock whose content hash covers a pyproject.toml's sources of each client (DESIGN.md 4a).
CLIENT_LOCKS: Final = {Role.POETRY: FileKind.POETRY_LOCK, Role.PDM: FileKind.PDM_LOCK}


# -- what a scan finds --------------------------------------------------------------------------


class Annotation(Record):
    """A readable-name comment written by azfeeds, and the span that holds it."""

    __slots__ = ("line", "start", "end", "entries")
    line: int  # the line of the URL(s) it names
    start: int  # span to replace or remove
    end: int
    entries: tuple[Readable | None, ...]

    def __init__(
        self, line: int, start: int, end: int, entries: tuple[Readable | None, ...]
    ) -> None:
        self.line = line
        self.start = start
        self.end = end
        self.entries = entries


class Site(Value):
    """One index URL in a file."""

    __slots__ = (
        "path",
        "kind",
        "role",
        "key",
        "line",
        "start",
        "end",
        "url",
        "azure",
        "problem",
        "index_name",
        "entry",
        "keypath",
    )
    path: Final[Path]
    kind: Final[FileKind]
    role: Final[Role]
    key: Final[str]  # human key, e.g. "tool.uv.index[0].url"
    line: Final[int]
    start: Final[int]  # offsets of the URL text inside the file text
    end: Final[int]
    url: Final[str]
    azure: Final[AzureUrl | None]
    problem: Final[str | None]  # why this Azure-shaped URL cannot be rewritten
    index_name: Final[str | None]
    entry: Final[KeyPath | None]  # key path of the index table that holds it (uv indexes)
    keypath: Final[KeyPath]  # TOML key path of the string

    def __init__(
        self,
        path: Path,
        kind: FileKind,
        role: Role,
        key: str,
        line: int,
        start: int,
        end: int,
        url: str,
        azure: AzureUrl | None,
        problem: str | None = None,
        index_name: str | None = None,
        entry: KeyPath | None = None,
        keypath: KeyPath = (),
    ) -> None:
        self.path = path
        self.kind = kind
        self.role = role
        self.key = key
        self.line = line
        self.start = start
        self.end = end
        self.url = url
        self.azure = azure
        self.problem = problem
        self.index_name = index_name
        self.entry = entry
        self.keypath = keypath

    @property
    def location(self) -> str:
        """``file:line``."""
        return f"{self.path}:{self.line}"


class SourceFile(Record):
    """A scanned file."""

    __slots__ = (
        "snapshot",
        "kind",
        "text",
        "newline",
        "sites",
        "annotations",
        "toml",
        "pinned",
        "scanned",
    )
    snapshot: Snapshot
    kind: FileKind
    text: str
    newline: str
    sites: list[Site]
    annotations: dict[int, Annotation]
    toml: TomlScan | None
    pinned: tuple[str, ...]
    scanned: bool  # False for a lock not scanned yet (see ensure_scanned)

    def __init__(
        self,
        snapshot: Snapshot,
        kind: FileKind,
        text: str,
        newline: str,
        sites: list[Site] | None = None,
        annotations: dict[int, Annotation] | None = None,
        toml: TomlScan | None = None,
        pinned: tuple[str, ...] = (),
        scanned: bool = True,
    ) -> None:
        self.snapshot = snapshot
        self.kind = kind
        self.text = text
        self.newline = newline
        self.sites = [] if sites is None else sites
        self.annotations = {} if annotations is None else annotations
        self.toml = toml
        self.pinned = pinned
        self.scanned = scanned

    @property
    def handler(self) -> Kind:
        """The module-level ``Kind`` that handles this file (imported on first use)."""
        from . import handler_for

        return handler_for(self.kind)

    def ensure_scanned(self) -> None:
        """Scan a lazily loaded lock now (the first time its sites are needed)."""
        if not self.scanned:
            self.scanned = True
            self.handler.scan(self, self.pinned)

    def lock_urls(self) -> list[str]:
        """Azure URLs of a lock file, by a cheap search (no parse)."""
        return self.handler.lock_urls(self)

    @property
    def path(self) -> Path:
        """The path as shown."""
        return self.snapshot.path

    def line_span(self, line: int) -> tuple[int, int]:
        """Offsets of a line's content (without its line ending)."""
        if self.toml is not None:
            return self.toml.line_span(line)
        return line_span(self.text, line)


# -- what a plan changes ------------------------------------------------------------------------


class Action(str, Enum):
    """What a change does."""

    REWRITE = "rewrite"  # name form -> UUID form, or back
    RECREATED = "recreated"  # a UUID URL moved to the new UUID of a recreated feed
    RENAMED = "renamed"  # the readable name follows a renamed project, feed or view
    STRIP = "strip-credentials"
    ADD_TWIN = "add-twin"
    REMOVE_TWIN = "remove-twin"
    LOCK = "lock"


class Change(Value):
    """One planned change, as reported (URLs redacted)."""

    __slots__ = (
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
    )
    path: Final[Path]
    line: Final[int]
    key: Final[str]
    action: Final[Action]
    old: Final[str]
    new: Final[str]
    old_form: Final[str]
    new_form: Final[str]
    organization: Final[str]
    note: Final[str | None]

    def __init__(
        self,
        path: Path,
        line: int,
        key: str,
        action: Action,
        old: str,
        new: str,
        old_form: str,
        new_form: str,
        organization: str,
        note: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.action = action
        self.old = old
        self.new = new
        self.old_form = old_form
        self.new_form = new_form
        self.organization = organization
        self.note = note


class Edit(Record):
    """Replace ``text[start:end]`` with ``text``."""

    __slots__ = ("start", "end", "text")
    start: int
    end: int
    text: str

    def __init__(self, start: int, end: int, text: str) -> None:
        self.start = start
        self.end = end
        self.text = text


class ValueEdit(Record):
    """A string value to change at a TOML key path (for the tomlkit check)."""

    __slots__ = ("path", "value")
    path: KeyPath
    value: str

    def __init__(self, path: KeyPath, value: str) -> None:
        self.path = path
        self.value = value


class TwinEdit(Record):
    """A twin table to insert after the entry at ``after`` (for the tomlkit check)."""

    __slots__ = ("after", "name", "url")
    after: KeyPath
    name: str
    url: str

    def __init__(self, after: KeyPath, name: str, url: str) -> None:
        self.after = after
        self.name = name
        self.url = url


class FilePlan(Record):
    """Everything that changes in one file."""

    __slots__ = ("source", "edits", "value_edits", "twins", "removed_twins", "url_changes")
    source: SourceFile
    edits: list[Edit]
    value_edits: list[ValueEdit]
    twins: list[TwinEdit]
    removed_twins: list[KeyPath]
    url_changes: dict[str, str]  # old url -> new url (for checks)

    def __init__(
        self,
        source: SourceFile,
        edits: list[Edit] | None = None,
        value_edits: list[ValueEdit] | None = None,
        twins: list[TwinEdit] | None = None,
        removed_twins: list[KeyPath] | None = None,
        url_changes: dict[str, str] | None = None,
    ) -> None:
        self.source = source
        self.edits = [] if edits is None else edits
        self.value_edits = [] if value_edits is None else value_edits
        self.twins = [] if twins is None else twins
        self.removed_twins = [] if removed_twins is None else removed_twins
        self.url_changes = {} if url_changes is None else url_changes

    @property
    def changed(self) -> bool:
        """True when the file's bytes change."""
        return bool(self.edits)

    def new_text(self) -> str:
        """The file's new text (one pass over the original, whatever the number of edits)."""
        text = self.source.text
        parts: list[str] = []
        at = 0
        for edit in sorted(self.edits, key=lambda e: (e.start, e.end)):
            parts.append(text[at : edit.start])
            parts.append(edit.text)
            at = edit.end
        parts.append(text[at:])
        return "".join(parts)


class LockInputs(Record):
    """What the configuration's decisions mean for a lock (built by the planner)."""

    __slots__ = ("mapping", "recreated", "config_urls", "quick", "sync_target")
    mapping: dict[str, str]  # configuration URL -> its new URL
    recreated: dict[str, str]  # URL of a recreated feed -> the new URL (the lock keeps the old)
    config_urls: set[str]  # every final configuration URL
    quick: bool  # nothing is written or shown: plan from a search when that suffices
    sync_target: Callable[[Site], str | None]  # the one configuration URL of a lock URL's feed

    def __init__(
        self,
        mapping: dict[str, str],
        recreated: dict[str, str],
        config_urls: set[str],
        quick: bool,
        sync_target: Callable[[Site], str | None],
    ) -> None:
        self.mapping = mapping
        self.recreated = recreated
        self.config_urls = config_urls
        self.quick = quick
        self.sync_target = sync_target


class LockPlan(Record):
    """A lock's follow-up: its file plan, its reported changes, the actions left to the user."""

    __slots__ = ("file", "changes", "actions")
    file: FilePlan
    changes: list[Change]
    actions: list[str]

    def __init__(
        self,
        file: FilePlan,
        changes: list[Change] | None = None,
        actions: list[str] | None = None,
    ) -> None:
        self.file = file
        self.changes = [] if changes is None else changes
        self.actions = [] if actions is None else actions


class Twin(Record):
    """A twin index to insert (add mode): after the entry of ``site``."""

    __slots__ = ("site", "name", "base_name", "url")
    site: Site
    name: str  # the twin's index name
    base_name: str  # the original's index name
    url: str  # UUID form, no userinfo

    def __init__(self, site: Site, name: str, base_name: str, url: str) -> None:
        self.site = site
        self.name = name
        self.base_name = base_name
        self.url = url


class TwinSpan(Record):
    """A twin entry azfeeds added earlier: the text spans whose removal takes it out, its key
    path and its line."""

    __slots__ = ("spans", "path", "line")
    spans: tuple[tuple[int, int], ...]
    path: KeyPath
    line: int

    def __init__(self, spans: tuple[tuple[int, int], ...], path: KeyPath, line: int) -> None:
        self.spans = spans
        self.path = path
        self.line = line


# -- the interface ------------------------------------------------------------------------------


class Kind:
    """One kind of file. Subclasses override what differs; the defaults suit a plain text file
    whose readable name is a trailing comment on the URL's own line."""

    kind: ClassVar[FileKind]
    is_lock: ClassVar[bool] = False  # planned after the configuration, from its decisions
    lock: ClassVar[FileKind | None] = None  # the lock that follows this configuration
    toml_values: ClassVar[bool] = False  # edits are also checked as TOML values (tomlkit)
    twins: ClassVar[bool] = False  # --mode add can insert twin index entries here
    annotates: ClassVar[bool] = True  # readable names are written beside UUID-form URLs

    def scan(self, source: SourceFile, pinned: tuple[str, ...]) -> None:
        """Fill ``source.sites`` and ``source.annotations``. Raises FileError on a bad file."""
        raise NotImplementedError

    def place_readable(
        self, source: SourceFile, line: int, ann: Annotation | None, entries: list[str]
    ) -> list[Edit]:
        """Edits that write ``entries`` as the readable name of ``line`` (none: remove it)."""
        if ann is not None:
            return [
                Edit(ann.start, ann.end, ("  " + format_annotation(entries)) if entries else "")
            ]
        if entries:
            _, end = source.line_span(line)
            return [Edit(end, end, "  " + format_annotation(entries))]
        return []

    def verify(self, fp: FilePlan, new: str, pinned: tuple[str, ...]) -> None:
        """Check ``new`` before it is written: it must read back with the planned URLs."""
        from . import load_source

        source = fp.source
        snapshot = Snapshot(source.path, source.snapshot.real, new.encode("utf-8"))
        rescanned = load_source(snapshot, source.kind, pinned)
        expected = [(s.key, fp.url_changes.get(s.url, s.url)) for s in source.sites]
        if expected != [(s.key, s.url) for s in rescanned.sites]:
            raise bug(fp, "the rewritten file does not read back as planned")

    # -- add mode (uv configuration) ----------------------------------------------------------

    def twin_edits(self, source: SourceFile, twin: Twin, readable: str) -> list[Edit] | str:
        """The edits that insert a twin entry, or the reason why this entry cannot take one."""
        return "--mode add applies to uv configuration only"

    def twin_spans(self, source: SourceFile) -> list[TwinSpan]:
        """The twin entries azfeeds added earlier (removed by ``--mode names``)."""
        return []

    # -- locks ----------------------------------------------------------------------------------

    def lock_urls(self, source: SourceFile) -> list[str]:
        """A lock's Azure URLs by a cheap search (locks only)."""
        return []

    def follow_up(self, lock: SourceFile, inputs: LockInputs) -> LockPlan:
        """A lock's edits that follow the configuration (locks only)."""
        return LockPlan(FilePlan(lock))


# -- shared helpers -----------------------------------------------------------------------------


def may_hold_azure(data: bytes) -> bool:
    """Cheap byte test before any parse: does the file mention ``/_packaging/`` at all?"""
    return _AZURE_BYTES_RE.search(data) is not None


def lines(text: str) -> Iterator[tuple[int, int, str]]:
    """(line number, start offset, content without line ending)."""
    start = 0
    number = 1
    n = len(text)
    while start <= n:
        nl = text.find("\n", start)
        end = n if nl < 0 else nl
        content_end = end - 1 if end > start and text[end - 1] == "\r" else end
        yield number, start, text[start:content_end]
        if nl < 0:
            return
        start = nl + 1
        number += 1


def line_span(text: str, line: int) -> tuple[int, int]:
    """Offsets of a line's content (without its line ending)."""
    start = 0
    for _ in range(line - 1):
        start = text.index("\n", start) + 1
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    if end > start and text[end - 1] == "\r":
        end -= 1
    return start, end


def azure_or_problem(url: str, pinned: tuple[str, ...]) -> tuple[AzureUrl | None, str | None, bool]:
    """(parsed, problem, is_azure)."""
    try:
        parsed = parse_azure_url(url, pinned)
    except UrlError as exc:
        return None, str(exc), True
    return parsed, None, parsed is not None


def entries(text: str) -> tuple[Readable | None, ...]:
    """The entries of an annotation's text."""
    return tuple(parse_readable(part) for part in text.split(","))


def format_annotation(names: Iterable[str]) -> str:
    """The comment text azfeeds writes: ``# azfeeds: A, B``."""
    return f"# {ANNOTATION_PREFIX} " + ", ".join(names)


def annotation_start(text: str, hash_at: int) -> int:
    """Where an inline annotation starts: azfeeds writes two spaces before its '#'."""
    ws = hash_at
    while ws > 0 and text[ws - 1] in " \t":
        ws -= 1
    return hash_at - 2 if hash_at - ws >= 2 else ws


def bug(fp: FilePlan, message: str) -> FileError:
    """The error of a verification that failed (nothing is written)."""
    from ..errors import FileError

    return FileError(
        f"{message}; nothing was written",
        path=fp.source.path,
        hint="this is a bug in azfeeds: please report it with the file's layout",
    )


_ENV_RE = re.compile(r"[^A-Za-z0-9]")


def env_name(index_name: str) -> str:
    """The ``<NAME>`` of ``UV_INDEX_<NAME>_USERNAME``: upper case, non-alphanumerics -> ``_``."""
    return _ENV_RE.sub("_", index_name).upper()


def credential_variables(site: Site) -> tuple[str, str] | None:
    """The (user name, password) environment variables of a named uv index (``UV_INDEX_<NAME>_*``);
    other clients' places are in ``clientcreds``."""
    name = site.index_name
    if not name or site.role not in (Role.UV_INDEX, Role.UV_PUBLISH):
        return None
    env = env_name(name)
    return f"UV_INDEX_{env}_USERNAME", f"UV_INDEX_{env}_PASSWORD"


def credential_hint(site: Site) -> str:
    """How to give the credentials of this site instead of writing them into its URL (a phrase
    that starts with a verb), in the words of the client that reads the site."""
    variables = credential_variables(site)
    if variables is not None:
        return f"set {variables[0]} and {variables[1]}"
    if site.role is Role.UV_INDEX_URL:
        return (
            "use a named [[tool.uv.index]] entry with UV_INDEX_<NAME>_USERNAME/PASSWORD, or keyring"
        )
    # Poetry, PDM and pip: the place that client reads (never netrc: one login per host cannot
    # serve two organizations on one host)
    from ..clientcreds import ref_for_site, where_to_set, without_userinfo

    ref = ref_for_site(site)
    return f"set {where_to_set(without_userinfo(ref))}" if ref is not None else "use a keyring"
