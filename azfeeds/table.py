"""The name<->UUID table of organizations, projects, feeds and views, and the map-file format.

The map file is public: users commit and share it. It is JSON::

    {"schema_version": 1,
     "organizations": [
       {"name": "orgA", "url": "https://pkgs.dev.azure.com/orgA",
        "feeds": [
          {"id": "<uuid>", "name": "feedx", "project": {"id": "<uuid>", "name": "ProjectX"},
           "views": [{"id": "<uuid>", "name": "Release"}]},
          {"id": "<uuid>", "name": "shared", "project": null, "views": []}]}]}

Extra fields are allowed and ignored. ``views`` may be omitted or null when they were not fetched.
An organization may carry ``"api_version"``: the feeds API version that answered (optional; maps
written before azfeeds recorded it have none).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .errors import FileError
from .record import Record, Value
from .urls import AzureUrl, OrgKey, UrlError, is_uuid, parse_azure_url

MAP_SCHEMA_VERSION = 1
MAX_MAP_BYTES = 64 * 1024 * 1024


class _Named(Value):
    """Something Azure DevOps knows by a UUID and a name."""

    __slots__ = ("id", "name")
    id: Final[str]
    name: Final[str]

    def __init__(self, id: str, name: str) -> None:
        self.id = id
        self.name = name


class Project(_Named):
    """An Azure DevOps project."""

    __slots__ = ()


class View(_Named):
    """A feed view (``@Local``, ``@Release``...)."""

    __slots__ = ()


class Feed(Value):
    """A feed; ``project`` is None for an organization-scoped feed.

    ``views`` is None when the views were not fetched.
    """

    __slots__ = ("id", "name", "project", "views")
    id: Final[str]
    name: Final[str]
    project: Final[Project | None]
    views: Final[tuple[View, ...] | None]

    def __init__(
        self, id: str, name: str, project: Project | None, views: tuple[View, ...] | None = None
    ) -> None:
        self.id = id
        self.name = name
        self.project = project
        self.views = views

    @property
    def scope(self) -> str:
        """``project`` or ``organization``."""
        return "project" if self.project is not None else "organization"

    def find_view(self, name_or_id: str) -> View | None:
        """A view by (case-insensitive) name or by id."""
        key = name_or_id.casefold()
        for view in self.views or ():
            if view.id.casefold() == key or view.name.casefold() == key:
                return view
        return None


class Organization(Value):
    """One organization (cloud) or collection (server) and its feeds."""

    __slots__ = (
        "name",
        "url",
        "feeds",
        "complete",
        "api_version",
        "credential",
        "_by_id",
        "_by_name",
    )
    name: Final[str]
    url: Final[str]
    feeds: Final[tuple[Feed, ...]]
    complete: Final[bool]  # False when built from readable names: absence proves nothing
    api_version: Final[str | None]  # the feeds API version that answered (map file, doctor)
    credential: Final[str | None]  # where the credential of the live lookup came from; not saved
    _by_id: dict[str, Feed] | None  # the feeds by casefolded id, made on first lookup
    _by_name: dict[str, Feed] | None  # the feeds by casefolded name, made on first lookup

    def __init__(
        self,
        name: str,
        url: str,
        feeds: tuple[Feed, ...],
        complete: bool = True,
        api_version: str | None = None,
        credential: str | None = None,
    ) -> None:
        self.name = name
        self.url = url
        self.feeds = feeds
        self.complete = complete
        self.api_version = api_version
        self.credential = credential
        self._by_id = None
        self._by_name = None

    @property
    def key(self) -> OrgKey:
        """The identity that URLs of this organization share."""
        return org_key_for_base(self.url, self.name)

    def feed_by_id(self, feed_id: str) -> Feed | None:
        """The feed with this UUID."""
        if self._by_id is None:
            self._by_id = {f.id.casefold(): f for f in self.feeds}
        return self._by_id.get(feed_id.casefold())

    def feed_by_name(self, name: str) -> Feed | None:
        """The feed with this (case-insensitive) name; names are unique per organization."""
        if self._by_name is None:
            self._by_name = {f.name.casefold(): f for f in self.feeds}
        return self._by_name.get(name.casefold())

    def find_feed(self, name_or_id: str) -> Feed | None:
        """A feed by UUID or by name."""
        return self.feed_by_id(name_or_id) if is_uuid(name_or_id) else self.feed_by_name(name_or_id)

    def not_listed(self, feed: str) -> str:
        """Why a live list lacks ``feed``: the list holds only what the credential can read."""
        if self.credential is None:
            return f"feed '{feed}' of organization '{self.name}': not found"
        return (
            f"feed '{feed}' of organization '{self.name}': not found, or this credential cannot "
            f"read it (credential from {self.credential})"
        )

    def projects(self) -> list[Project]:
        """Distinct projects that hold at least one feed."""
        seen: dict[str, Project] = {}
        for feed in self.feeds:
            if feed.project is not None:
                seen.setdefault(feed.project.id.casefold(), feed.project)
        return list(seen.values())


def org_key_for_base(url: str, name: str) -> OrgKey:
    """The OrgKey of an organization given its base URL, as the URLs under it compute it."""
    probe = url.rstrip("/") + "/_packaging/x/pypi/simple/"
    try:
        parsed = parse_azure_url(probe, pinned_bases=(url,))
    except UrlError:
        parsed = None
    if parsed is None:
        return OrgKey("cloud", name.casefold())
    return parsed.org_key


class FeedTable(Record):
    """Organizations by key. Built from the feeds API, a map file, or readable comments."""

    __slots__ = ("organizations",)
    organizations: dict[OrgKey, Organization]

    def __init__(self, organizations: dict[OrgKey, Organization] | None = None) -> None:
        self.organizations = {} if organizations is None else organizations

    def add(self, org: Organization) -> None:
        """Add or replace an organization."""
        self.organizations[org.key] = org

    def get(self, key: OrgKey) -> Organization | None:
        """The organization with this key, if known."""
        return self.organizations.get(key)

    def for_url(self, url: AzureUrl) -> Organization | None:
        """The organization an URL belongs to."""
        return self.organizations.get(url.org_key)

    def pinned_bases(self) -> tuple[str, ...]:
        """Server collection URLs that pin how server URLs are split."""
        return tuple(o.url for o in self.organizations.values() if o.key.family == "server")

    def merged_with(self, other: FeedTable) -> FeedTable:
        """A new table: this table's organizations, plus those of ``other`` it lacks."""
        result = FeedTable(dict(other.organizations))
        result.organizations.update(self.organizations)
        return result

    def sorted_orgs(self) -> list[Organization]:
        """Organizations in a stable order."""
        return sorted(self.organizations.values(), key=lambda o: (o.name.casefold(), o.url))


