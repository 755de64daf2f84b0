#!/usr/bin/env python3
"""A local emulator of the parts of Azure DevOps that azfeeds and uv talk to.

A real HTTP server (standard library only). Paths follow the Azure DevOps Server layout, all under
an optional ``/<prefix>``; route words and names match case-insensitively, path segments are
percent-decoded first:

* feeds API: ``/<org>[/<project>]/_apis/packaging/feeds[/<feed>[@<view>][/views[/<view>]]]``;
* projects API: ``/<org>/_apis/projects[/<project>]`` (``$top``, ``$skip``, ``continuationToken``,
  next page signalled by the ``x-ms-continuationtoken`` response header);
* PyPI: ``/<org>[/<project>]/_packaging/<feed>[@<view>]/pypi/simple/[<name>/]`` and
  ``.../pypi/download/<name>/<version>/<file>[.metadata]``; project, feed and view may be names
  or UUIDs; file links are absolute and in UUID form, as Azure Artifacts emits them;
* control API (no auth, never faulted) under ``/_emulator/``: ``GET health``, ``GET state``,
  ``GET requests``, ``POST requests/clear``, ``POST faults`` ``{"org", "faults"?, "latency_ms"?}``,
  ``POST recreate-feed`` ``{"org", "feed"}``, ``POST create-feed`` ``{"org", "feed": {...}}``,
  ``POST rename-feed`` ``{"org", "feed", "new_name"}``, ``POST rename-project``
  ``{"org", "project", "new_name"}``, ``POST delete-feed`` ``{"org", "feed"}``, ``POST publish``
  ``{"org", "feed", "package": {...}}``, ``POST auth`` ``{"org", "anonymous": bool}``, ``POST server``
  ``{"org", "server"?, "legacy_list"?, "legacy_views"?, "projects_api"?}`` (the organization's
  server options, below), ``POST shutdown`` (exit 0 after
  answering: the portable way to stop it, Windows has no SIGTERM).

Usage::

    python scripts/emulator.py --port 0 --config CONFIG [--host 127.0.0.1] [--log FILE]
                               [--cert PEM --key PEM]

``CONFIG`` is a JSON file, ``-`` (stdin) or a literal JSON object::

    {"prefix": "", "pep658": false, "require_api_version": false,
     "organizations": [
       {"name": "orgA", "pats": ["..."], "tokens": ["..."], "anonymous": false,
        "tenant": "<uuid>?", "latency_ms": 0,
        "faults": [{"kind": "429", "times": 1, "scope": "api", "retry_after": 1}],
        "projects": [{"name": "ProjectX", "id": "<uuid>?", "visibility": "private",
                      "description": null}],
        "feeds": [{"name": "feedx", "id": "<uuid>?", "project": "ProjectX", "description": null,
                   "views": [{"name": "Local", "id": "<uuid>?"}],
                   "packages": [{"name": "alpha", "version": "1.0.0", "requires": ["beta>=1"],
                                 "requires_python": ">=3.8", "views": ["Release"]}]}]}]}

Unknown keys are rejected (exit code 2). Ids not given are
``uuid5(NAMESPACE_URL, "azfeeds-emulator/<org>/<kind>/<name>/<generation>")`` with kind
``project``, ``feed``, ``view`` (name ``<feed>@<view>``) or ``tenant``. The default view (``Local``,
else the first) always shows every package; other views show the packages that list them, or all
packages when a package gives no ``views``.

Server generations, per organization (a collection): ``"server"`` is one of ``services`` (the
default), ``2022.1``, ``2022``, ``2020.1``, ``2020``, ``2019.1``, ``2019`` (``SERVER_RELEASES``):
an api-version above the release's ceiling gets HTTP 400 ``VssVersionOutOfRangeException`` "The
requested REST API version of 7.1 is out of range for this server. The latest REST API version
this server supports is 5.1."; below 7.0 the packaging routes want ``-preview`` (HTTP 400
``VssInvalidPreviewVersionException`` otherwise); 2019 and 2020 list feeds without the
``project`` key (``"legacy_list"`` overrides it). ``"legacy_views": true`` lists views without the
``Local`` view and without ``visibility``; ``"projects_api": "401"`` or ``"403"`` refuses the
projects API to PATs (a Packaging-only PAT). Each logged request names its ``server`` and
``api_version``.

Fault kinds: ``429 500 503 401 403 203 latency truncated nonjson drop``; ``times`` null means
forever; ``scope`` is ``api``, ``pypi`` or ``all``; ``drop`` resets the connection (``"reset":
false`` closes it with a FIN instead).

After binding, one JSON line ``{"port": N, "url": "http://127.0.0.1:N"}`` goes to stdout. Each
request is logged as one JSON line (to ``--log`` or to stderr); credentials are never logged.
SIGTERM or SIGINT stop the server with exit code 0.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import json
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import IO, Any

API_ROUTES = frozenset({"feeds", "feed", "views", "view", "projects", "project"})
PYPI_ROUTES = frozenset({"simple_index", "simple_project", "download", "metadata"})
FAULT_KINDS = frozenset(
    {"429", "500", "503", "401", "403", "203", "latency", "truncated", "nonjson", "drop"}
)
FAULT_SCOPES = frozenset({"api", "pypi", "all"})
DEFAULT_VIEWS = ("Local", "Prerelease", "Release")
LATEST_API_VERSION = (7, 2)


@dataclass(frozen=True)
class ServerRelease:
    """What one Azure DevOps release answers (the emulator's fixtures for server generations).

    ``ceiling``: the newest api-version it takes; ``ga_from``: below this version the packaging
    routes (list feeds, get feed, views) are preview only; ``preview_ceiling``: the ceiling itself
    is preview only for every route (Services' 7.2); ``legacy_list``: feed lists carry no
    ``project`` key, the project's UUID is only in each feed's ``url``.
    """

    name: str
    ceiling: tuple[int, int]
    ga_from: tuple[int, int] = (7, 0)
    preview_ceiling: bool = False
    legacy_list: bool = False


# Versions per release: MicrosoftDocs/vsts-rest-api-specs, specification/artifacts/<v>/feed.json
# and azure-devops-server-<v>/feed-onprem.json (feeds routes "x-ms-preview" up to 6.1, GA in 7.0).
SERVER_RELEASES: dict[str, ServerRelease] = {
    release.name: release
    for release in (
        ServerRelease("services", LATEST_API_VERSION, preview_ceiling=True),
        ServerRelease("2022.1", (7, 1)),
        ServerRelease("2022", (7, 0)),
        ServerRelease("2020.1", (6, 1), legacy_list=True),
        ServerRelease("2020", (6, 0), legacy_list=True),
        ServerRelease("2019.1", (5, 1), legacy_list=True),
        ServerRelease("2019", (5, 0), legacy_list=True),
    )
}
PACKAGING_ROUTES = frozenset({"feeds", "feed", "views", "view"})
PROJECTS_DENIED = frozenset({"401", "403"})
JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
FIXED_TIME = "2024-01-01T00:00:00Z"
ANONYMOUS_MESSAGE = (
    "TF400813: Resource not available for anonymous access. Client authentication required."
)
BAD_CREDENTIAL_MESSAGE = "TF400813: The user '' is not authorized to access this resource."

_WEBAPI = "Microsoft.VisualStudio.Services.WebApi"
_FEED_WEBAPI = "Microsoft.VisualStudio.Services.Feed.WebApi"
_FRAMEWORK = "Microsoft.TeamFoundation.Framework.Server"
_CORE_WEBAPI = "Microsoft.TeamFoundation.Core.WebApi"
_PACKAGING = "Microsoft.VisualStudio.Services.Packaging.Shared.WebApi"
TYPE_NAMES: dict[str, str] = {
    "FeedIdNotFoundException": f"{_FEED_WEBAPI}.FeedIdNotFoundException, {_FEED_WEBAPI}",
    "FeedViewNotFoundException": f"{_FEED_WEBAPI}.FeedViewNotFoundException, {_FEED_WEBAPI}",
    "FeedNeedsPermissionsException": (
        f"{_FEED_WEBAPI}.FeedNeedsPermissionsException, {_FEED_WEBAPI}"
    ),
    "ProjectDoesNotExistWithNameException": (
        f"{_CORE_WEBAPI}.ProjectDoesNotExistWithNameException, {_CORE_WEBAPI}"
    ),
    "UnauthorizedRequestException": f"{_FRAMEWORK}.UnauthorizedRequestException, {_FRAMEWORK}",
    "RequestBlockedException": f"{_FRAMEWORK}.RequestBlockedException, {_FRAMEWORK}",
    "PackageNotFoundException": (f"{_PACKAGING}.Exceptions.PackageNotFoundException, {_PACKAGING}"),
}


def type_name(type_key: str) -> str:
    """The .NET-style ``typeName`` for a ``typeKey``."""
    return TYPE_NAMES.get(type_key, f"{_WEBAPI}.{type_key}, {_WEBAPI}")


def det_uuid(org: str, kind: str, name: str, generation: int = 0) -> str:
    """The deterministic id of an object the config gave no id for."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"azfeeds-emulator/{org}/{kind}/{name}/{generation}"))


def normalize_name(name: str) -> str:
    """PEP 503 normalized project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def short_version(version: str) -> str:
    """Azure's download-URL version: trailing ``.0`` release components stripped."""
    match = re.match(r"^(\d+(?:\.\d+)*)(.*)$", version)
    if match is None:
        return version
    parts = match.group(1).split(".")
    while len(parts) > 1 and int(parts[-1]) == 0:
        parts.pop()
    return ".".join(parts) + match.group(2)


def quote_segment(value: str) -> str:
    """Percent-encode one path segment."""
    return urllib.parse.quote(value, safe="")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------
# Wheels


@dataclass(frozen=True)
class BuiltWheel:
    """A wheel built in memory, with its METADATA."""

    filename: str
    data: bytes
    sha256: str
    metadata: bytes
    metadata_sha256: str


def build_wheel(
    name: str,
    version: str,
    requires: list[str],
    requires_python: str | None,
    feed_name: str,
    feed_id: str,
) -> BuiltWheel:
    """Build a tiny pure-Python wheel, byte-for-byte deterministic for the same inputs."""
    dist = normalize_name(name).replace("-", "_")
    file_version = version.replace("-", "_")
    dist_info = f"{dist}-{file_version}.dist-info"
    filename = f"{dist}-{file_version}-py3-none-any.whl"
    init = (
        f"__version__ = {json.dumps(version)}\n"
        f"FEED = {json.dumps(feed_name)}\n"
        f"FEED_ID = {json.dumps(feed_id)}\n"
    )
    meta_lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta_lines += [f"Requires-Dist: {req}" for req in requires]
    if requires_python:
        meta_lines.append(f"Requires-Python: {requires_python}")
    metadata = ("\n".join(meta_lines) + "\n\n").encode()
    wheel_text = (
        "Wheel-Version: 1.0\n"
        "Generator: azfeeds-emulator\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n\n"
    )
    files: dict[str, bytes] = {
        f"{dist}/__init__.py": init.encode(),
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": wheel_text.encode(),
    }
    record_lines = []
    for path in sorted(files):
        digest = base64.urlsafe_b64encode(hashlib.sha256(files[path]).digest()).rstrip(b"=")
        record_lines.append(f"{path},sha256={digest.decode()},{len(files[path])}\n")
    record_path = f"{dist_info}/RECORD"
    record_lines.append(f"{record_path},,\n")
    files[record_path] = "".join(record_lines).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3
            info.external_attr = (0o100644) << 16
            archive.writestr(info, files[path])
    data = buffer.getvalue()
    return BuiltWheel(filename, data, sha256_hex(data), metadata, sha256_hex(metadata))


# --------------------------------------------------------------------------------------------
# Configuration and state


class ConfigError(ValueError):
    """The configuration (or a control request) is invalid."""


def _check_keys(obj: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected an object")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    return obj


def _str(obj: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key!r} must be a non-empty string")
    return value


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key!r} must be a non-empty string or null")
    return value


def _opt_uuid(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = _opt_str(obj, key, where)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ConfigError(f"{where}: {key!r} must be a UUID") from None


def _str_list(obj: dict[str, Any], key: str, where: str) -> list[str]:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key!r} must be a list of strings")
    return list(value)


def _int(obj: dict[str, Any], key: str, where: str, default: int = 0) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {key!r} must be a non-negative integer")
    return value


def _bool(obj: dict[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = obj.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key!r} must be true or false")
    return value


@dataclass
class Fault:
    """One injected fault; ``times`` None means forever."""

    kind: str
    times: int | None
    scope: str
    retry_after: float | None
    latency_ms: int
    reset: bool

    @classmethod
    def parse(cls, obj: Any, where: str) -> Fault:
        spec = _check_keys(
            obj, {"kind", "times", "scope", "retry_after", "latency_ms", "reset"}, where
        )
        kind = spec.get("kind")
        if isinstance(kind, int) and not isinstance(kind, bool):
            kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ConfigError(f"{where}: 'kind' must be one of {sorted(FAULT_KINDS)}")
        times = spec.get("times")
        if times is not None and (
            isinstance(times, bool) or not isinstance(times, int) or times < 0
        ):
            raise ConfigError(f"{where}: 'times' must be a non-negative integer or null")
        scope = spec.get("scope", "api")
        if scope not in FAULT_SCOPES:
            raise ConfigError(f"{where}: 'scope' must be one of {sorted(FAULT_SCOPES)}")
        retry_after = spec.get("retry_after")
        if retry_after is not None and (
            isinstance(retry_after, bool)
            or not isinstance(retry_after, (int, float))
            or retry_after < 0
        ):
            raise ConfigError(f"{where}: 'retry_after' must be a non-negative number")
        return cls(
            kind=str(kind),
            times=times,
            scope=str(scope),
            retry_after=None if retry_after is None else float(retry_after),
            latency_ms=_int(spec, "latency_ms", where),
            reset=_bool(spec, "reset", where, default=True),
        )

    def applies_to(self, route: str) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if route in API_ROUTES:
            return self.scope in ("api", "all")
        if route in PYPI_ROUTES:
            return self.scope in ("pypi", "all")
        return False

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "times": self.times,
            "scope": self.scope,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "reset": self.reset,
        }


@dataclass
class Project:
    id: str
    name: str
    visibility: str
    description: str | None
    revision: int = 1


@dataclass
class View:
    id: str
    name: str


@dataclass
class Package:
    name: str
    version: str
    requires: list[str]
    requires_python: str | None
    views: list[str] | None
    wheel: BuiltWheel | None = None

    @classmethod
    def parse(cls, obj: Any, where: str) -> Package:
        spec = _check_keys(obj, {"name", "version", "requires", "requires_python", "views"}, where)
        views = spec.get("views")
        if views is not None and (
            not isinstance(views, list) or not all(isinstance(v, str) for v in views)
        ):
            raise ConfigError(f"{where}: 'views' must be a list of view names or null")
        name = _str(spec, "name", where)
        version = _str(spec, "version", where)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ConfigError(f"{where}: invalid package name {name!r}")
        if not re.fullmatch(r"[0-9][A-Za-z0-9.+!_-]*", version):
            raise ConfigError(f"{where}: invalid version {version!r}")
        return cls(
            name=name,
            version=version,
            requires=_str_list(spec, "requires", where),
            requires_python=_opt_str(spec, "requires_python", where),
            views=None if views is None else list(views),
        )

    @property
    def built(self) -> BuiltWheel:
        assert self.wheel is not None
        return self.wheel


@dataclass
class Feed:
    id: str
    name: str
    project: Project | None
    description: str | None
    view_names: list[str]
    views: list[View]
    packages: list[Package]
    generation: int

    @property
    def default_view(self) -> View:
        for view in self.views:
            if view.name.casefold() == "local":
                return view
        return self.views[0]

    def find_view(self, key: str) -> View | None:
        folded = key.casefold()
        for view in self.views:
            if view.name.casefold() == folded or view.id == folded:
                return view
        return None

    def visible(self, package: Package, view: View | None) -> bool:
        if view is None or view is self.default_view or package.views is None:
            return True
        return view.name.casefold() in {name.casefold() for name in package.views}


@dataclass
class Org:
    name: str
    pats: list[str]
    tokens: list[str]
    anonymous: bool
    tenant: str
    latency_ms: int
    faults: list[Fault]
    projects: list[Project] = field(default_factory=list)
    feeds: list[Feed] = field(default_factory=list)
    retired_feed_ids: set[str] = field(default_factory=set)
    generations: dict[str, int] = field(default_factory=dict)
    release: ServerRelease = SERVER_RELEASES["services"]
    legacy_list: bool | None = None  # None: as the release answers
    legacy_views: bool = False  # views lists without the Local view and without visibility
    projects_api: str = "ok"  # "401" or "403": the PATs lack Project (Read)

    @property
    def lists_projects(self) -> bool:
        """Feed lists carry the ``project`` key."""
        legacy = self.release.legacy_list if self.legacy_list is None else self.legacy_list
        return not legacy

    def find_project(self, key: str) -> Project | None:
        folded = key.casefold()
        for project in self.projects:
            if project.name.casefold() == folded or project.id == folded:
                return project
        return None

    def find_feed(self, key: str) -> Feed | None:
        folded = key.casefold()
        for feed in self.feeds:
            if feed.name.casefold() == folded or feed.id == folded:
                return feed
        return None

    def used_ids(self) -> set[str]:
        ids = set(self.retired_feed_ids)
        ids.update(feed.id for feed in self.feeds)
        return ids


def make_views(
    org: str, feed_name: str, generation: int, names: list[str], ids: list[str | None]
) -> list[View]:
    return [
        View(id=given or det_uuid(org, "view", f"{feed_name}@{name}", generation), name=name)
        for name, given in zip(names, ids, strict=True)
    ]


def build_package(package: Package, feed: Feed) -> None:
    package.wheel = build_wheel(
        package.name,
        package.version,
        package.requires,
        package.requires_python,
        feed.name,
        feed.id,
    )


@dataclass
class Settings:
    prefix: list[str]
    pep658: bool
    require_api_version: bool


def parse_feed(org: Org, obj: Any, where: str, generation: int = 0) -> Feed:
    spec = _check_keys(obj, {"name", "id", "project", "views", "packages", "description"}, where)
    name = _str(spec, "name", where)
    if re.search(r"[\s@/\\?#:]", name) or name.startswith(("_", ".")):
        raise ConfigError(f"{where}: invalid feed name {name!r}")
    if org.find_feed(name) is not None:
        raise ConfigError(f"{where}: feed name {name!r} is already used in {org.name}")
    project_name = _opt_str(spec, "project", where)
    project: Project | None = None
    if project_name is not None:
        project = org.find_project(project_name)
        if project is None:
            project = Project(
                id=det_uuid(org.name, "project", project_name),
                name=project_name,
                visibility="private",
                description=None,
            )
            org.projects.append(project)
    raw_views = spec.get("views")
    view_names: list[str] = []
    view_ids: list[str | None] = []
    if raw_views is None:
        view_names = list(DEFAULT_VIEWS)
        view_ids = [None] * len(view_names)
    else:
        if not isinstance(raw_views, list) or not raw_views:
            raise ConfigError(f"{where}: 'views' must be a non-empty list")
        for index, raw_view in enumerate(raw_views):
            view_where = f"{where}.views[{index}]"
            view_spec = _check_keys(raw_view, {"name", "id"}, view_where)
            view_names.append(_str(view_spec, "name", view_where))
            view_ids.append(_opt_uuid(view_spec, "id", view_where))
    feed_id = _opt_uuid(spec, "id", where) or det_uuid(org.name, "feed", name, generation)
    raw_packages = spec.get("packages", [])
    if not isinstance(raw_packages, list):
        raise ConfigError(f"{where}: 'packages' must be a list")
    packages = [
        Package.parse(raw, f"{where}.packages[{index}]") for index, raw in enumerate(raw_packages)
    ]
    feed = Feed(
        id=feed_id,
        name=name,
        project=project,
        description=_opt_str(spec, "description", where),
        view_names=view_names,
        views=make_views(org.name, name, generation, view_names, view_ids),
        packages=[],
        generation=generation,
    )
    for package in packages:
        add_package(feed, package)
    return feed


def add_package(feed: Feed, package: Package) -> None:
    for existing in feed.packages:
        if normalize_name(existing.name) == normalize_name(package.name) and (
            existing.version == package.version
        ):
            raise ConfigError(
                f"package {package.name} {package.version} already exists in feed {feed.name}"
            )
    build_package(package, feed)
    feed.packages.append(package)


def parse_config(obj: Any) -> tuple[Settings, list[Org]]:
    config = _check_keys(
        obj, {"prefix", "pep658", "require_api_version", "organizations"}, "config"
    )
    prefix = config.get("prefix", "") or ""
    if not isinstance(prefix, str):
        raise ConfigError("config: 'prefix' must be a string")
    settings = Settings(
        prefix=[seg for seg in prefix.strip("/").split("/") if seg],
        pep658=_bool(config, "pep658", "config"),
        require_api_version=_bool(config, "require_api_version", "config"),
    )
    raw_orgs = config.get("organizations", [])
    if not isinstance(raw_orgs, list):
        raise ConfigError("config: 'organizations' must be a list")
    orgs: list[Org] = []
    for index, raw in enumerate(raw_orgs):
        where = f"organizations[{index}]"
        spec = _check_keys(
            raw,
            {
                "name",
                "pats",
                "tokens",
                "anonymous",
                "tenant",
                "latency_ms",
                "faults",
                "projects",
                "feeds",
                "server",
                "legacy_list",
                "legacy_views",
                "projects_api",
            },
            where,
        )
        name = _str(spec, "name", where)
        if name.startswith("_") or "/" in name:
            raise ConfigError(f"{where}: invalid organization name {name!r}")
        if any(org.name.casefold() == name.casefold() for org in orgs):
            raise ConfigError(f"{where}: duplicate organization {name!r}")
        raw_faults = spec.get("faults", [])
        if not isinstance(raw_faults, list):
            raise ConfigError(f"{where}: 'faults' must be a list")
        org = Org(
            name=name,
            pats=_str_list(spec, "pats", where),
            tokens=_str_list(spec, "tokens", where),
            anonymous=_bool(spec, "anonymous", where),
            tenant=_opt_uuid(spec, "tenant", where) or det_uuid(name, "tenant", name),
            latency_ms=_int(spec, "latency_ms", where),
            faults=[Fault.parse(f, f"{where}.faults[{i}]") for i, f in enumerate(raw_faults)],
        )
        apply_server_options(org, spec, where)
        raw_projects = spec.get("projects", [])
        if not isinstance(raw_projects, list):
            raise ConfigError(f"{where}: 'projects' must be a list")
        for p_index, raw_project in enumerate(raw_projects):
            p_where = f"{where}.projects[{p_index}]"
            p_spec = _check_keys(raw_project, {"name", "id", "visibility", "description"}, p_where)
            p_name = _str(p_spec, "name", p_where)
            if re.search(r"[/\\:~&%;@'\"?<>|#$*{},+=\[\]]", p_name):
                raise ConfigError(f"{p_where}: invalid project name {p_name!r}")
            if org.find_project(p_name) is not None:
                raise ConfigError(f"{p_where}: duplicate project {p_name!r}")
            visibility = _str(p_spec, "visibility", p_where, default="private")
            org.projects.append(
                Project(
                    id=_opt_uuid(p_spec, "id", p_where) or det_uuid(name, "project", p_name),
                    name=p_name,
                    visibility=visibility,
                    description=_opt_str(p_spec, "description", p_where),
                )
            )
        raw_feeds = spec.get("feeds", [])
        if not isinstance(raw_feeds, list):
            raise ConfigError(f"{where}: 'feeds' must be a list")
        for f_index, raw_feed in enumerate(raw_feeds):
            feed = parse_feed(org, raw_feed, f"{where}.feeds[{f_index}]")
            if feed.id in org.used_ids():
                raise ConfigError(f"{where}.feeds[{f_index}]: duplicate feed id {feed.id}")
            org.feeds.append(feed)
            org.generations[feed.name.casefold()] = 0
        orgs.append(org)
    return settings, orgs


def apply_server_options(org: Org, spec: dict[str, Any], where: str) -> None:
    """``server``, ``legacy_list``, ``legacy_views`` and ``projects_api`` of an organization."""
    if "server" in spec:
        release = _str(spec, "server", where)
        if release not in SERVER_RELEASES:
            known = ", ".join(SERVER_RELEASES)
            raise ConfigError(f"{where}: unknown server {release!r} (known: {known})")
        org.release = SERVER_RELEASES[release]
    if "legacy_list" in spec:
        raw = spec["legacy_list"]
        if raw is not None and not isinstance(raw, bool):
            raise ConfigError(f"{where}: 'legacy_list' must be true, false or null")
        org.legacy_list = raw
    if "legacy_views" in spec:
        org.legacy_views = _bool(spec, "legacy_views", where)
    if "projects_api" in spec:
        answer = _str(spec, "projects_api", where)
        if answer not in PROJECTS_DENIED | {"ok"}:
            raise ConfigError(f'{where}: \'projects_api\' must be "ok", "401" or "403"')
        org.projects_api = answer


def load_config_text(value: str) -> Any:
    """``--config``: a path, ``-`` for stdin, or a literal JSON object."""
    if value == "-":
        return json.load(sys.stdin)
    if value.lstrip().startswith("{"):
        return json.loads(value)
    with open(value, encoding="utf-8") as handle:
        return json.load(handle)


# --------------------------------------------------------------------------------------------
# HTTP plumbing


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)
    common: bool = True
    drop: bool = False
    reset: bool = True


class HttpError(Exception):
    """Raised by handlers; carries the response to send."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def json_body(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def json_response(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json_body(obj), JSON_TYPE, list(headers or []))


def wrapped_exception(type_key: str, message: str) -> dict[str, Any]:
    return {
        "$id": "1",
        "innerException": None,
        "message": message,
        "typeName": type_name(type_key),
        "typeKey": type_key,
        "errorCode": 0,
        "eventId": 3000,
    }


def api_error(
    status: int, type_key: str, message: str, headers: list[tuple[str, str]] | None = None
) -> HttpError:
    return HttpError(json_response(status, wrapped_exception(type_key, message), headers))


def feed_not_found(key: str) -> HttpError:
    return api_error(404, "FeedIdNotFoundException", f"The feed with ID '{key}' doesn't exist.")


def project_not_found(key: str) -> HttpError:
    return api_error(
        404,
        "ProjectDoesNotExistWithNameException",
        f"TF200016: The following project does not exist: {key}. Verify that the name of the "
        "project is correct and that the project exists on the specified Azure DevOps Server.",
    )


@dataclass
class Request:
    method: str
    path: str
    query: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes
    # What gets logged, filled in while handling.
    org: str | None = None
    route: str = "unknown"
    auth: str = "none"
    credential: str | None = None
    fault: str | None = None
    skip_log: bool = False
    shutdown: bool = False
    server: str | None = None  # the release of the organization (api requests)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Route:
    kind: str
    org: str | None = None
    project: str | None = None
    feed: str | None = None
    view: str | None = None
    item: str | None = None
    package: str | None = None
    version: str | None = None
    filename: str | None = None


def parse_route(segments: list[str]) -> Route:
    """Match decoded path segments (prefix already removed) against the routes."""
    if not segments:
        return Route("unknown")
    org, rest = segments[0], segments[1:]
    lowered = [seg.lower() for seg in rest]
    if "_apis" in lowered[:2]:
        index = lowered.index("_apis")
        project = rest[0] if index == 1 else None
        tail, low = rest[index + 1 :], lowered[index + 1 :]
        if len(low) >= 2 and low[0] == "packaging" and low[1] == "feeds":
            if len(low) == 2:
                return Route("feeds", org, project)
            if len(low) == 3:
                return Route("feed", org, project, feed=tail[2])
            if len(low) in (4, 5) and low[3] == "views":
                if len(low) == 4:
                    return Route("views", org, project, feed=tail[2])
                return Route("view", org, project, feed=tail[2], item=tail[4])
        elif low and low[0] == "projects" and project is None and len(low) <= 2:
            if len(low) == 1:
                return Route("projects", org)
            return Route("project", org, item=tail[1])
        return Route("unknown", org)
    if "_packaging" in lowered[:2]:
        index = lowered.index("_packaging")
        project = rest[0] if index == 1 else None
        tail, low = rest[index + 1 :], lowered[index + 1 :]
        if len(low) >= 3 and low[1] == "pypi":
            feed, at, view = tail[0].partition("@")
            view_seg = view if at else None
            if low[2] == "simple" and len(low) == 3:
                return Route("simple_index", org, project, feed=feed, view=view_seg)
            if low[2] == "simple" and len(low) == 4:
                return Route(
                    "simple_project", org, project, feed=feed, view=view_seg, package=tail[3]
                )
            if low[2] == "download" and len(low) == 6:
                filename = tail[5]
                kind = "metadata" if filename.endswith(".metadata") else "download"
                return Route(
                    kind,
                    org,
                    project,
                    feed=feed,
                    view=view_seg,
                    package=tail[3],
                    version=tail[4],
                    filename=filename,
                )
        return Route("unknown", org)
    return Route("unknown", org)


def parse_api_version(req: Request) -> str | None:
    version = req.params.get("api-version")
    if version:
        return version
    accept = req.header("accept") or ""
    for part in accept.replace(",", ";").split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "api-version" and value.strip():
            return value.strip()
    return None


_API_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:-(preview)(?:\.(\d+))?)?$", re.IGNORECASE)


def check_api_version(
    req: Request,
    required: bool,
    release: ServerRelease | None = None,
    route: str = "feeds",
) -> None:
    """Refuse an api-version as the release does: missing, malformed, newer than its ceiling
    (out of range), or without ``-preview`` where the route is preview only."""
    release = release or SERVER_RELEASES["services"]
    version = parse_api_version(req)
    if version is None:
        if required or req.method not in ("GET", "HEAD"):
            raise api_error(
                400,
                "VssVersionNotSpecifiedException",
                f'No api-version was supplied for the "{req.method}" request. The version must '
                'be supplied either as part of the Accept header (e.g. "application/json; '
                'api-version=1.0") or as a query parameter (e.g. "?api-version=1.0").',
            )
        return
    match = _API_VERSION_RE.match(version)
    if match is None:
        raise api_error(
            400,
            "VssInvalidApiVersionException",
            f"The requested api-version '{version}' is not valid. It must be of the form "
            "{major}.{minor}[-preview[.{resource-version}]].",
        )
    number = (int(match.group(1)), int(match.group(2)))
    short = "{}.{}".format(*number)
    if number > release.ceiling:
        latest = "{}.{}".format(*release.ceiling)
        raise api_error(
            400,
            "VssVersionOutOfRangeException",
            f"The requested REST API version of {short} is out of range for this server. "
            f"The latest REST API version this server supports is {latest}.",
        )
    preview_only = (number == release.ceiling and release.preview_ceiling) or (
        route in PACKAGING_ROUTES and number < release.ga_from
    )
    if preview_only and match.group(3) is None:
        raise api_error(
            400,
            "VssInvalidPreviewVersionException",
            f'The requested version "{version}" of the resource is under preview. The -preview '
            f"flag must be supplied in the api-version for such requests. For example: "
            f'"{short}-preview"',
        )


# --------------------------------------------------------------------------------------------
# The application


class Emulator:
    """All state, plus request dispatch. Handlers run on many threads; state sits behind a lock."""

    def __init__(self, settings: Settings, orgs: list[Org], log: IO[str]) -> None:
        self.settings = settings
        self.orgs = orgs
        self.lock = threading.RLock()
        self.log_lock = threading.Lock()
        self.log_stream = log
        self.records: list[dict[str, Any]] = []
        self.process_id = str(uuid.uuid4())
        self.root = "http://127.0.0.1"
        self.base = self.root
        # Set by POST /_emulator/shutdown, after its response is sent: a clean exit 0 on every
        # system (Windows has no SIGTERM; terminate() there ends the process with exit code 1).
        self.stop_requested = threading.Event()

    def set_root(self, root: str) -> None:
        self.root = root
        self.base = root + "".join("/" + quote_segment(seg) for seg in self.settings.prefix)

    # ---- lookups -------------------------------------------------------------------------

    def find_org(self, key: str) -> Org | None:
        folded = key.casefold()
        for org in self.orgs:
            if org.name.casefold() == folded:
                return org
        return None

    def require_org(self, key: Any) -> Org:
        if not isinstance(key, str):
            raise control_error(400, "'org' must be a string")
        org = self.find_org(key)
        if org is None:
            raise control_error(404, f"no organization {key!r}")
        return org

    def require_feed(self, org: Org, key: Any) -> Feed:
        if not isinstance(key, str):
            raise control_error(400, "'feed' must be a string")
        feed = org.find_feed(key)
        if feed is None:
            raise control_error(404, f"no feed {key!r} in {org.name}")
        return feed

    def resolve_project(self, org: Org, segment: str | None) -> Project | None:
        if segment is None:
            return None
        project = org.find_project(segment)
        if project is None:
            raise project_not_found(segment)
        return project

    def resolve_feed(self, org: Org, project_seg: str | None, feed_seg: str) -> Feed:
        project = self.resolve_project(org, project_seg)
        feed = org.find_feed(feed_seg)
        if feed is None or feed.project is not project:
            raise feed_not_found(feed_seg)
        return feed

    def resolve_view(self, feed: Feed, view_seg: str | None) -> View | None:
        if view_seg is None:
            return None
        view = feed.find_view(view_seg)
        if view is None:
            raise api_error(
                404, "FeedViewNotFoundException", f"The view with ID '{view_seg}' doesn't exist."
            )
        return view

    # ---- JSON shapes ---------------------------------------------------------------------

    def org_base(self, org: Org) -> str:
        return f"{self.base}/{quote_segment(org.name)}"

    def feed_url(self, org: Org, feed: Feed) -> str:
        project = f"/{feed.project.id}" if feed.project is not None else ""
        return f"{self.org_base(org)}{project}/_apis/Packaging/Feeds/{feed.id}"

    def feed_json(self, org: Org, feed: Feed, view: View | None = None) -> dict[str, Any]:
        url = self.feed_url(org, feed)
        obj: dict[str, Any] = {
            "id": feed.id,
            "name": feed.name,
            "description": feed.description,
            "url": url,
            "_links": {
                "self": {"href": url},
                "packages": {"href": f"{url}/Packages"},
                "permissions": {"href": f"{url}/Permissions"},
            },
            "hideDeletedPackageVersions": True,
            "defaultViewId": feed.default_view.id,
            "upstreamEnabled": True,
            "viewId": view.id if view else None,
            "viewName": view.name if view else None,
            "fullyQualifiedName": f"{feed.name}@{view.name}" if view else feed.name,
            "fullyQualifiedId": f"{feed.id}@{view.id}" if view else feed.id,
            "upstreamSources": [],
            "capabilities": "defaultCapabilities",
        }
        if view is not None:
            obj["view"] = self.view_json(org, feed, view)
        if feed.project is not None and org.lists_projects:
            obj["project"] = {
                "id": feed.project.id,
                "name": feed.project.name,
                "visibility": feed.project.visibility,
            }
        return obj

    def view_json(self, org: Org, feed: Feed, view: View) -> dict[str, Any]:
        url = f"{self.feed_url(org, feed)}/Views/{view.id}"
        implicit = view is feed.default_view
        obj: dict[str, Any] = {
            "id": view.id,
            "name": view.name,
            "url": url,
            "_links": {"self": {"href": url}, "feed": {"href": self.feed_url(org, feed)}},
            "type": "implicit" if implicit else "release",
        }
        if not org.legacy_views:
            obj["visibility"] = "private" if implicit else "collection"
        return obj

    def project_json(self, org: Org, project: Project) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": project.id,
            "name": project.name,
            "url": f"{self.org_base(org)}/_apis/projects/{project.id}",
            "state": "wellFormed",
            "revision": project.revision,
            "visibility": project.visibility,
            "lastUpdateTime": FIXED_TIME,
        }
        if project.description is not None:
            obj["description"] = project.description
        return obj

    def state_json(self) -> dict[str, Any]:
        orgs = []
        for org in self.orgs:
            feeds = [
                {
                    "id": feed.id,
                    "name": feed.name,
                    "generation": feed.generation,
                    "project": feed.project.name if feed.project else None,
                    "project_id": feed.project.id if feed.project else None,
                    "url": self.feed_url(org, feed),
                    "default_view_id": feed.default_view.id,
                    "views": [{"id": v.id, "name": v.name} for v in feed.views],
                    "packages": [self.package_json(p) for p in feed.packages],
                }
                for feed in org.feeds
            ]
            orgs.append(
                {
                    "name": org.name,
                    "tenant": org.tenant,
                    "anonymous": org.anonymous,
                    "latency_ms": org.latency_ms,
                    "pat_count": len(org.pats),
                    "token_count": len(org.tokens),
                    "faults": [fault.to_json() for fault in org.faults],
                    "projects": [
                        {"id": p.id, "name": p.name, "visibility": p.visibility}
                        for p in org.projects
                    ],
                    "feeds": feeds,
                    "retired_feed_ids": sorted(org.retired_feed_ids),
                    "server": self.server_json(org),
                }
            )
        return {
            "base": self.base,
            "prefix": "/".join(self.settings.prefix),
            "pep658": self.settings.pep658,
            "require_api_version": self.settings.require_api_version,
            "organizations": orgs,
        }

    @staticmethod
    def server_json(org: Org) -> dict[str, Any]:
        release = org.release
        return {
            "release": release.name,
            "ceiling": "{}.{}".format(*release.ceiling),
            "packaging_ga_from": "{}.{}".format(*release.ga_from),
            "preview_ceiling": release.preview_ceiling,
            "lists_projects": org.lists_projects,
            "legacy_views": org.legacy_views,
            "projects_api": org.projects_api,
        }

    @staticmethod
    def package_json(package: Package) -> dict[str, Any]:
        wheel = package.built
        return {
            "name": package.name,
            "version": package.version,
            "requires": package.requires,
            "requires_python": package.requires_python,
            "views": package.views,
            "filename": wheel.filename,
            "sha256": wheel.sha256,
            "size": len(wheel.data),
        }

    # ---- dispatch --------------------------------------------------------------------------

    def split_path(self, path: str) -> list[str] | None:
        """Decoded segments after the prefix, or None when the path is outside the prefix."""
        segments = [urllib.parse.unquote(seg) for seg in path.split("/") if seg]
        prefix = self.settings.prefix
        if [seg.casefold() for seg in segments[: len(prefix)]] != [p.casefold() for p in prefix]:
            return None
        return segments[len(prefix) :]

    def dispatch(self, req: Request) -> Response:
        try:
            return self._dispatch(req)
        except HttpError as error:
            return error.response

    def _dispatch(self, req: Request) -> Response:
        raw = [urllib.parse.unquote(seg) for seg in req.path.split("/") if seg]
        if raw and raw[0] == "_emulator":
            req.route = "control"
            return self.control(req, raw[1:])
        segments = self.split_path(req.path)
        if segments is None:
            raise api_error(404, "VssResourceNotFoundException", "The resource cannot be found.")
        if segments and segments[0] == "_emulator":
            req.route = "control"
            return self.control(req, segments[1:])
        route = parse_route(segments)
        req.route = route.kind
        req.org = route.org
        if route.org is None:
            raise api_error(404, "VssResourceNotFoundException", "The resource cannot be found.")
        with self.lock:
            org = self.find_org(route.org)
            latency = org.latency_ms if org is not None else 0
        if org is None:
            raise api_error(
                404,
                "OrganizationNotFoundException",
                f"VS800075: The organization '{route.org}' does not exist or you do not have "
                "access to it.",
            )
        req.org = org.name
        if latency:
            time.sleep(latency / 1000)
        if route.kind == "unknown":
            raise api_error(404, "VssResourceNotFoundException", "The resource cannot be found.")
        is_api = route.kind in API_ROUTES
        if req.method not in ("GET", "HEAD"):
            raise api_error(
                405, "VssMethodNotAllowedException", f"The method {req.method} is not allowed."
            )
        fault = self.take_fault(org, route.kind)
        post_fault: Fault | None = None
        if fault is not None:
            req.fault = fault.kind
            if fault.kind == "latency":
                time.sleep(fault.latency_ms / 1000)
            elif fault.kind in ("truncated", "drop"):
                post_fault = fault
            else:
                return self.fault_response(req, org, fault, is_api)
        try:
            response = self.serve_route(req, org, route, is_api)
        except HttpError as error:
            response = error.response
        if post_fault is not None and post_fault.kind == "truncated":
            response.status = 200
            response.body = response.body[: len(response.body) // 2]
        elif post_fault is not None:
            response.drop = True
            response.reset = post_fault.reset
        return response

    def serve_route(self, req: Request, org: Org, route: Route, is_api: bool) -> Response:
        self.authenticate(req, org, is_api)
        with self.lock:
            if is_api:
                req.server = org.release.name
                check_api_version(req, self.settings.require_api_version, org.release, route.kind)
                return self.serve_api(req, org, route)
            return self.serve_pypi(org, route)

    def take_fault(self, org: Org, route: str) -> Fault | None:
        with self.lock:
            for fault in org.faults:
                if fault.applies_to(route):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # ---- auth ----------------------------------------------------------------------------

    def authenticate(self, req: Request, org: Org, is_api: bool) -> None:
        header = (req.header("authorization") or "").strip()
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        secret: str | None = None
        bearer = False
        if scheme == "basic":
            req.auth = "basic"
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except ValueError:
                decoded = ""
            _, colon, password = decoded.partition(":")
            secret = password if colon else None
        elif scheme == "bearer":
            req.auth = "bearer"
            bearer = True
            secret = value.strip()
        if secret:
            if not bearer:
                for index, pat in enumerate(org.pats):
                    if secret == pat:
                        req.credential = f"pat:{index}"
                        return
            for index, token in enumerate(org.tokens):
                if secret == token:
                    req.credential = f"token:{index}"
                    return
        if req.auth == "none" and org.anonymous:
            return
        message = ANONYMOUS_MESSAGE if req.auth == "none" else BAD_CREDENTIAL_MESSAGE
        if not is_api:
            raise HttpError(self.unauthorized(org, message))
        if (req.header("x-tfs-fedauthredirect") or "").strip().lower() == "suppress":
            raise HttpError(self.unauthorized(org, message))
        raise HttpError(self.sign_in_page(org))

    def challenge_headers(self, org: Org, message: str) -> list[tuple[str, str]]:
        return [
            (
                "WWW-Authenticate",
                f"Bearer authorization_uri=https://login.microsoftonline.com/{org.tenant}, "
                f'Basic realm="{self.base}/", TFS-Federated',
            ),
            ("X-VSS-ResourceTenant", org.tenant),
            ("X-VSS-AuthorizationEndpoint", f"{self.base}/_vssps"),
            ("X-TFS-FedAuthRealm", f"{self.base}/"),
            ("X-TFS-FedAuthIssuer", f"{self.org_base(org)}/"),
            ("X-TFS-ServiceError", urllib.parse.quote_plus(message)),
        ]

    def unauthorized(self, org: Org, message: str) -> Response:
        body = wrapped_exception("UnauthorizedRequestException", message)
        return json_response(401, body, self.challenge_headers(org, message))

    def sign_in_page(self, org: Org) -> Response:
        sign_in = html.escape(
            f"{self.base}/_signin?realm={quote_segment(self.base)}&org={quote_segment(org.name)}"
        )
        page = (
            "<!DOCTYPE html>\n<html><head><title>Azure DevOps Services | Sign In</title></head>"
            f'<body><h1>Sign in</h1><p><a href="{sign_in}">Sign in to continue to '
            f"{html.escape(org.name)}</a></p></body></html>\n"
        )
        return Response(203, page.encode(), HTML_TYPE)

    # ---- faults --------------------------------------------------------------------------

    def fault_response(self, req: Request, org: Org, fault: Fault, is_api: bool) -> Response:
        kind = fault.kind
        if kind == "429":
            retry = fault.retry_after if fault.retry_after is not None else 1.0
            retry_text = str(int(retry)) if retry == int(retry) else str(retry)
            message = (
                "TF400733: The request has been canceled: Request was blocked due to exceeding "
                "usage of resource 'Core' in namespace 'User'."
            )
            headers = [
                ("Retry-After", retry_text),
                ("X-RateLimit-Resource", "Core"),
                ("X-RateLimit-Delay", "0.000"),
                ("X-RateLimit-Limit", "200"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", str(int(time.time() + retry))),
            ]
            return json_response(
                429, wrapped_exception("RequestBlockedException", message), headers
            )
        if kind in ("500", "503"):
            headers = []
            if fault.retry_after is not None:
                retry = fault.retry_after
                headers.append(
                    ("Retry-After", str(int(retry)) if retry == int(retry) else str(retry))
                )
            if kind == "500":
                body = wrapped_exception(
                    "VssServiceException", "VS402375: An unexpected error occurred (emulated)."
                )
            else:
                body = wrapped_exception(
                    "VssServiceUnavailableException",
                    "The service is temporarily unavailable (emulated). Please retry.",
                )
            return json_response(int(kind), body, headers)
        if kind == "401":
            message = BAD_CREDENTIAL_MESSAGE if req.auth != "none" else ANONYMOUS_MESSAGE
            return self.unauthorized(org, message)
        if kind == "403":
            return json_response(
                403,
                wrapped_exception(
                    "FeedNeedsPermissionsException",
                    "User '00000000-0000-0000-0000-000000000000' lacks permission to complete "
                    "this action. You need to have 'ReadPackages'.",
                ),
            )
        if kind == "203":
            return self.sign_in_page(org)
        # nonjson
        page = (
            "<!DOCTYPE html>\n<html><body><p>Service notice: this is not JSON.</p></body></html>\n"
        )
        return Response(200, page.encode(), HTML_TYPE)

    # ---- feeds and projects API ----------------------------------------------------------

    def serve_api(self, req: Request, org: Org, route: Route) -> Response:
        kind = route.kind
        if kind in ("projects", "project") and req.credential and req.credential.startswith("pat:"):
            if org.projects_api == "401":
                raise HttpError(self.unauthorized(org, BAD_CREDENTIAL_MESSAGE))
            if org.projects_api == "403":
                raise api_error(
                    403,
                    "UnauthorizedRequestException",
                    "TF400813: The personal access token does not have the scope needed to read "
                    "projects (vso.project).",
                )
        if kind == "projects":
            return self.list_projects(req, org)
        if kind == "project":
            assert route.item is not None
            project = org.find_project(route.item)
            if project is None:
                raise project_not_found(route.item)
            return json_response(200, self.project_json(org, project))
        if kind == "feeds":
            project = self.resolve_project(org, route.project)
            feeds = [feed for feed in org.feeds if project is None or feed.project is project]
            value = [self.feed_json(org, feed) for feed in feeds]
            return json_response(200, {"count": len(value), "value": value})
        assert route.feed is not None
        feed_seg, at, view_seg = route.feed.partition("@")
        feed = self.resolve_feed(org, route.project, feed_seg)
        if kind == "feed":
            view = self.resolve_view(feed, view_seg if at else None)
            return json_response(200, self.feed_json(org, feed, view))
        if at:
            raise feed_not_found(route.feed)
        if kind == "views":
            shown = [v for v in feed.views if not (org.legacy_views and v is feed.default_view)]
            value = [self.view_json(org, feed, view) for view in shown]
            return json_response(200, {"count": len(value), "value": value})
        assert route.item is not None
        found = self.resolve_view(feed, route.item)
        assert found is not None
        return json_response(200, self.view_json(org, feed, found))

    def list_projects(self, req: Request, org: Org) -> Response:
        def number(key: str, default: int, minimum: int) -> int:
            raw = req.params.get(key)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                value = minimum - 1
            if value < minimum:
                raise api_error(
                    400, "InvalidArgumentValueException", f"The value of '{key}' is not valid."
                )
            return value

        top = number("$top", 100, 1)
        start = number("$skip", 0, 0)
        if req.params.get("continuationtoken"):
            start = number("continuationtoken", 0, 0)
        page = org.projects[start : start + top]
        headers: list[tuple[str, str]] = []
        if start + top < len(org.projects):
            headers.append(("x-ms-continuationtoken", str(start + top)))
        value = [self.project_json(org, project) for project in page]
        return json_response(200, {"count": len(value), "value": value}, headers)

    # ---- PyPI ----------------------------------------------------------------------------

    def serve_pypi(self, org: Org, route: Route) -> Response:
        assert route.feed is not None
        feed = self.resolve_feed(org, route.project, route.feed)
        view = self.resolve_view(feed, route.view)
        visible = [p for p in feed.packages if feed.visible(p, view)]
        if route.kind == "simple_index":
            names = sorted({normalize_name(p.name) for p in visible})
            anchors = "".join(f'    <a href="{name}/">{name}</a>\n' for name in names)
            return self.html_page("Simple index", anchors)
        assert route.package is not None
        wanted = normalize_name(route.package)
        matching = [p for p in visible if normalize_name(p.name) == wanted]
        if route.kind == "simple_project":
            if not matching:
                raise package_not_found(route.package, feed)
            anchors = "".join(self.anchor(org, feed, view, p) for p in matching)
            return self.html_page(f"Links for {wanted}", anchors)
        assert route.filename is not None and route.version is not None
        metadata = route.kind == "metadata"
        filename = route.filename[: -len(".metadata")] if metadata else route.filename
        for package in matching:
            wheel = package.built
            if wheel.filename != filename:
                continue
            if route.version not in (package.version, short_version(package.version)):
                continue
            if metadata:
                if not self.settings.pep658:
                    break
                return Response(
                    200, wheel.metadata, "application/octet-stream", [("Cache-Control", "no-store")]
                )
            return Response(
                200, wheel.data, "application/octet-stream", [("Cache-Control", "no-store")]
            )
        raise package_not_found(f"{route.package} {route.version}", feed)

    def html_page(self, title: str, anchors: str) -> Response:
        page = (
            "<!DOCTYPE html>\n<html>\n  <head>\n"
            '    <meta name="pypi:repository-version" content="1.0">\n'
            f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
            f"    <h1>{html.escape(title)}</h1>\n{anchors}  </body>\n</html>\n"
        )
        return Response(200, page.encode(), HTML_TYPE, [("Cache-Control", "no-cache")])

    def download_url(self, org: Org, feed: Feed, view: View | None, package: Package) -> str:
        project = f"/{feed.project.id}" if feed.project is not None else ""
        feed_part = f"{feed.id}@{view.id}" if view is not None else feed.id
        wheel = package.built
        return (
            f"{self.org_base(org)}{project}/_packaging/{feed_part}/pypi/download/"
            f"{normalize_name(package.name)}/{short_version(package.version)}/{wheel.filename}"
        )

    def anchor(self, org: Org, feed: Feed, view: View | None, package: Package) -> str:
        wheel = package.built
        href = f"{self.download_url(org, feed, view, package)}#sha256={wheel.sha256}"
        attrs = f'href="{html.escape(href)}"'
        if package.requires_python:
            attrs += f' data-requires-python="{html.escape(package.requires_python)}"'
        if self.settings.pep658:
            attrs += f' data-dist-info-metadata="sha256={wheel.metadata_sha256}"'
            attrs += f' data-core-metadata="sha256={wheel.metadata_sha256}"'
        return f"    <a {attrs}>{html.escape(wheel.filename)}</a><br/>\n"

    # ---- control API ---------------------------------------------------------------------

    def control(self, req: Request, segments: list[str]) -> Response:
        action = "/".join(segments).lower()
        if req.method in ("GET", "HEAD"):
            if action == "health":
                return json_response(200, {"ok": True})
            with self.lock:
                if action == "state":
                    return json_response(200, self.state_json())
            if action == "requests":
                with self.log_lock:
                    return json_response(200, list(self.records))
            raise control_error(404, f"unknown control endpoint GET /_emulator/{action}")
        if req.method != "POST":
            raise control_error(405, f"method {req.method} not allowed on the control API")
        if action == "requests/clear":
            self.clear_records()
            req.skip_log = True
            return json_response(200, {"ok": True})
        if action == "shutdown":
            req.skip_log = True
            req.shutdown = True
            return json_response(200, {"ok": True})
        try:
            payload = json.loads(req.body or b"{}")
        except ValueError:
            raise control_error(400, "the body must be JSON") from None
        if not isinstance(payload, dict):
            raise control_error(400, "the body must be a JSON object")
        handlers = {
            "faults": self.control_faults,
            "recreate-feed": self.control_recreate_feed,
            "create-feed": self.control_create_feed,
            "rename-feed": self.control_rename_feed,
            "rename-project": self.control_rename_project,
            "delete-feed": self.control_delete_feed,
            "publish": self.control_publish,
            "auth": self.control_auth,
            "server": self.control_server,
        }
        handler = handlers.get(action)
        if handler is None:
            raise control_error(404, f"unknown control endpoint POST /_emulator/{action}")
        with self.lock:
            try:
                return json_response(200, handler(payload))
            except ConfigError as error:
                raise control_error(400, str(error)) from None

    def control_server(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        options = _check_keys(
            payload, {"org", "server", "legacy_list", "legacy_views", "projects_api"}, "payload"
        )
        apply_server_options(org, options, "payload")
        return {"org": org.name, "server": self.server_json(org)}

    def control_faults(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        if "faults" not in payload and "latency_ms" not in payload:
            raise ConfigError("give 'faults', 'latency_ms' or both")
        if "faults" in payload:
            raw = payload["faults"]
            if not isinstance(raw, list):
                raise ConfigError("'faults' must be a list")
            org.faults = [Fault.parse(spec, f"faults[{i}]") for i, spec in enumerate(raw)]
        if "latency_ms" in payload:
            org.latency_ms = _int(payload, "latency_ms", "payload")
        return {
            "org": org.name,
            "faults": [fault.to_json() for fault in org.faults],
            "latency_ms": org.latency_ms,
        }

    def next_generation(self, org: Org, name: str, at_least: int) -> int:
        generation = max(at_least, org.generations.get(name.casefold(), -1) + 1)
        used = org.used_ids()
        while det_uuid(org.name, "feed", name, generation) in used:
            generation += 1
        org.generations[name.casefold()] = generation
        return generation

    def control_recreate_feed(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        feed = self.require_feed(org, payload.get("feed"))
        generation = self.next_generation(org, feed.name, feed.generation + 1)
        org.retired_feed_ids.add(feed.id)
        feed.generation = generation
        feed.id = det_uuid(org.name, "feed", feed.name, generation)
        feed.views = make_views(
            org.name, feed.name, generation, feed.view_names, [None] * len(feed.view_names)
        )
        for package in feed.packages:
            build_package(package, feed)
        return self.feed_json(org, feed)

    def control_create_feed(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        spec = payload.get("feed")
        if not isinstance(spec, dict):
            raise ConfigError("'feed' must be a feed object")
        name = spec.get("name")
        generation = 0
        if isinstance(name, str):
            generation = self.next_generation(org, name, 0)
        feed = parse_feed(org, spec, "feed", generation)
        if feed.id in org.used_ids():
            raise ConfigError(f"feed id {feed.id} was already used")
        org.feeds.append(feed)
        return self.feed_json(org, feed)

    def control_auth(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        org.anonymous = _bool(payload, "anonymous", "payload")
        return {"org": org.name, "anonymous": org.anonymous}

    def control_rename_feed(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        feed = self.require_feed(org, payload.get("feed"))
        new_name = _str(payload, "new_name", "payload")
        other = org.find_feed(new_name)
        if other is not None and other is not feed:
            raise control_error(409, f"feed name {new_name!r} is already used")
        if re.search(r"[\s@/\\?#:]", new_name):
            raise ConfigError(f"invalid feed name {new_name!r}")
        feed.name = new_name
        return self.feed_json(org, feed)

    def control_rename_project(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        key = _str(payload, "project", "payload")
        project = org.find_project(key)
        if project is None:
            raise control_error(404, f"no project {key!r} in {org.name}")
        new_name = _str(payload, "new_name", "payload")
        other = org.find_project(new_name)
        if other is not None and other is not project:
            raise control_error(409, f"project name {new_name!r} is already used")
        project.name = new_name
        project.revision += 1
        return self.project_json(org, project)

    def control_delete_feed(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        feed = self.require_feed(org, payload.get("feed"))
        org.feeds.remove(feed)
        org.retired_feed_ids.add(feed.id)
        return {"ok": True, "deleted": feed.id, "name": feed.name}

    def control_publish(self, payload: dict[str, Any]) -> Any:
        org = self.require_org(payload.get("org"))
        feed = self.require_feed(org, payload.get("feed"))
        package = Package.parse(payload.get("package"), "package")
        try:
            add_package(feed, package)
        except ConfigError as error:
            raise control_error(409, str(error)) from None
        return self.package_json(package)

    # ---- request log ---------------------------------------------------------------------

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"))
        with self.log_lock:
            self.records.append(entry)
            try:
                self.log_stream.write(line + "\n")
                self.log_stream.flush()
            except (OSError, ValueError):
                pass

    def clear_records(self) -> None:
        with self.log_lock:
            self.records.clear()
            try:
                self.log_stream.flush()
                if self.log_stream is not sys.stderr and self.log_stream.seekable():
                    self.log_stream.seek(0)
                    self.log_stream.truncate()
            except (OSError, ValueError):
                pass


def control_error(status: int, message: str) -> HttpError:
    return HttpError(json_response(status, {"error": message}))


def package_not_found(what: str, feed: Feed) -> HttpError:
    return api_error(
        404,
        "PackageNotFoundException",
        f"The package '{what}' doesn't exist in feed '{feed.name}'.",
    )


# --------------------------------------------------------------------------------------------
# Server


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        app: Emulator,
        tls: ssl.SSLContext | None,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.tls = tls
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError, socket.timeout)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AzureDevOpsEmulator/1.0"
    timeout = 120

    def setup(self) -> None:
        server = self.server
        assert isinstance(server, Server)
        if server.tls is not None:
            self.request = server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    @property
    def app(self) -> Emulator:
        server = self.server
        assert isinstance(server, Server)
        return server.app

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default access log; requests are logged as JSON instead."""

    def do_GET(self) -> None:
        self.handle_any()

    def do_HEAD(self) -> None:
        self.handle_any()

    def do_POST(self) -> None:
        self.handle_any()

    def do_PUT(self) -> None:
        self.handle_any()

    def do_PATCH(self) -> None:
        self.handle_any()

    def do_DELETE(self) -> None:
        self.handle_any()

    def handle_any(self) -> None:
        started = time.time()
        clock = time.monotonic()
        length = self.headers.get("Content-Length")
        body = b""
        if length:
            try:
                body = self.rfile.read(int(length))
            except ValueError:
                self.close_connection = True
        path, _, query = self.path.partition("?")
        if "://" in path:
            path = urllib.parse.urlsplit(path).path or "/"
        params: dict[str, str] = {}
        for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            params.setdefault(key.lower(), value)
        headers = {key.lower(): value for key, value in self.headers.items()}
        req = Request(self.command, path, query, params, headers, body)
        app = self.app
        try:
            response = app.dispatch(req)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = json_response(
                500, wrapped_exception("VssServiceException", "Emulator internal error.")
            )
        if response.common and req.route != "control":
            session = req.header("x-tfs-session") or str(uuid.uuid4())
            response.headers = [
                ("ActivityId", str(uuid.uuid4())),
                ("X-TFS-Session", session),
                ("X-VSS-E2EID", str(uuid.uuid4())),
                ("X-TFS-ProcessId", app.process_id),
                *response.headers,
            ]
        if not req.skip_log:
            app.record(
                {
                    "ts": round(started, 6),
                    "method": req.method,
                    "path": req.path,
                    "query": req.query,
                    "org": req.org,
                    "route": req.route,
                    "status": response.status,
                    "auth": req.auth,
                    "credential": req.credential,
                    "fault": req.fault,
                    "server": req.server,
                    "api_version": parse_api_version(req) if req.route != "control" else None,
                    "duration_ms": round((time.monotonic() - clock) * 1000, 3),
                    "user_agent": req.header("user-agent"),
                }
            )
        self.send(response, head=self.command == "HEAD")
        if req.shutdown:
            app.stop_requested.set()

    def send(self, response: Response, head: bool) -> None:
        self.send_response(response.status)
        if response.content_type is not None:
            self.send_header("Content-Type", response.content_type)
        for key, value in response.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.body)))
        if response.drop:
            self.send_header("Connection", "close")
        self.end_headers()
        if response.drop:
            self.close_connection = True
            if not head:
                self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.abort(response.reset)
            return
        if not head:
            self.wfile.write(response.body)

    def abort(self, reset: bool) -> None:
        sock = self.connection
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# Entry point


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Azure DevOps emulator for azfeeds tests.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--config", required=True, help="JSON file, '-' for stdin, or a literal JSON object"
    )
    parser.add_argument("--log", help="append one JSON line per request here (default: stderr)")
    parser.add_argument("--cert", help="PEM certificate: serve HTTPS")
    parser.add_argument("--key", help="PEM private key for --cert")
    args = parser.parse_args(argv)
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")
    return args


def url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings, orgs = parse_config(load_config_text(args.config))
    except (OSError, ValueError) as error:
        print(f"emulator: bad config: {error}", file=sys.stderr)
        return 2
    log: IO[str] = (
        open(args.log, "a", encoding="utf-8") if args.log else sys.stderr  # noqa: SIM115
    )
    tls: ssl.SSLContext | None = None
    if args.cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(args.cert, args.key)
    app = Emulator(settings, orgs, log)
    server = Server((args.host, args.port), app, tls)
    port = int(server.server_address[1])
    scheme = "https" if tls is not None else "http"
    root = f"{scheme}://{url_host(args.host)}:{port}"
    app.set_root(root)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    sys.stdout.write(json.dumps({"port": port, "url": root}) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.1):
        if app.stop_requested.is_set():
            break
    server.shutdown()
    server.server_close()
    with app.log_lock:
        if log is not sys.stderr:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
