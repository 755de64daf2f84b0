"""Build the feed table live from the feeds API: one request per organization, in parallel.

The API is reached through the ``FeedsApi`` seam and credentials through the ``Broker``, so this
module holds no transport or msal code of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from .apiversion import START_VERSION, VersionBook, released_form
from .client import (
    API_VERSION,
    CLOUD_CORE_API,
    CLOUD_FEEDS_API,
    Answer,
    Credential,
    FeedsApi,
    continuation_token,
    feeds_url,
    projects_url,
    views_url,
)
from .clientcreds import where_to_set
from .credentials import Broker, Target, cloud_wide_allowed
from .engine import OrgRequest
from .errors import ApiError, AuthError, AzfeedsError, FeedLookupError, UsageError
from .table import Feed, FeedTable, Organization, Project, View
from .urls import UrlError, is_uuid, parse_azure_url

log = logging.getLogger("azfeeds.resolve")
MAX_WORKERS = 32


@dataclass(frozen=True)
class LiveSettings:
    """Where the API lives."""

    api_url: str | None = None  # replaces https://feeds.dev.azure.com (proxies, tests)
    explicit_bases: tuple[str, ...] = ()  # collection URLs named with --org
    all_views: bool = False  # fetch the views of every feed (map --views)
    api_version: str | None = None  # --api-version: one version for every organization
    name_projects: bool = False  # ask the projects API for names no URL gives (map)


def org_request_from_option(value: str) -> OrgRequest:
    """An OrgRequest from ``--org``: a cloud organization name or a collection URL."""
    text = value.strip().rstrip("/")
    if not text:
        raise UsageError("--org needs an organization name or a collection URL")
    services_org = _services_org_name(text)
    if services_org is not None:
        text = services_org  # https://dev.azure.com/<org>, as the browser shows it: Services
    if "://" in text:
        probe = f"{text}/_packaging/x/pypi/simple/"
        try:
            url = parse_azure_url(probe, pinned_bases=(text,))
        except UrlError as exc:
            raise UsageError(f"--org {value}: {exc}") from None
    else:
        if "/" in text or any(c.isspace() for c in text):
            raise UsageError(f"--org {value}: expected an organization name or a collection URL")
        url = parse_azure_url(
            f"https://pkgs.dev.azure.com/{quote(text, safe='')}/_packaging/x/pypi/simple/"
        )
    assert url is not None
    return OrgRequest(url.org_key, url.org, url, frozenset())


def _services_org_name(text: str) -> str | None:
    """The organization of an Azure DevOps Services organization URL given to --org
    (``https://dev.azure.com/<org>``, ``https://feeds.dev.azure.com/<org>``,
    ``https://<org>.visualstudio.com``), which would otherwise read as a server collection on a
    host named dev.azure.com. Exact host names only: a look-alike stays a server."""
    parts = urlsplit(text)
    if parts.scheme.lower() != "https" or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if host in ("dev.azure.com", "feeds.dev.azure.com") and len(segments) == 1:
        return unquote(segments[0])
    labels = host.split(".")
    if host.endswith(".visualstudio.com") and len(labels) == 3 and not segments:
        return labels[0]
    return None


def target_for(request: OrgRequest, settings: LiveSettings) -> Target:
    """Where the feeds API of an organization lives."""
    url = request.url
    if url.is_cloud:
        base = (settings.api_url or CLOUD_FEEDS_API).rstrip("/")
        return Target(
            name=url.org,
            api_base=f"{base}/{quote(url.org, safe='')}",
            cloud=True,
            explicit=settings.api_url is not None,
            indexes=request.indexes,
        )
    collection = f"{url.scheme}://{url.hostport.rsplit('@', 1)[-1]}{url.base}"
    explicit = any(
        collection.lower().rstrip("/") == b.lower().rstrip("/") for b in settings.explicit_bases
    )
    return Target(
        name=url.org,
        api_base=collection,
        cloud=False,
        explicit=explicit,
        indexes=request.indexes,
    )


def no_credential_hint(target: Target) -> str:
    """What to set when an organization answered 401 to a request without credentials."""
    own = list(dict.fromkeys(where_to_set(ref) for ref in target.indexes))
    if target.cloud and not cloud_wide_allowed(target):
        # an --api-url that is not Azure DevOps Services over https: AZFEEDS_PAT and the
        # Entra sign-in are refused there (placement rules), so naming them would mislead
        choices = ["pass --pat-file FILE (the host was named with --api-url)"]
        choices += [f"set {variable}" for variable in own]
        return (
            ", or ".join(choices) + "; AZFEEDS_PAT and AZURE_DEVOPS_EXT_PAT go only to "
            "Azure DevOps Services over https"
        )
    if target.cloud:
        choices = ["AZFEEDS_PAT (a PAT with the Packaging (Read) scope)", *own]
        return "set " + ", or ".join(choices) + ", or sign in with 'azfeeds login'"
    if own:
        return "set " + " or ".join(own) + " (Azure DevOps Server takes PATs only)"
    return "pass --pat-file FILE together with --org <collection URL> (servers take PATs only)"


def _what(target: Target) -> str:
    kind = "organization" if target.cloud else "collection"
    return f"{kind} '{target.name}'"


def _value_list(answer: Answer, what: str) -> list[dict[str, Any]]:
    body = answer.body
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        raise ApiError(
            f"{what}: the feeds API answered JSON of an unexpected shape (no 'value' list)"
        )
    return [item for item in body["value"] if isinstance(item, dict)]


def _project_of(item: dict[str, Any]) -> Project | None:
    """The feed's project: from its ``project`` object, else from the UUID in its ``url``
    (``.../<collection>/<projectUUID>/_apis/Packaging/Feeds/<feedId>``, the only place older lists
    and org-level lists name it). A project whose name the answer lacks is named by its UUID until
    a URL or the projects API names it (``unnamed``)."""
    project = item.get("project")
    if isinstance(project, dict) and isinstance(project.get("id"), str) and is_uuid(project["id"]):
        name = project.get("name")
        pid = project["id"].lower()
        return Project(pid, name if isinstance(name, str) and name.strip() else pid)
    url = item.get("url")
    if isinstance(url, str) and "/_apis/" in url.lower():
        head = url[: url.lower().index("/_apis/")]
        segments = head.rstrip("/").split("/")
        if len(segments) > 4 and is_uuid(segments[-1]):
            return Project(segments[-1].lower(), segments[-1].lower())
    return None


def unnamed(project: Project) -> bool:
    """A project known by its UUID only."""
    return project.name.lower() == project.id.lower()


def server_key(target: Target, request: OrgRequest, settings: LiveSettings) -> str:
    """Which server an organization lives on, for the run's API version memory: the feeds API
    host for Services (``--api-url`` included), else scheme, host and path prefix of the collection
    (``https://ado.example.com/tfs``), since every collection of a server runs one release."""
    if target.cloud:
        return (settings.api_url or CLOUD_FEEDS_API).rstrip("/").lower()
    url = request.url
    prefix = url.base.rstrip("/").rsplit("/", 1)[0]
    return f"{url.scheme}://{url.hostport.rsplit('@', 1)[-1]}{prefix}".lower()


def _projects_base(target: Target, settings: LiveSettings) -> str:
    """Where the projects API of an organization lives (dev.azure.com for Services)."""
    if target.cloud and settings.api_url is None:
        return f"{CLOUD_CORE_API}/{quote(target.name, safe='')}"
    return target.api_base


@dataclass
class _Run:
    """What one run shares between its organizations."""

    settings: LiveSettings
    versions: VersionBook
    notes: list[str]


def _get(
    api: FeedsApi,
    run: _Run,
    server: str,
    url: Callable[[str], str],
    credential: Credential | None,
    what: str,
) -> tuple[Answer, str]:
    return run.versions.call(
        server, lambda version: api.get_json(url(version), credential, what=what)
    )


def fetch_org(
    api: FeedsApi,
    broker: Broker,
    target: Target,
    request: OrgRequest,
    all_views: bool,
    run: _Run | None = None,
) -> Organization:
    """The feeds (and the needed views) of one organization."""
    run = run or _Run(LiveSettings(all_views=all_views), VersionBook(), [])
    settings = run.settings
    server = server_key(target, request, settings)
    if target.cloud:  # Services takes 7.1: its organizations need not wait for a first answer
        run.versions.assume(server, START_VERSION)
    what = _what(target)
    credential = broker.credential_for(target)
    base = target.api_base
    try:
        answer, version = _get(api, run, server, lambda v: feeds_url(base, v), credential, what)
    except AuthError as exc:
        if credential is None:
            exc.hint = no_credential_hint(target)
            raise
        fresh = broker.refreshed(credential)  # an Entra token may have been revoked: once more
        if fresh is None:
            raise
        credential = fresh
        answer, version = _get(api, run, server, lambda v: feeds_url(base, v), credential, what)
    feeds: list[Feed] = []
    for item in _value_list(answer, what):
        feed_id, name = item.get("id"), item.get("name")
        if not isinstance(feed_id, str) or not isinstance(name, str) or not is_uuid(feed_id):
            raise ApiError(f"{what}: a feed in the API answer has no valid id or name")
        feeds.append(Feed(feed_id.lower(), name, _project_of(item), None))
    feeds = _name_projects(feeds, request)
    if settings.name_projects and any(f.project and unnamed(f.project) for f in feeds):
        feeds = _ask_projects(api, run, server, target, credential, feeds)
    wanted = request.views
    complete: list[Feed] = []
    for feed in feeds:
        if all_views or feed.name.casefold() in wanted or feed.id in wanted:
            project_id = feed.project.id if feed.project else None
            views_answer, _ = _get(
                api,
                run,
                server,
                _views_at(base, project_id, feed.id),
                credential,
                f"{what}, views of feed '{feed.name}'",
            )
            views = []
            for item in _value_list(views_answer, what):
                vid, vname = item.get("id"), item.get("name")
                if isinstance(vid, str) and isinstance(vname, str) and is_uuid(vid):
                    views.append(View(vid.lower(), vname))
            feed = Feed(feed.id, feed.name, feed.project, tuple(views))
        complete.append(feed)
    return Organization(
        target.name,
        request.url.org_base_url,
        tuple(complete),
        api_version=version,
        credential=credential.source if credential is not None else None,
    )


def _views_at(base: str, project_id: str | None, feed_id: str) -> Callable[[str], str]:
    return lambda version: views_url(base, project_id, feed_id, version)


def _name_projects(feeds: list[Feed], request: OrgRequest) -> list[Feed]:
    """Name the projects that the list gave by UUID only, from the user's own URLs."""
    if not any(f.project and unnamed(f.project) for f in feeds) or not request.projects:
        return feeds
    by_feed = {f.name.casefold(): f for f in feeds} | {f.id: f for f in feeds}
    names: dict[str, str] = {}
    for feed_key, project_name in sorted(request.projects):
        feed = by_feed.get(feed_key)
        if feed is not None and feed.project is not None and unnamed(feed.project):
            names.setdefault(feed.project.id, project_name)
    return _renamed(feeds, names)


def _renamed(feeds: list[Feed], names: dict[str, str]) -> list[Feed]:
    out = []
    for feed in feeds:
        project = feed.project
        if project is not None and unnamed(project) and project.id in names:
            feed = Feed(feed.id, feed.name, Project(project.id, names[project.id]), feed.views)
        out.append(feed)
    return out


MAX_PROJECT_PAGES = 10  # 10,000 projects: past that, the rest are listed by UUID with a note


def _ask_projects(
    api: FeedsApi,
    run: _Run,
    server: str,
    target: Target,
    credential: Credential | None,
    feeds: list[Feed],
) -> list[Feed]:
    """Name the remaining projects from the projects API, a page of 1000 at a time, until every
    project is named or the list ends. It needs Project (Read), which a Packaging-only PAT
    lacks: then the projects stay listed by UUID, with a note."""
    what = _what(target)
    version = released_form(run.versions.known(server) or API_VERSION)
    base = _projects_base(target, run.settings)
    names: dict[str, str] = {}
    token: str | None = None
    named = feeds
    for page in range(1, MAX_PROJECT_PAGES + 1):
        try:
            answer = api.get_json(
                projects_url(base, version, token), credential, what=f"{what}, projects"
            )
        except (AuthError, FeedLookupError) as exc:
            reason = (
                "this credential cannot read the projects API (it needs the Project (Read) scope)"
                if isinstance(exc, AuthError)
                else f"the projects API answered: {exc.message}"
            )
            run.notes.append(f"{what}: projects listed by their UUID: {reason}")
            return named
        except ApiError as exc:
            run.notes.append(f"{what}: projects listed by their UUID: {exc.message}")
            return named
        body = answer.body
        items = body.get("value") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                pid, pname = item.get("id"), item.get("name")
                if (
                    isinstance(pid, str)
                    and is_uuid(pid)
                    and isinstance(pname, str)
                    and pname.strip()
                ):
                    names[pid.lower()] = pname
        named = _renamed(feeds, names)
        if not any(f.project and unnamed(f.project) for f in named):
            return named
        token = continuation_token(answer)
        if token is None:
            break
        if page == MAX_PROJECT_PAGES:
            run.notes.append(
                f"{what}: the projects API has more than {MAX_PROJECT_PAGES * 1000} projects; "
                "the ones past them are listed by UUID"
            )
            return named
    run.notes.append(
        f"{what}: the projects API did not name every project; those are listed by UUID"
    )
    return named


def fetch_all(
    requests: Sequence[OrgRequest],
    settings: LiveSettings,
    api: FeedsApi,
    broker: Broker,
    progress: Callable[[str], None] | None = None,
    notes: list[str] | None = None,
) -> list[tuple[OrgRequest, Organization | AzfeedsError]]:
    """Fetch every organization concurrently; each result is an Organization or its error.

    One run: the API version learned from a server serves every organization on it. ``notes``
    receives what the user should know but that does not stop the run (unnamed projects)."""
    targets = [target_for(r, settings) for r in requests]
    run = _Run(settings, VersionBook(settings.api_version), notes if notes is not None else [])

    def one(pair: tuple[Target, OrgRequest]) -> Organization | AzfeedsError:
        target, request = pair
        try:
            org = fetch_org(api, broker, target, request, settings.all_views, run)
        except AzfeedsError as exc:
            return exc
        if progress is not None:
            progress(target.name)
        return org

    if not targets:
        return []
    pool = ThreadPoolExecutor(
        max_workers=min(MAX_WORKERS, len(targets)), thread_name_prefix="azfeeds-org"
    )
    try:
        results = list(pool.map(one, zip(targets, requests, strict=True)))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return list(zip(requests, results, strict=True))


def live_table(
    requests: Sequence[OrgRequest],
    settings: LiveSettings,
    api: FeedsApi,
    broker: Broker,
    progress: Callable[[str], None] | None = None,
    notes: list[str] | None = None,
) -> FeedTable:
    """Fetch every organization concurrently. Any failure stops the run (nothing is written)."""
    table = FeedTable()
    results = fetch_all(requests, settings, api, broker, progress, notes)
    errors = [r for _, r in results if isinstance(r, AzfeedsError)]
    if errors:
        first = errors[0]
        if len(errors) > 1:
            extra = f"{len(errors) - 1} more organization(s) failed too"
            first.hint = f"{first.hint}; {extra}" if first.hint else extra
        raise first
    for _, org in results:
        assert isinstance(org, Organization)
        table.add(org)
    return table


def partial_table(
    requests: Sequence[OrgRequest],
    settings: LiveSettings,
    api: FeedsApi,
    broker: Broker,
    progress: Callable[[str], None] | None = None,
    notes: list[str] | None = None,
) -> tuple[FeedTable, dict[str, str]]:
    """Like live_table, but failures are returned per organization (for `doctor`)."""
    table = FeedTable()
    failures: dict[str, str] = {}
    for request, result in fetch_all(requests, settings, api, broker, notes=notes):
        if progress is not None:
            progress(request.key.name)
        if isinstance(result, AzfeedsError):
            failures[str(request.key)] = result.message
        else:
            table.add(result)
    return table, failures


def warn_missing_feeds(table: FeedTable, requests: Sequence[OrgRequest]) -> list[str]:
    """Warnings for feeds named in the files that the table lacks (used by `map`)."""
    out: list[str] = []
    for request in requests:
        org = table.get(request.key)
        if org is None:
            continue
        out.extend(
            org.not_listed(feed) for feed in sorted(request.feeds) if org.find_feed(feed) is None
        )
    return out