# -- map file ---------------------------------------------------------------------------------


def table_to_document(table: FeedTable) -> dict[str, Any]:
    """The map-file document for a table (stable order)."""
    orgs: list[dict[str, Any]] = []
    for org in table.sorted_orgs():
        feeds: list[dict[str, Any]] = []
        for feed in sorted(org.feeds, key=lambda f: f.name.casefold()):
            entry: dict[str, Any] = {
                "id": feed.id,
                "name": feed.name,
                "project": (
                    {"id": feed.project.id, "name": feed.project.name} if feed.project else None
                ),
            }
            if feed.views is not None:
                entry["views"] = [
                    {"id": v.id, "name": v.name}
                    for v in sorted(feed.views, key=lambda v: v.name.casefold())
                ]
            feeds.append(entry)
        entry_org: dict[str, Any] = {"name": org.name, "url": org.url}
        if org.api_version is not None:
            entry_org["api_version"] = org.api_version
        entry_org["feeds"] = feeds
        orgs.append(entry_org)
    return {"schema_version": MAP_SCHEMA_VERSION, "organizations": orgs}


def dump_map(table: FeedTable) -> str:
    """The map file's text."""
    return json.dumps(table_to_document(table), indent=2, ensure_ascii=False) + "\n"


class _Validator:
    """Walks a decoded map document, naming the field of every problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, problem: str) -> FileError:
        return FileError(
            f"invalid map file: {where}: {problem}",
            path=self.source,
            hint="regenerate it with 'azfeeds map --output FILE'",
        )

    def obj(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected an object, got {_type_name(value)}")
        return value

    def text(self, value: object, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty string, got {_type_name(value)}")
        return value

    def uuid(self, value: object, where: str) -> str:
        text = self.text(value, where)
        if not is_uuid(text):
            raise self.fail(where, "expected a UUID such as 1f682db7-3995-4f32-afeb-fa23a36322da")
        return text.lower()

    def array(self, value: object, where: str) -> Sequence[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected an array, got {_type_name(value)}")
        return value


def _type_name(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def table_from_document(doc: object, source: str = "<map>") -> FeedTable:
    """Validate a decoded map document and build the table. Errors name the field."""
    v = _Validator(source)
    root = v.obj(doc, "document")
    version = root.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise v.fail("schema_version", f"expected an integer, got {_type_name(version)}")
    if version > MAP_SCHEMA_VERSION or version < 1:
        raise FileError(
            f"map file schema_version {version} is not supported "
            f"(this azfeeds reads version {MAP_SCHEMA_VERSION})",
            path=source,
            hint="upgrade azfeeds, or regenerate the file with 'azfeeds map --output FILE'",
        )
    table = FeedTable()
    for i, raw_org in enumerate(v.array(root.get("organizations"), "organizations")):
        where = f"organizations[{i}]"
        org_obj = v.obj(raw_org, where)
        name = v.text(org_obj.get("name"), f"{where}.name")
        url = v.text(org_obj.get("url"), f"{where}.url")
        if not url.lower().startswith(("https://", "http://")):
            raise v.fail(f"{where}.url", "expected an http(s) URL")
        feeds: list[Feed] = []
        seen: set[str] = set()
        for j, raw_feed in enumerate(v.array(org_obj.get("feeds"), f"{where}.feeds")):
            fw = f"{where}.feeds[{j}]"
            feed_obj = v.obj(raw_feed, fw)
            feeds.append(_feed_from(v, feed_obj, fw))
            key = feeds[-1].name.casefold()
            if key in seen:
                raise v.fail(f"{fw}.name", f"duplicate feed name '{feeds[-1].name}'")
            seen.add(key)
        api_version = None
        if org_obj.get("api_version") is not None:
            api_version = v.text(org_obj.get("api_version"), f"{where}.api_version")
            from .apiversion import ApiVersionError, check_version  # only a map that pins one

            try:
                check_version(api_version)
            except ApiVersionError:
                raise v.fail(f"{where}.api_version", "expected a version such as 7.1") from None
        org = Organization(
            name=name, url=url.rstrip("/"), feeds=tuple(feeds), api_version=api_version
        )
        if org.key in table.organizations:
            raise v.fail(f"{where}.url", f"organization '{name}' appears twice")
        table.add(org)
    return table


def _feed_from(v: _Validator, obj: Mapping[str, Any], where: str) -> Feed:
    feed_id = v.uuid(obj.get("id"), f"{where}.id")
    name = v.text(obj.get("name"), f"{where}.name")
    project: Project | None = None
    raw_project = obj.get("project")
    if raw_project is not None:
        pobj = v.obj(raw_project, f"{where}.project")
        project = Project(
            id=v.uuid(pobj.get("id"), f"{where}.project.id"),
            name=v.text(pobj.get("name"), f"{where}.project.name"),
        )
    views: tuple[View, ...] | None = None
    raw_views = obj.get("views")
    if raw_views is not None:
        items = []
        for k, raw_view in enumerate(v.array(raw_views, f"{where}.views")):
            vw = f"{where}.views[{k}]"
            vobj = v.obj(raw_view, vw)
            items.append(
                View(
                    id=v.uuid(vobj.get("id"), f"{vw}.id"),
                    name=v.text(vobj.get("name"), f"{vw}.name"),
                )
            )
        views = tuple(items)
    return Feed(id=feed_id, name=name, project=project, views=views)


MAX_INT_DIGITS = 18  # a map file holds small numbers only (schema_version)


class _LongNumberError(ValueError):
    def __init__(self, digits: str) -> None:
        super().__init__("number too long")
        self.digits = digits


def _parse_int(digits: str) -> int:
    """JSON integers, refused past MAX_INT_DIGITS (Python refuses past 4300 digits anyway, with
    an error that has no position)."""
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _LongNumberError(digits)
    return int(digits)


def load_map(path: Path) -> FeedTable:
    """Read and validate a map file (exit 6 on any problem)."""
    try:
        size = path.stat().st_size
        if size > MAX_MAP_BYTES:
            raise FileError(
                f"map file is {size} bytes; the limit is {MAX_MAP_BYTES}",
                path=path,
                hint="a map file lists feeds only; check that this is the right file",
            )
        data = path.read_bytes()
    except FileError:
        raise
    except IsADirectoryError:
        raise FileError("is a directory, not a map file", path=path) from None
    except FileNotFoundError:
        raise FileError(
            "no such map file", path=path, hint="create one with 'azfeeds map --output FILE'"
        ) from None
    except OSError as exc:
        raise FileError(f"cannot read map file: {exc.strerror}", path=path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileError(f"map file is not UTF-8 (byte {exc.start})", path=path) from None
    try:
        doc = json.loads(text, parse_int=_parse_int)
    except _LongNumberError as exc:
        raise FileError(
            f"map file holds a {len(exc.digits)}-digit number; none is longer than {MAX_INT_DIGITS}",
            path=path,
            line=text.count("\n", 0, max(text.find(exc.digits), 0)) + 1,
            hint="regenerate it with 'azfeeds map --output FILE'",
        ) from None
    except json.JSONDecodeError as exc:
        raise FileError(
            f"map file is not valid JSON: {exc.msg} (column {exc.colno})",
            path=path,
            line=exc.lineno,
            hint="regenerate it with 'azfeeds map --output FILE'",
        ) from None
    except RecursionError:
        raise FileError("map file is nested too deeply", path=path) from None
    return table_from_document(doc, str(path))


def table_from_orgs(orgs: Iterable[Organization]) -> FeedTable:
    """A table holding these organizations."""
    table = FeedTable()
    for org in orgs:
        table.add(org)
    return table


# -- several maps -----------------------------------------------------------------------------


def _feed_conflict(a: Feed, b: Feed) -> str | None:
    """Why two entries of one feed disagree (None: they agree, perhaps one knowing more)."""
    if a.id != b.id:
        return f"feed '{a.name}' has id {a.id} in one and {b.id} in the other"
    if a.name.casefold() != b.name.casefold():
        return f"feed {a.id} is named '{a.name}' in one and '{b.name}' in the other"
    pa, pb = a.project, b.project
    if (pa is None) != (pb is None) or (pa and pb and pa.id != pb.id):
        left = f"project {pa.id}" if pa else "no project"
        right = f"project {pb.id}" if pb else "no project"
        return f"feed '{a.name}' is in {left} in one and in {right} in the other"
    if pa and pb and pa.name.casefold() != pb.name.casefold():
        return f"project {pa.id} is named '{pa.name}' in one and '{pb.name}' in the other"
    for view in a.views or ():
        other = b.find_view(view.name)
        if other is not None and other.id != view.id:
            return (
                f"view '{a.name}@{view.name}' has id {view.id} in one and {other.id} in the other"
            )
        same_id = b.find_view(view.id)
        if same_id is not None and same_id.name.casefold() != view.name.casefold():
            return f"view {view.id} is named '{view.name}' in one and '{same_id.name}' in the other"
    return None


def merge_organizations(a: Organization, b: Organization) -> Organization | str:
    """One organization from two maps' entries, or the reason they disagree."""
    feeds: dict[str, Feed] = {f.id: f for f in a.feeds}
    for feed in b.feeds:
        mine = a.feed_by_id(feed.id) or a.feed_by_name(feed.name)
        if mine is None:
            feeds[feed.id] = feed
            continue
        why = _feed_conflict(mine, feed)
        if why is not None:
            return why
        if mine.views is None and feed.views is not None:
            feeds[mine.id] = mine.replace(views=feed.views)
        elif mine.views is not None and feed.views is not None:
            extra = tuple(v for v in feed.views if mine.find_view(v.id) is None)
            if extra:
                feeds[mine.id] = mine.replace(views=(*mine.views, *extra))
    # replace() keeps every other field of the first map's entry as it was
    return a.replace(feeds=tuple(feeds.values()), complete=a.complete and b.complete)


