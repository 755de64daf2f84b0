"""Plan a rewrite: decide every change in every file before anything is written.

Pure logic over scanned files and a FeedTable. Nothing here touches the network or writes files;
``apply`` (in ``engine``) does that. Any lookup failure raises before a single file is written.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .errors import FeedLookupError
from .kinds.base import (
    CLIENT_LOCKS,
    Action,
    Annotation,
    Change,
    Edit,
    FileKind,
    FilePlan,
    LockInputs,
    Role,
    Site,
    SourceFile,
    Twin,
    TwinEdit,
    TwinSpan,
    ValueEdit,
    credential_hint,
    env_name,
)
from .record import Record, Value
from .table import Feed, FeedTable, Organization, Project, View
from .tomlscan import KeyPath
from .urls import (
    AzureUrl,
    OrgKey,
    Readable,
    decode_segment,
    encode_name,
    format_readable,
    is_uuid,
    look_alike_warning,
    parse_readable,
    redact_text,
    split_userinfo,
)

if TYPE_CHECKING:
    from .kinds.clientlock import ClientLock
    from .kinds.lockhash import HashVariant

__all__ = [
    "Action",
    "Change",
    "Edit",
    "FilePlan",
    "Mode",
    "Options",
    "Plan",
    "Planner",
    "Skipped",
    "Stripped",
    "TwinEdit",
    "TwinVariables",
    "ValueEdit",
    "credential_hint",
    "env_name",
    "table_from_annotations",
]


class Mode(str, Enum):
    """Rewrite modes (DESIGN.md section 2.3)."""

    UUID = "uuid"
    ADD = "add"
    NAMES = "names"


class Skipped(Value):
    """A site left alone, with the reason."""

    __slots__ = ("path", "line", "key", "url", "reason")
    path: Final[Path]
    line: Final[int]
    key: Final[str]
    url: Final[str]
    reason: Final[str]

    def __init__(self, path: Path, line: int, key: str, url: str, reason: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.url = url
        self.reason = reason


class Stripped(Value):
    """A site whose password --strip-credentials removed, and what to set instead."""

    __slots__ = ("path", "line", "key", "hint")
    path: Final[Path]
    line: Final[int]
    key: Final[str]
    hint: Final[str]

    def __init__(self, path: Path, line: int, key: str, hint: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.hint = hint


class TwinVariables(Value):
    """The credential variables a twin index needs."""

    __slots__ = ("index", "twin_of", "username_variable", "password_variable")
    index: Final[str]
    twin_of: Final[str]
    username_variable: Final[str]
    password_variable: Final[str]

    def __init__(
        self, index: str, twin_of: str, username_variable: str, password_variable: str
    ) -> None:
        self.index = index
        self.twin_of = twin_of
        self.username_variable = username_variable
        self.password_variable = password_variable


class Plan(Record):
    """The whole run."""

    __slots__ = (
        "mode",
        "files",
        "changes",
        "skipped",
        "warnings",
        "variables",
        "stripped",
        "actions",
        "unresolved",
    )
    mode: Mode
    files: list[FilePlan]
    changes: list[Change]
    skipped: list[Skipped]
    warnings: list[str]
    variables: list[TwinVariables]
    stripped: list[Stripped]  # --strip-credentials: what instead
    actions: list[str]
    unresolved: list[Change]  # offline --check: known to need work

    def __init__(
        self,
        mode: Mode,
        files: list[FilePlan] | None = None,
        changes: list[Change] | None = None,
        skipped: list[Skipped] | None = None,
        warnings: list[str] | None = None,
        variables: list[TwinVariables] | None = None,
        stripped: list[Stripped] | None = None,
        actions: list[str] | None = None,
        unresolved: list[Change] | None = None,
    ) -> None:
        self.mode = mode
        self.files = [] if files is None else files
        self.changes = [] if changes is None else changes
        self.skipped = [] if skipped is None else skipped
        self.warnings = [] if warnings is None else warnings
        self.variables = [] if variables is None else variables
        self.stripped = [] if stripped is None else stripped
        self.actions = [] if actions is None else actions
        self.unresolved = [] if unresolved is None else unresolved

    @property
    def changed_files(self) -> list[FilePlan]:
        """Files whose bytes change."""
        return [f for f in self.files if f.changed]

    @property
    def would_change(self) -> bool:
        """True when --check must fail."""
        return bool(self.changed_files) or bool(self.unresolved)


class Options(Record):
    """How to plan."""

    __slots__ = (
        "mode",
        "strip_credentials",
        "lock",
        "offline",
        "defer_lookups",
        "with_map",
        "quick_lock",
    )
    mode: Mode
    strip_credentials: bool
    lock: bool
    offline: bool  # no network table: resolve from the map and readable names only
    defer_lookups: bool  # --check --offline without a map: name form counts as a change
    with_map: bool  # the table came from a map file (--map)
    quick_lock: bool  # nothing is written or shown: plan uv.lock from a search, no parse

    def __init__(
        self,
        mode: Mode = Mode.UUID,
        strip_credentials: bool = False,
        lock: bool = True,
        offline: bool = False,
        defer_lookups: bool = False,
        with_map: bool = False,
        quick_lock: bool = False,
    ) -> None:
        self.mode = mode
        self.strip_credentials = strip_credentials
        self.lock = lock
        self.offline = offline
        self.defer_lookups = defer_lookups
        self.with_map = with_map
        self.quick_lock = quick_lock


# -- identities -------------------------------------------------------------------------------


class Identity(Value):
    """What an index URL points at, whatever its form."""

    __slots__ = ("org", "feed_id", "view_id", "endpoint")
    org: Final[OrgKey]
    feed_id: Final[str]
    view_id: Final[str | None]
    endpoint: Final[str]

    def __init__(self, org: OrgKey, feed_id: str, view_id: str | None, endpoint: str) -> None:
        self.org = org
        self.feed_id = feed_id
        self.view_id = view_id
        self.endpoint = endpoint


class Resolved(Record):
    """A URL resolved against the table."""

    __slots__ = ("org", "project", "feed", "view")
    org: Organization
    project: Project | None
    feed: Feed
    view: View | None

    def __init__(
        self, org: Organization, project: Project | None, feed: Feed, view: View | None
    ) -> None:
        self.org = org
        self.project = project
        self.feed = feed
        self.view = view

    def identity(self, url: AzureUrl) -> Identity:
        """The identity of the resolved URL."""
        return Identity(
            url.org_key,
            self.feed.id,
            self.view.id if self.view else None,
            url.endpoint.lower(),
        )

    def uuid_url(self, url: AzureUrl) -> AzureUrl:
        """``url`` with UUID segments."""
        return url.with_segments(
            self.project.id if url.project is not None and self.project else url.project,
            self.feed.id,
            self.view.id if url.view is not None and self.view else url.view,
        )

    def names_readable(self, url: AzureUrl) -> str:
        """Current names, encoded as URL segments, in the shape of ``url``."""
        project = (
            encode_name(self.project.name) if url.project is not None and self.project else None
        )
        view = encode_name(self.view.name) if url.view is not None and self.view else None
        return format_readable(project, encode_name(self.feed.name), view, url.view_sep or "@")

    def follow(self, url: AzureUrl, written: Readable) -> str:
        """``written`` (a readable name, in the shape of ``url``) kept segment by segment where it
        still denotes the same project, feed or view, exactly as written: a name that matches
        (any case, ``%20``) or the object's UUID (mixed form). Where it does not (a rename), the
        current name."""
        project = None
        if url.project is not None and self.project is not None:
            project = _kept(written.project, self.project.id, self.project.name)
        view = None
        if url.view is not None and self.view is not None:
            view = _kept(written.view, self.view.id, self.view.name)
        feed = _kept(written.feed, self.feed.id, self.feed.name)
        return format_readable(project, feed, view, written.view_sep or url.view_sep or "@")


def _named(segment: str, known: str | None) -> str:
    """The name a readable segment gives an object: a UUID segment gives none, so a name known
    from elsewhere wins (else the UUID stands in, and is never taken for a rename)."""
    name = decode_segment(segment)
    return known if known is not None and is_uuid(name) else name


def _kept(segment: str | None, object_id: str, name: str) -> str:
    """A written segment when it still denotes the object (by name or UUID); else its name. A
    table that knows no name (only the UUID, from readable names alone) keeps what is written."""
    if segment is not None:
        decoded = decode_segment(segment)
        if decoded.casefold() == name.casefold() or is_uuid(name):
            return segment
        if is_uuid(decoded) and decoded.casefold() == object_id.casefold():
            return segment
    return encode_name(name)


def _written_readable(resolved: Resolved, url: AzureUrl) -> str:
    """The readable name to write beside the UUID form of ``url``: its segments as written (UUID
    segments of a mixed-form URL included), except a name the table no longer knows (a renamed
    project): that takes the current name, so that the next run finds nothing to rename."""
    written = Readable(url.project, url.feed, url.view, url.view_sep)
    return resolved.follow(url, written)


def _lookup_error(site: Site, message: str, hint: str | None = None) -> FeedLookupError:
    shown = site.azure.redacted if site.azure else site.url
    return FeedLookupError(f"{site.location}: {shown}: {message}", hint=hint)


def resolve(org: Organization, url: AzureUrl, site: Site) -> tuple[Resolved, str | None]:
    """Resolve project, feed and view of ``url``. Returns (resolved, warning)."""
    warning = None
    feed = org.find_feed(url.feed_name)
    if feed is None:
        what = "feed id" if is_uuid(url.feed) else "feed"
        message = f"unknown {what} '{url.feed_name}' in organization '{org.name}'"
        raise _lookup_error(
            site,
            org.not_listed(url.feed_name) if org.credential else message,
            hint=f"check the feed name; 'azfeeds map --org {org.name}' lists the feeds",
        )
    project = feed.project
    if url.project is None and project is not None:
        raise _lookup_error(
            site,
            f"feed '{feed.name}' belongs to project '{project.name}', but the URL has no project",
            hint=f"write the URL as .../{encode_name(project.name)}/_packaging/{feed.name}/pypi/simple/",
        )
    if url.project is not None:
        given = url.project_name or ""
        if project is None:
            raise _lookup_error(
                site,
                f"feed '{feed.name}' is an organization-scoped feed, but the URL names "
                f"project '{given}'",
                hint="remove the project segment from the URL",
            )
        if is_uuid(given):
            if given.lower() != project.id.lower():
                raise _lookup_error(
                    site,
                    f"feed '{feed.name}' is in project '{project.name}' ({project.id}), not {given}",
                )
        elif given.casefold() != project.name.casefold():
            warning = (
                f"{site.location}: the URL names project '{given}', but feed '{feed.name}' is in "
                f"project '{project.name}' (renamed?)"
            )
    view = None
    if url.view is not None:
        if feed.views is None:
            raise _lookup_error(
                site,
                f"the views of feed '{feed.name}' are not in the feed table",
                hint="regenerate the map file with 'azfeeds map --views --output FILE'",
            )
        view = feed.find_view(url.view_name or "")
        if view is None:
            known = ", ".join(v.name for v in feed.views) or "none"
            raise _lookup_error(
                site, f"unknown view '{url.view_name}' of feed '{feed.name}' (views: {known})"
            )
    return Resolved(org, project, feed, view), warning


# -- readable names as a table ----------------------------------------------------------------


def _annotation_entries_for(source: SourceFile, site: Site) -> Readable | None:
    """The readable name that belongs to ``site`` (a UUID-form URL), if any."""
    ann = source.annotations.get(site.line)
    if ann is None:
        return None
    uuid_sites = [
        s for s in source.sites if s.line == site.line and s.azure and s.azure.is_uuid_form
    ]
    if len(uuid_sites) != len(ann.entries) or site not in uuid_sites:
        return None
    entry = ann.entries[uuid_sites.index(site)]
    if entry is None or site.azure is None:
        return None
    url = site.azure
    if (entry.project is None) != (url.project is None) or (entry.view is None) != (
        url.view is None
    ):
        return None
    return entry


def table_from_annotations(sources: Iterable[SourceFile]) -> FeedTable:
    """A table built from the readable names next to UUID-form URLs (offline knowledge)."""
    feeds: dict[OrgKey, dict[str, Feed]] = defaultdict(dict)
    names: dict[OrgKey, tuple[str, str]] = {}
    for source in sources:
        for site in source.sites:
            url = site.azure
            if url is None or not url.is_uuid_form:
                continue
            entry = _annotation_entries_for(source, site)
            if entry is None:
                continue
            key = url.org_key
            names.setdefault(key, (url.org, url.org_base_url))
            # A segment recorded as a UUID (mixed form) names nothing: a name seen elsewhere wins.
            old = feeds[key].get(url.feed.lower())
            project = None
            if url.project is not None and entry.project is not None:
                known = old.project.name if old is not None and old.project is not None else None
                project = Project(url.project.lower(), _named(entry.project, known))
            views: tuple[View, ...] = ()
            if url.view is not None and entry.view is not None:
                seen = {v.id: v.name for v in (old.views or ())} if old is not None else {}
                view_id = url.view.lower()
                views = (View(view_id, _named(entry.view, seen.get(view_id))),)
            if old is not None:
                views = tuple({v.id: v for v in (*(old.views or ()), *views)}.values())
            feed_name = _named(entry.feed, old.name if old is not None else None)
            feeds[key][url.feed.lower()] = Feed(url.feed.lower(), feed_name, project, views)
    table = FeedTable()
    for key, by_id in feeds.items():
        name, base = names[key]
        table.organizations[key] = Organization(name, base, tuple(by_id.values()), complete=False)
    return table


# -- planning -----------------------------------------------------------------------------------


class _Decision(Record):
    __slots__ = (
        "site",
        "source",
        "new_url",
        "readable",
        "action",
        "note",
        "recreated_from",
        "identity",
        "twin_url",
        "deferred",
        "stripped",
    )
    site: Site
    source: SourceFile
    new_url: AzureUrl | None  # None: URL unchanged
    readable: str | None  # the annotation entry for the final URL (UUID form only)
    action: Action | None
    note: str | None
    recreated_from: str | None  # old URL string of a recreated feed (lock left alone)
    identity: Identity | None
    twin_url: str | None  # add mode: the UUID-form URL of the twin to create
    deferred: Change | None  # offline --check: reported as needing a rewrite
    stripped: str | None  # --strip-credentials removed the password: what to set instead

    def __init__(
        self,
        site: Site,
        source: SourceFile,
        new_url: AzureUrl | None = None,
        readable: str | None = None,
        action: Action | None = None,
        note: str | None = None,
        recreated_from: str | None = None,
        identity: Identity | None = None,
        twin_url: str | None = None,
        deferred: Change | None = None,
        stripped: str | None = None,
    ) -> None:
        self.site = site
        self.source = source
        self.new_url = new_url
        self.readable = readable
        self.action = action
        self.note = note
        self.recreated_from = recreated_from
        self.identity = identity
        self.twin_url = twin_url
        self.deferred = deferred
        self.stripped = stripped

    @property
    def final(self) -> AzureUrl | None:
        return self.new_url if self.new_url is not None else self.site.azure


class Planner:
    """Decides every change of a run."""

    def __init__(self, table: FeedTable | None, options: Options) -> None:
        self.table = table
        self.options = options
        self.plan = Plan(options.mode)
        self.errors: list[FeedLookupError] = []

    # -- public ---------------------------------------------------------------------------

    def run(
        self,
        sources: Sequence[SourceFile],
        context: Sequence[SourceFile] = (),
        unread_locks: Mapping[Path, str] | None = None,
        bystanders: Sequence[SourceFile] = (),
    ) -> Plan:
        """Plan all files. ``context`` files are read for lock consistency only, as if they were
        rewritten too; ``unread_locks`` are poetry.lock and pdm.lock files the run saw but did
        not read (why); ``bystanders`` (workspace members outside the run) are read as they are."""
        configs = [s for s in sources if not s.handler.is_lock]
        locks = [s for s in sources if s.handler.is_lock]
        decisions: dict[int, list[_Decision]] = {}
        for source in configs:
            decisions[id(source)] = self._decide_file(source)
        if self.errors:
            self._raise_errors()
        client_locks = self._verify_client_locks(configs, locks, decisions, unread_locks or {})
        built: dict[int, FilePlan] = {}
        for source in configs:
            built[id(source)] = self._build_file(source, decisions[id(source)])
            self.plan.files.append(built[id(source)])
        if self.options.lock and self.options.mode is not Mode.ADD:
            config_decisions = [d for s in configs for d in decisions[id(s)]]
            for source in context:
                if not source.handler.is_lock:
                    config_decisions.extend(self._decide_file(source, context_only=True))
            inputs = self._lock_inputs(config_decisions, bystanders)
            for lock in locks:
                kept = client_locks.get(id(lock))
                if kept is not None:
                    handler, pyproject, variant, moved = kept
                    follow = handler.follow_pyproject(lock, variant, built[id(pyproject)], moved)
                else:
                    follow = lock.handler.follow_up(lock, inputs)
                self.plan.files.append(follow.file)
                self.plan.changes.extend(follow.changes)
                self.plan.actions.extend(follow.actions)
        elif locks and self.options.mode is Mode.ADD:
            for lock in locks:
                self.plan.files.append(FilePlan(lock))
        if self.errors:
            self._raise_errors()
        return self.plan

    def _verify_client_locks(
        self,
        configs: Sequence[SourceFile],
        locks: Sequence[SourceFile],
        decisions: dict[int, list[_Decision]],
        unread_locks: Mapping[Path, str],
    ) -> dict[int, tuple[ClientLock, SourceFile, HashVariant, dict[str, str]]]:
        """Verify first (DESIGN.md section 4a): for each poetry.lock or pdm.lock beside a
        pyproject.toml whose Poetry or PDM source URLs are about to change, the lock's hash must
        be reproduced from the pyproject as it is now. When it is, the lock is kept (its new hash
        follows the new text); when it is not, or the lock is there but was not read, that
        client's sources stay as they are, and are reported as skipped with the command to run
        (they work in name form: no --check failure)."""
        kept: dict[int, tuple[ClientLock, SourceFile, HashVariant, dict[str, str]]] = {}
        if not self.options.lock or self.options.mode is Mode.ADD:
            return kept
        loaded = {(s.path.parent, s.kind): s for s in locks}
        for pyproject in configs:
            if pyproject.kind is not FileKind.PYPROJECT:
                continue
            for role, kind in CLIENT_LOCKS.items():
                moving = [
                    d
                    for d in decisions[id(pyproject)]
                    if d.site.role is role
                    and (
                        (d.new_url is not None and str(d.new_url) != d.site.url)
                        or d.deferred is not None
                    )
                ]
                if not moving:
                    continue
                from .kinds import handler_for
                from .kinds.clientlock import ClientLock

                handler = handler_for(kind)
                assert isinstance(handler, ClientLock)
                lock = loaded.get((pyproject.path.parent, kind))
                verdict = handler.check_beside(pyproject, lock, unread_locks)
                if verdict is None:
                    continue  # no lock: nothing to keep true
                variant, reason = verdict
                if lock is not None and variant is not None:
                    moved = {d.site.url: str(d.new_url) for d in moving if d.new_url}
                    kept[id(lock)] = (handler, pyproject, variant, moved)
                    continue
                lock_path = pyproject.path.parent / kind.value
                self._leave_client_sources(moving, lock_path, handler, reason)
        return kept

    def _leave_client_sources(
        self, moving: list[_Decision], lock_path: Path, handler: ClientLock, reason: str
    ) -> None:
        for d in moving:
            d.new_url = None
            d.action = None
            d.note = None
            if d.deferred is not None:
                self.plan.unresolved.remove(d.deferred)
                d.deferred = None
            self._skip(d.site, f"{lock_path} cannot be kept true: {reason}")
        self.plan.actions.append(
            f"{lock_path}: {reason}; the {handler.client} sources were left in their form "
            f"({handler.client} works with them as they are). To rewrite them, run "
            f"'{handler.command}', then 'azfeeds rewrite' again"
        )

    # -- per site -------------------------------------------------------------------------

    def _org(self, url: AzureUrl) -> Organization | None:
        return self.table.for_url(url) if self.table is not None else None

    def _decide_file(self, source: SourceFile, context_only: bool = False) -> list[_Decision]:
        out: list[_Decision] = []
        removed = source.handler.twin_spans(source) if self.options.mode is Mode.NAMES else []
        for site in source.sites:
            decision = _Decision(site, source)
            out.append(decision)
            if site.problem is not None or site.azure is None:
                if not context_only:
                    self._skip(site, site.problem or "not an Azure Artifacts URL")
                continue
            if any(_inside(site, t) for t in removed):
                continue
            try:
                self._decide(decision)
            except FeedLookupError as exc:
                if not context_only:
                    self.errors.append(exc)
        return out

    def _decide(self, d: _Decision) -> None:
        url = d.site.azure
        assert url is not None
        mode = self.options.mode
        if mode is Mode.NAMES:
            self._decide_names(d, url)
        elif url.is_uuid_form:
            self._decide_refresh(d, url)
        elif mode is Mode.UUID:
            self._decide_uuid(d, url)
        else:
            self._decide_add(d, url)
        if d.identity is None:
            d.identity = self._identity_of(d.final, d.site)
        if url.look_alike and not d.site.role.in_lock:
            warning = f"{d.site.location}: {look_alike_warning(url)}"
            if warning not in self.plan.warnings:
                self.plan.warnings.append(warning)
        if self.options.strip_credentials and url.has_secret and not d.site.role.in_lock:
            base = d.new_url or url
            d.new_url = base.without_password()
            if d.action is None:
                d.action = Action.STRIP
            hint = f"password removed: {credential_hint(d.site)} instead"
            d.note = f"{d.note}; {hint}" if d.note else hint
            d.stripped = hint
        elif url.has_secret and not d.site.role.in_lock:
            self.plan.warnings.append(
                f"{d.site.location}: the URL carries credentials ({url.redacted}); they leak "
                f"into version control and CI logs: use --strip-credentials, then "
                f"{credential_hint(d.site)}"
            )

    def _identity_of(self, url: AzureUrl | None, site: Site) -> Identity | None:
        """The identity of a URL when the table knows it (errors ignored)."""
        org = self._org(url) if url is not None else None
        if org is None or url is None:
            return None
        try:
            resolved, _ = resolve(org, url, site)
        except FeedLookupError:
            return None
        return resolved.identity(url)

    def _resolve_or_defer(self, d: _Decision, url: AzureUrl) -> Resolved | None:
        """Resolve a name-form URL; None when it must wait for a lookup (offline)."""
        org = self._org(url)
        if org is None:
            self._need_lookup(d, url)
            return None
        try:
            resolved, warning = resolve(org, url, d.site)
        except FeedLookupError:
            if org.complete:
                raise
            self._need_lookup(d, url)
            return None
        if warning:
            self.plan.warnings.append(warning)
        return resolved

    def _decide_uuid(self, d: _Decision, url: AzureUrl) -> None:
        resolved = self._resolve_or_defer(d, url)
        if resolved is None:
            return
        d.identity = resolved.identity(url)
        d.new_url = resolved.uuid_url(url)
        d.readable = _written_readable(resolved, url)
        d.action = Action.REWRITE

    def _decide_refresh(self, d: _Decision, url: AzureUrl) -> None:
        entry = _annotation_entries_for(d.source, d.site)
        d.readable = str(entry) if entry is not None else None
        org = self._org(url)
        if org is None:
            return  # nothing known about this organization: valid as it is
        feed = org.feed_by_id(url.feed)
        if feed is None and not org.complete:
            return  # offline: readable names alone cannot prove that a feed is gone
        if feed is None:
            if entry is None:
                raise _lookup_error(
                    d.site,
                    f"feed id {url.feed} exists nowhere in organization '{org.name}', and no "
                    f"readable name says which feed it was",
                    hint="write the URL in name form (.../<Project>/_packaging/<feed>/pypi/simple/)"
                    " and run azfeeds again",
                )
            named = url.with_segments(entry.project, entry.feed, entry.view)
            if org.feed_by_name(named.feed_name) is None:
                raise _lookup_error(
                    d.site,
                    f"feed id {url.feed} exists nowhere in organization '{org.name}', and no feed "
                    f"is named '{named.feed_name}' any more (deleted?)",
                    hint=f"check the feeds with 'azfeeds map --org {org.name}', then fix the URL",
                )
            resolved, _ = resolve(org, named, d.site)
            d.identity = resolved.identity(url)
            d.new_url = resolved.uuid_url(url)
            d.action = Action.RECREATED
            d.recreated_from = d.site.url
            d.note = f"feed '{resolved.feed.name}' was recreated (new id {resolved.feed.id})"
            followed = resolved.follow(url, entry)
            if followed != str(entry):
                d.readable = followed
            return
        resolved, _ = resolve(org, url, d.site)
        d.identity = resolved.identity(url)
        if entry is not None:
            followed = resolved.follow(url, entry)
            if followed != str(entry):
                d.readable = followed
                d.action = Action.RENAMED
                d.note = f"renamed: {entry} -> {followed}"

    def _decide_names(self, d: _Decision, url: AzureUrl) -> None:
        if not any(is_uuid(s) for s in url.segments):
            return
        entry = _annotation_entries_for(d.source, d.site)
        org = self._org(url)
        target: str | None = None
        if org is not None:
            try:
                resolved, _ = resolve(org, url, d.site)
            except FeedLookupError:
                if entry is None:
                    raise
                self.plan.warnings.append(
                    f"{d.site.location}: {url.redacted}: not in the feed table; restoring the "
                    f"readable name '{entry}' written beside it"
                )
            else:
                target = (
                    resolved.names_readable(url) if entry is None else resolved.follow(url, entry)
                )
                if entry is not None and target != str(entry):
                    d.note = f"renamed since: {entry} -> {target}"
        if target is None and entry is not None:
            target = str(entry)
        if target is None:
            raise _lookup_error(
                d.site,
                "no readable name is written beside this UUID URL and its organization is not "
                "in the feed table",
                hint=(
                    "the map file does not list its organization: regenerate it with "
                    "'azfeeds map --output FILE'"
                    if self.options.with_map
                    else "run without --offline, or give --map FILE"
                ),
            )
        readable = _parse_readable_strict(target)
        project = readable.project if url.project is not None else None
        view = readable.view if url.view is not None else None
        d.new_url = url.with_segments(project, readable.feed, view)
        d.action = Action.REWRITE

    def _decide_add(self, d: _Decision, url: AzureUrl) -> None:
        site = d.site
        if site.role is not Role.UV_INDEX:
            reason = (
                "--mode add makes twins only for named [[tool.uv.index]] / [[index]] entries"
                if d.source.handler.twins
                else "--mode add applies to uv configuration only"
            )
            self._skip(site, f"{reason}; use --mode uuid for this URL")
            return
        resolved = self._resolve_or_defer(d, url)
        if resolved is None:
            return
        d.identity = resolved.identity(url)
        d.readable = _written_readable(resolved, url)
        d.action = Action.ADD_TWIN
        # no password in a twin; a user name alone (a keyring hint) is carried over
        twin = resolved.uuid_url(url)
        keep = url.userinfo is not None and split_userinfo(url.userinfo)[1] is None
        d.twin_url = str(twin if keep else twin.without_userinfo())

    def _need_lookup(self, d: _Decision, url: AzureUrl) -> None:
        if self.options.defer_lookups:
            d.deferred = Change(
                d.site.path,
                d.site.line,
                d.site.key,
                Action.REWRITE,
                url.redacted,
                "(UUID form; not resolved offline)",
                url.readable,
                "(UUID form: not resolved offline)",
                url.org,
                "name form: needs 'azfeeds rewrite'",
            )
            self.plan.unresolved.append(d.deferred)
            return
        org = url.org if url.is_cloud else url.org_base_url
        if url.look_alike:
            hint = f"check the URL: {look_alike_warning(url)}"
        elif self.options.with_map:
            hint = (
                f"no map file lists it: 'azfeeds map --org {org} --output FILE' adds it to FILE "
                "and keeps the organizations already there (or give one more --map)"
            )
        elif self.options.offline:
            hint = "give --map FILE, or run without --offline"
        else:
            hint = f"check the organization name; 'azfeeds map --org {org}' lists its feeds"
        raise _lookup_error(d.site, f"organization '{url.org}' is not in the feed table", hint)

    def _skip(self, site: Site, reason: str) -> None:
        shown = site.azure.redacted if site.azure else _redacted(site.url)
        self.plan.skipped.append(Skipped(site.path, site.line, site.key, shown, reason))

    def _raise_errors(self) -> None:
        first = self.errors[0]
        if len(self.errors) > 1:
            more = len(self.errors) - 1
            first.hint = (first.hint + "; " if first.hint else "") + f"{more} more lookup(s) failed"
        raise first

    # -- building edits -------------------------------------------------------------------

    def _build_file(self, source: SourceFile, decisions: list[_Decision]) -> FilePlan:
        fp = FilePlan(source)
        for d in decisions:
            url = d.site.azure
            if url is None:
                continue
            if d.new_url is not None and str(d.new_url) != d.site.url:
                new = str(d.new_url)
                fp.edits.append(Edit(d.site.start, d.site.end, new))
                fp.url_changes[d.site.url] = new
                if source.handler.toml_values:
                    fp.value_edits.append(ValueEdit(d.site.keypath, new))
                action = d.action or Action.REWRITE
                self._report(d, action, url, d.new_url)
                if d.stripped is not None:
                    self.plan.stripped.append(
                        Stripped(d.site.path, d.site.line, d.site.key, d.stripped)
                    )
            elif d.action is Action.RENAMED:
                self._report(d, Action.RENAMED, url, url)
        self._annotation_edits(fp, decisions)
        if self.options.mode is Mode.ADD:
            self._twin_edits(fp, decisions)
        if self.options.mode is Mode.NAMES:
            self._twin_removals(fp)
        return fp

    def _report(self, d: _Decision, action: Action, old: AzureUrl, new: AzureUrl) -> None:
        old_form, new_form = old.readable, new.readable
        if action is Action.RENAMED:
            old_form = str(_annotation_entries_for(d.source, d.site) or "?")
            new_form = d.readable or "?"
        elif action is Action.STRIP:
            user = new.keyring_user
            old_form, new_form = "user:***@", f"{user}@ (no password)" if user else "(no password)"
        self.plan.changes.append(
            Change(
                d.site.path,
                d.site.line,
                d.site.key,
                action,
                old.redacted,
                new.redacted,
                old_form,
                new_form,
                old.org,
                d.note,
            )
        )

    def _annotation_edits(self, fp: FilePlan, decisions: list[_Decision]) -> None:
        source = fp.source
        if not source.handler.annotates:
            return
        by_line: dict[int, list[_Decision]] = defaultdict(list)
        for d in decisions:
            if d.site.azure is not None:
                by_line[d.site.line].append(d)
        for line, items in sorted(by_line.items()):
            touched = any(
                (d.new_url is not None and str(d.new_url) != d.site.url)
                or d.action is Action.RENAMED
                for d in items
            )
            if not touched:
                continue
            entries: list[str] = []
            for d in items:
                final = d.final
                if final is None or not final.is_uuid_form:
                    continue
                entries.append(d.readable or self._current_readable(final) or "?")
            if all(e == "?" for e in entries):
                entries = []
            ann = source.annotations.get(line)
            self._set_annotation(fp, line, ann, entries)

    def _current_readable(self, url: AzureUrl) -> str | None:
        org = self._org(url)
        if org is None:
            return None
        feed = org.feed_by_id(url.feed)
        if feed is None:
            return None
        view = feed.find_view(url.view) if url.view is not None else None
        return Resolved(org, feed.project, feed, view).names_readable(url)

    def _set_annotation(
        self, fp: FilePlan, line: int, ann: Annotation | None, entries: list[str]
    ) -> None:
        existing = [str(e) if e is not None else "?" for e in ann.entries] if ann else []
        if ann is not None and existing == entries:
            return
        fp.edits.extend(fp.source.handler.place_readable(fp.source, line, ann, entries))

    # -- twins ----------------------------------------------------------------------------

    def _twin_edits(self, fp: FilePlan, decisions: list[_Decision]) -> None:
        source = fp.source
        handler = source.handler
        if not handler.twins:
            return
        names = {s.index_name.casefold() for s in source.sites if s.index_name}
        existing: dict[Identity, Site] = {}
        for d in decisions:
            if (
                d.identity is not None
                and d.site.role is Role.UV_INDEX
                and d.final
                and d.final.is_uuid_form
            ):
                existing.setdefault(d.identity, d.site)
        for d in decisions:
            if d.action is not Action.ADD_TWIN or d.identity is None or d.site.azure is None:
                continue
            url = d.site.azure
            base_name = d.site.index_name or _fallback_name(url)
            twin = existing.get(d.identity)
            if twin is not None:
                name = twin.index_name or "?"
                self._twin_vars(name, base_name)
                continue
            name = _twin_name(base_name, names)
            uuid_url = d.twin_url or ""
            edits = handler.twin_edits(
                source, Twin(d.site, name, base_name, uuid_url), url.readable
            )
            if isinstance(edits, str):
                self._skip(d.site, f"{edits} (or use --mode uuid)")
                continue
            names.add(name.casefold())
            fp.edits.extend(edits)
            assert d.site.entry is not None
            fp.twins.append(TwinEdit(d.site.entry, name, uuid_url))
            self._twin_vars(name, base_name)
            self.plan.changes.append(
                Change(
                    d.site.path,
                    d.site.line,
                    d.site.key,
                    Action.ADD_TWIN,
                    url.redacted,
                    uuid_url,
                    url.readable,
                    f'twin "{name}"',
                    url.org,
                    None,
                )
            )

    def _twin_vars(self, name: str, twin_of: str) -> None:
        env = env_name(name)
        item = TwinVariables(name, twin_of, f"UV_INDEX_{env}_USERNAME", f"UV_INDEX_{env}_PASSWORD")
        if item not in self.plan.variables:
            self.plan.variables.append(item)

    def _twin_removals(self, fp: FilePlan) -> None:
        for twin in fp.source.handler.twin_spans(fp.source):
            fp.edits.extend(Edit(start, end, "") for start, end in twin.spans)
            fp.removed_twins.append(twin.path)
            site = next((s for s in fp.source.sites if s.entry == twin.path), None)
            name = site.index_name if site and site.index_name else "?"
            url = site.azure if site else None
            self.plan.changes.append(
                Change(
                    fp.source.path,
                    twin.line,
                    _key_of(twin.path),
                    Action.REMOVE_TWIN,
                    url.redacted if url else "",
                    "",
                    f'twin "{name}"',
                    "(removed)",
                    url.org if url else "",
                    None,
                )
            )

    # -- locks ----------------------------------------------------------------------------

    def _lock_inputs(
        self, config: list[_Decision], bystanders: Sequence[SourceFile] = ()
    ) -> LockInputs:
        """What the configuration's decisions mean for its locks."""
        mapping: dict[str, str] = {}
        recreated: dict[str, str] = {}
        by_identity: dict[Identity, set[str]] = defaultdict(set)
        config_urls: set[str] = set()
        for d in config:
            if d.site.role not in (Role.UV_INDEX, Role.UV_INDEX_URL) or d.site.azure is None:
                continue
            final = d.final
            assert final is not None
            config_urls.add(str(final))
            config_urls.add(str(final.without_userinfo()))
            if d.recreated_from is not None:
                recreated[d.recreated_from] = str(final)
                recreated[str(d.site.azure.without_userinfo())] = str(final.without_userinfo())
            elif d.new_url is not None and str(d.new_url) != d.site.url:
                mapping[d.site.url] = str(d.new_url)
                mapping[str(d.site.azure.without_userinfo())] = str(d.new_url.without_userinfo())
            if d.identity is not None:
                by_identity[d.identity].add(str(final.without_userinfo()))
        for source in bystanders:
            for site in source.sites:
                if site.azure is None or site.role not in (Role.UV_INDEX, Role.UV_INDEX_URL):
                    continue
                config_urls.add(site.url)
                config_urls.add(str(site.azure.without_userinfo()))
                if site.url in mapping:
                    self.plan.actions.append(
                        f"{site.location} uses the same index URL, and the workspace has one "
                        f"uv.lock: rewrite the whole workspace (azfeeds rewrite on its root) so "
                        f"that both agree with it"
                    )
        return LockInputs(
            mapping,
            recreated,
            config_urls,
            self.options.quick_lock,
            lambda site: self._lock_sync_target(site, by_identity),
        )

    def _lock_sync_target(self, site: Site, by_identity: dict[Identity, set[str]]) -> str | None:
        url = site.azure
        assert url is not None
        org = self._org(url)
        if org is None:
            return None
        try:
            resolved, _ = resolve(org, url, site)
        except FeedLookupError:
            return None
        candidates = by_identity.get(resolved.identity(url), set())
        if len(candidates) == 1:
            return next(iter(candidates))
        return None


# -- small helpers ----------------------------------------------------------------------------


def _fallback_name(url: AzureUrl) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"azure-{url.org}-{url.feed_name}".lower()).strip("-")


def _twin_name(base: str, taken: set[str]) -> str:
    name = f"{base}-uuid"
    counter = 2
    while name.casefold() in taken:
        name = f"{base}-uuid-{counter}"
        counter += 1
    return name


def _inside(site: Site, twin: TwinSpan) -> bool:
    return any(start <= site.start < end for start, end in twin.spans)


def _key_of(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (("." if out else "") + part)
    return out


def _parse_readable_strict(text: str) -> Readable:
    parsed = parse_readable(text)
    if parsed is None:  # pragma: no cover - callers pass names they built
        raise FeedLookupError(f"cannot use readable name '{text}'")
    return parsed


def _redacted(url: str) -> str:
    return redact_text(url)
