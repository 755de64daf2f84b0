"""Run a rewrite end to end: find files, build the table, plan, check, write.

This module has no third-party imports. The feeds API is reached through a ``TableProvider``
callable, so the live client (requests) is imported only when a run needs the network, and
tests can hand in an in-memory fake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .errors import FileError
from .fsio import Snapshot, Transaction, has_nul, read_bytes
from .kinds import load_source
from .kinds.base import CLIENT_LOCKS, FileKind, FilePlan, Role, Site, SourceFile, may_hold_azure
from .planner import Mode, Options, Plan, Planner, table_from_annotations
from .record import Record, Value
from .table import FeedTable, load_maps
from .urls import (
    AzureUrl,
    OrgKey,
    UrlError,
    decode_segment,
    is_uuid,
    parse_azure_url,
    redact_text,
)
from .walk import Candidate, discover

if TYPE_CHECKING:
    from .clientcreds import IndexRef


class OrgRequest(Value):
    """An organization whose feeds a run needs, with the feeds whose views it needs."""

    __slots__ = ("key", "name", "url", "views", "indexes", "feeds", "projects")
    key: Final[OrgKey]
    name: Final[str]
    url: Final[AzureUrl]  # one URL of this organization (host, base, scheme)
    views: Final[frozenset[str]]  # casefolded feed names or ids whose views are needed
    indexes: Final[tuple[IndexRef, ...]]  # its indexes, for each client's own credential
    feeds: Final[frozenset[str]]  # feed names written in name form
    # (casefolded feed name or id, project name) as the URLs and readable names write them: the
    # project names a list without ``project`` keys does not give
    projects: Final[frozenset[tuple[str, str]]]

    def __init__(
        self,
        key: OrgKey,
        name: str,
        url: AzureUrl,
        views: frozenset[str] = frozenset(),
        indexes: tuple[IndexRef, ...] = (),
        feeds: frozenset[str] = frozenset(),
        projects: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.key = key
        self.name = name
        self.url = url
        self.views = views
        self.indexes = indexes
        self.feeds = feeds
        self.projects = projects


TableProvider = Callable[[Sequence[OrgRequest]], FeedTable]


class Workspace(Record):
    """The scanned files of a run."""

    __slots__ = ("sources", "context", "bystanders", "warnings", "scanned", "unread_locks")
    sources: list[SourceFile]
    context: list[SourceFile]  # read for uv.lock consistency only
    # workspace members a run given one member does not handle: read as they are, so that the
    # root's uv.lock keeps the strings they use
    bystanders: list[SourceFile]
    warnings: list[str]
    scanned: int
    # poetry.lock / pdm.lock beside a pyproject.toml with Poetry or PDM sources, seen but not
    # read (a symbolic link out of the tree, a special file, not UTF-8): path -> why
    unread_locks: dict[Path, str]

    def __init__(
        self,
        sources: list[SourceFile] | None = None,
        context: list[SourceFile] | None = None,
        bystanders: list[SourceFile] | None = None,
        warnings: list[str] | None = None,
        scanned: int = 0,
        unread_locks: dict[Path, str] | None = None,
    ) -> None:
        self.sources = [] if sources is None else sources
        self.context = [] if context is None else context
        self.bystanders = [] if bystanders is None else bystanders
        self.warnings = [] if warnings is None else warnings
        self.scanned = scanned
        self.unread_locks = {} if unread_locks is None else unread_locks


def _load(
    candidate: Candidate, pinned: tuple[str, ...], warnings: list[str] | None = None
) -> SourceFile | None:
    """Read a file; scan it only when it may hold an Azure URL (most files cost one read).

    A UTF-16 or UTF-32 file (a byte-order mark) is an error when named on the command line and a
    warning in a walk: azfeeds edits UTF-8 only, and no byte search could see a URL in it.
    """
    resolve = candidate.link or candidate.explicit
    real, data, mode = read_bytes(candidate.name, resolve=resolve)
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        if warnings is not None and not candidate.explicit:
            warnings.append(
                f"{candidate.name}: skipped, UTF-16 or UTF-32 text (azfeeds edits UTF-8)"
            )
            return None
        raise FileError(
            "is UTF-16 or UTF-32 text; azfeeds edits UTF-8 files only (uv reads only UTF-8 too)",
            path=candidate.name,
            hint="convert it to UTF-8 (iconv -f UTF-16 -t UTF-8), then run azfeeds again",
        )
    if not may_hold_azure(data) and not candidate.kind.follows_pyproject:
        return None
    if has_nul(data):
        raise FileError(
            "contains NUL bytes; azfeeds does not edit binary files", path=candidate.name
        )
    path = candidate.path
    snapshot = Snapshot(path, Path(real) if resolve else path, data, mode)
    return load_source(snapshot, candidate.kind, pinned, lazy_lock=True)


Progress = Callable[[str], None]
PROGRESS_EVERY = 500  # files between two progress reports


def load_workspace(
    paths: Sequence[Path],
    *,
    recursive: bool,
    lock: bool,
    pinned: tuple[str, ...] = (),
    progress: Progress | None = None,
    kinds: Mapping[str, FileKind] | None = None,
) -> Workspace:
    """Find and scan files. Files that cannot mention Azure cost one read and no parse.

    ``kinds``: the kind of named files whose name does not tell it (see walk.discover)."""
    found = discover(paths, recursive=recursive, lock=lock, kinds=kinds)
    ws = Workspace(warnings=list(found.warnings))
    seen_dirs: set[Path] = set()
    total = len(found.files)
    client_locks: list[Candidate] = []
    for candidate in found.files:
        if candidate.kind.follows_pyproject:
            client_locks.append(candidate)  # read below, only beside sources of that client
            continue
        source = _load(candidate, pinned, ws.warnings)
        ws.scanned += 1
        if progress is not None and ws.scanned % PROGRESS_EVERY == 0:
            progress(f"scanned {ws.scanned} of {total} files")
        if source is not None:
            ws.sources.append(source)
        if candidate.kind is FileKind.UV_LOCK:
            seen_dirs.add(candidate.path.parent)
    if lock:
        needed = _client_locks_needed(ws.sources)
        for candidate in client_locks:
            if (candidate.path.parent, candidate.kind) in needed:
                source = _load(candidate, pinned, ws.warnings)
                ws.scanned += 1
                if source is not None:
                    ws.sources.append(source)
        _find_unread_locks(ws, needed, found.refused)
    in_run = {c.name for c in found.files if c.kind.is_uv_config}
    for directory in seen_dirs:
        for name in ("pyproject.toml", "uv.toml"):
            sibling = directory / name
            shown = os.path.normpath(sibling)
            if shown in in_run or shown in found.refused or not sibling.is_file():
                continue
            source = _load(Candidate(os.fspath(sibling), FileKind(name)), pinned)
            if source is not None:
                ws.context.append(source)
    for path in found.bystanders:
        source = _load(Candidate(path, FileKind.PYPROJECT), pinned)
        if source is not None:
            ws.bystanders.append(source)
    return ws


def _client_locks_needed(sources: Sequence[SourceFile]) -> set[tuple[Path, FileKind]]:
    """(directory, lock kind) of each poetry.lock / pdm.lock whose content hash a pyproject.toml
    with sources of that client feeds (DESIGN.md section 4a). Other such locks are never read."""
    needed: set[tuple[Path, FileKind]] = set()
    for source in sources:
        if source.kind is FileKind.PYPROJECT:
            roles = {site.role for site in source.sites}
            needed.update((source.path.parent, k) for r, k in CLIENT_LOCKS.items() if r in roles)
    return needed


def _find_unread_locks(
    ws: Workspace, needed: set[tuple[Path, FileKind]], refused: set[str]
) -> None:
    """Record each needed lock that is there but was not read: azfeeds must then leave those
    sources alone, since it cannot check that it keeps the lock true."""
    read = {(s.path.parent, s.kind) for s in ws.sources if s.kind.follows_pyproject}
    for directory, kind in needed - read:
        path = directory / kind.value
        if os.path.normpath(path) in refused:
            ws.unread_locks[path] = "a symbolic link that points out of the tree"
        elif os.path.lexists(path):
            ws.unread_locks[path] = "not a regular UTF-8 file azfeeds could read"


def org_requests(sources: Sequence[SourceFile]) -> list[OrgRequest]:
    """The organizations (and views) that the Azure URLs of these files need."""
    from .clientcreds import ref_for_site  # each client's own credential: network runs only

    found: dict[
        OrgKey, tuple[str, AzureUrl, set[str], dict[tuple[object, ...], IndexRef], set[str]]
    ] = {}
    projects: dict[OrgKey, set[tuple[str, str]]] = {}
    for source in sources:
        sites = source.sites
        if not source.scanned:  # a lazily loaded uv.lock: its organizations, without a parse
            sites = [_bare_site(source, url) for url in source.lock_urls()]
        for site in sites:
            url = site.azure
            if url is None:
                continue
            _, _, views, indexes, feeds = found.setdefault(
                url.org_key, (url.org, url, set(), {}, set())
            )
            if url.view is not None:
                views.add(url.feed_name.casefold())
                ann = source.annotations.get(site.line)
                if ann is not None:
                    views.update(decode_segment(e.feed).casefold() for e in ann.entries if e)
            ref = ref_for_site(site)
            if ref is not None:  # one per distinct credential source (a monorepo repeats them)
                indexes.setdefault(ref.identity, ref)
            if not is_uuid(url.feed):
                feeds.add(url.feed_name)
            named = projects.setdefault(url.org_key, set())
            if url.project_name is not None and not is_uuid(url.project_name):
                named.add((url.feed_name.casefold(), url.project_name))
            ann = source.annotations.get(site.line) if url.project_name is not None else None
            for entry in ann.entries if ann is not None else ():
                if entry is not None and entry.project and not is_uuid(entry.project):
                    named.add(
                        (decode_segment(entry.feed).casefold(), decode_segment(entry.project))
                    )
    return [
        OrgRequest(
            key,
            name,
            first,
            frozenset(views),
            tuple(indexes.values()),
            frozenset(feeds),
            frozenset(projects.get(key, ())),
        )
        for key, (name, first, views, indexes, feeds) in found.items()
    ]


def _bare_site(source: SourceFile, raw: str) -> Site:
    try:
        url = parse_azure_url(raw, source.pinned)
    except UrlError:
        url = None
    return Site(source.path, source.kind, Role.LOCK_REGISTRY, "", 0, 0, 0, raw, url)


def _unique_refs(refs: Sequence[IndexRef]) -> tuple[IndexRef, ...]:
    """The first of each distinct credential source, in order."""
    unique: dict[tuple[object, ...], IndexRef] = {}
    for ref in refs:
        unique.setdefault(ref.identity, ref)
    return tuple(unique.values())


def merge_requests(requests: Sequence[OrgRequest]) -> list[OrgRequest]:
    """One request per organization (views, index names and feeds united)."""
    merged: dict[OrgKey, OrgRequest] = {}
    for request in requests:
        seen = merged.get(request.key)
        if seen is None:
            merged[request.key] = request
            continue
        merged[request.key] = OrgRequest(
            seen.key,
            seen.name,
            seen.url,
            seen.views | request.views,
            _unique_refs((*seen.indexes, *request.indexes)),
            seen.feeds | request.feeds,
            seen.projects | request.projects,
        )
    return list(merged.values())


class RewriteOptions(Value):
    """The options of ``azfeeds rewrite``."""

    __slots__ = (
        "mode",
        "check",
        "diff",
        "recursive",
        "lock",
        "strip_credentials",
        "offline",
        "map_files",
        "pinned",
        "kinds",
    )
    mode: Final[Mode]
    check: Final[bool]
    diff: Final[bool]
    recursive: Final[bool]
    lock: Final[bool]
    strip_credentials: Final[bool]
    offline: Final[bool]
    map_files: Final[tuple[Path, ...]]
    pinned: Final[tuple[str, ...]]
    kinds: Final[tuple[tuple[str, FileKind], ...]]  # (path as given, kind): rewrite --user/--system

    def __init__(
        self,
        mode: Mode = Mode.UUID,
        check: bool = False,
        diff: bool = False,
        recursive: bool = False,
        lock: bool = True,
        strip_credentials: bool = False,
        offline: bool = False,
        map_files: tuple[Path, ...] = (),
        pinned: tuple[str, ...] = (),
        kinds: tuple[tuple[str, FileKind], ...] = (),
    ) -> None:
        self.mode = mode
        self.check = check
        self.diff = diff
        self.recursive = recursive
        self.lock = lock
        self.strip_credentials = strip_credentials
        self.offline = offline
        self.map_files = map_files
        self.pinned = pinned
        self.kinds = kinds


class RewriteResult(Record):
    """What a rewrite did or would do."""

    __slots__ = ("plan", "written", "diff", "scanned", "warnings")
    plan: Plan
    written: list[Path]
    diff: str
    scanned: int
    warnings: list[str]

    def __init__(
        self, plan: Plan, written: list[Path], diff: str, scanned: int, warnings: list[str]
    ) -> None:
        self.plan = plan
        self.written = written
        self.diff = diff
        self.scanned = scanned
        self.warnings = warnings

    @property
    def changed(self) -> bool:
        """True when files changed (or would change)."""
        return self.plan.would_change


def build_table(
    ws: Workspace,
    options: RewriteOptions,
    provider: TableProvider | None,
    map_table: FeedTable | None,
) -> FeedTable:
    """The table a run resolves against."""
    everything = [*ws.sources, *ws.context, *ws.bystanders]
    if map_table is not None or options.offline:
        base = map_table or FeedTable()
        return base.merged_with(table_from_annotations(everything))
    requests = org_requests(everything)
    if not requests:
        return FeedTable()
    if provider is None:  # pragma: no cover - the CLI always passes one
        raise FileError("no feed table: give --map FILE")
    return provider(requests)


def plan_options(options: RewriteOptions, *, with_map: bool) -> Options:
    """The planner's options for a rewrite's options."""
    return Options(
        mode=options.mode,
        strip_credentials=options.strip_credentials,
        lock=options.lock,
        offline=options.offline or with_map,
        with_map=with_map,
        defer_lookups=options.check and options.offline and not with_map,
        quick_lock=options.check and not options.diff,
    )


def new_texts(plan: Plan, pinned: tuple[str, ...]) -> dict[int, str]:
    """The verified new text of every changed file (exit 6 before anything is written)."""
    texts: dict[int, str] = {}
    for fp in plan.changed_files:
        texts[id(fp)] = fp.new_text()
        verify(fp, texts[id(fp)], pinned)
    return texts


def write(plan: Plan, texts: dict[int, str]) -> list[Path]:
    """Write every changed file, all or nothing."""
    transaction = Transaction()
    for fp in plan.changed_files:
        transaction.add(fp.source.snapshot, texts[id(fp)])
    transaction.commit()
    return [fp.source.path for fp in plan.changed_files]


def rewrite(
    paths: Sequence[Path],
    options: RewriteOptions,
    provider: TableProvider | None = None,
    progress: Progress | None = None,
) -> RewriteResult:
    """Plan, verify and (unless --check or --diff) write a rewrite."""
    map_table = load_maps(options.map_files)
    pinned = options.pinned + (map_table.pinned_bases() if map_table else ())
    ws = load_workspace(
        paths,
        recursive=options.recursive,
        lock=options.lock,
        pinned=pinned,
        progress=progress,
        kinds=dict(options.kinds),
    )
    table = build_table(ws, options, provider, map_table)
    planner = Planner(table, plan_options(options, with_map=map_table is not None))
    plan = planner.run(ws.sources, ws.context, ws.unread_locks, ws.bystanders)
    writing = not options.check and not options.diff
    if progress is not None and len(plan.changed_files) >= PROGRESS_EVERY:
        progress(f"checking {len(plan.changed_files)} rewritten files")
    # --check alone needs to know what changes, not the new texts
    texts = new_texts(plan, pinned) if writing or options.diff else {}
    diff = render_diff(plan.changed_files, texts) if options.diff else ""
    written = write(plan, texts) if writing and plan.changed_files else []
    return RewriteResult(plan, written, diff, ws.scanned, ws.warnings)


# -- verification -------------------------------------------------------------------------------


def verify(fp: FilePlan, new: str, pinned: tuple[str, ...]) -> None:
    """Check a file's new text before it is written (exit 6 on any surprise)."""
    fp.source.handler.verify(fp, new, pinned)


# -- diff ---------------------------------------------------------------------------------------


def render_diff(files: Sequence[FilePlan], new_texts: dict[int, str]) -> str:
    """A unified diff of every changed file, with credentials in URLs redacted."""
    from difflib import unified_diff

    chunks: list[str] = []
    for fp in files:
        name = fp.source.path.as_posix()
        old_lines = fp.source.text.splitlines(keepends=True)
        new_lines = new_texts[id(fp)].splitlines(keepends=True)
        for line in unified_diff(old_lines, new_lines, f"a/{name}", f"b/{name}"):
            text = line.rstrip("\r\n")
            chunks.append(redact_text(text) + "\n")
            if not line.endswith("\n"):
                chunks.append("\\ No newline at end of file\n")
    return "".join(chunks)