def merge_maps(tables: Sequence[tuple[str, FeedTable]]) -> FeedTable:
    """The union of several maps (each named by its file). An organization in several maps is
    merged when they agree; when an id differs, a FileError names both files (exit 6)."""
    merged = FeedTable()
    origin: dict[OrgKey, str] = {}
    for source, table in tables:
        for org in table.organizations.values():
            seen = merged.get(org.key)
            if seen is None:
                merged.add(org)
                origin[org.key] = source
                continue
            result = merge_organizations(seen, org)
            if isinstance(result, str):
                raise FileError(
                    f"map files disagree on organization '{org.name}': {result} "
                    f"(in {origin[org.key]} and in {source})",
                    path=source,
                    hint="regenerate the stale one with 'azfeeds map --org ORG --output FILE'",
                )
            merged.add(result)
    return merged


def load_maps(paths: Sequence[Path]) -> FeedTable | None:
    """Read and merge several map files (None when none is given)."""
    if not paths:
        return None
    return merge_maps([(str(path), load_map(path)) for path in paths])


def replace_organizations(existing: FeedTable, fresh: FeedTable) -> FeedTable:
    """``map --output`` onto an existing map: the organizations just fetched replace their old
    entries; every other organization of the existing map is kept as it was."""
    result = FeedTable(dict(existing.organizations))
    for org in fresh.organizations.values():
        result.add(org)
    return result
