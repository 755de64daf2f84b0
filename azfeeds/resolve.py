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
from urllib.parse import quote

from .client import CLOUD_FEEDS_API, Answer, FeedsApi, feeds_url, views_url
from .clientcreds import where_to_set
from .credentials import Broker, Target
from .engine import OrgRequest
from .errors import ApiError, AuthError, AzfeedsError, UsageError
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


def org_request_from_option(value: str) -> OrgRequest:
    """An OrgRequest from ``--org``: a cloud organization name or a collection URL."""
    text = value.strip().rstrip("/")
    if not text:
        raise UsageError("--org needs an organization name or a collection URL")
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
    project = item.get("project")
    if isinstance(project, dict) and isinstance(project.get("id"), str):
        name = project.get("name")
        return Project(project["id"].lower(), name if isinstance(name, str) else project["id"])
    url = item.get("url")
    if isinstance(url, str) and "/_apis/" in url:
        segments = url.split("/_apis/", 1)[0].rstrip("/").split("/")
        if segments and is_uuid(segments[-1]) and len(segments) > 4:
            return Project(segments[-1].lower(), segments[-1].lower())
    return None


def fetch_org(
    api: FeedsApi, broker: Broker, target: Target, request: OrgRequest, all_views: bool
) -> Organization:
    """The feeds (and the needed views) of one organization."""
    what = _what(target)
    credential = broker.credential_for(target)
    try:
        answer = api.get_json(feeds_url(target.api_base), credential, what=what)
    except AuthError as exc:
        if credential is None:
            exc.hint = no_credential_hint(target)
            raise
        fresh = broker.refreshed(credential)  # an Entra token may have been revoked: once more
        if fresh is None:
            raise
        credential = fresh
        answer = api.get_json(feeds_url(target.api_base), credential, what=what)
    feeds: list[Feed] = []
    for item in _value_list(answer, what):
        feed_id, name = item.get("id"), item.get("name")
        if not isinstance(feed_id, str) or not isinstance(name, str) or not is_uuid(feed_id):
            raise ApiError(f"{what}: a feed in the API answer has no valid id or name")
        feeds.append(Feed(feed_id.lower(), name, _project_of(item), None))
    wanted = request.views
    complete: list[Feed] = []
    for feed in feeds:
        if all_views or feed.name.casefold() in wanted or feed.id in wanted:
            url = views_url(target.api_base, feed.project.id if feed.project else None, feed.id)
            views_answer = api.get_json(
                url, credential, what=f"{what}, views of feed '{feed.name}'"
            )
            views = []
            for item in _value_list(views_answer, what):
                vid, vname = item.get("id"), item.get("name")
                if isinstance(vid, str) and isinstance(vname, str) and is_uuid(vid):
                    views.append(View(vid.lower(), vname))
            feed = Feed(feed.id, feed.name, feed.project, tuple(views))
        complete.append(feed)
    base = request.url.org_base_url
    return Organization(target.name, base, tuple(complete))


def fetch_all(
    requests: Sequence[OrgRequest],
    settings: LiveSettings,
    api: FeedsApi,
    broker: Broker,
    progress: Callable[[str], None] | None = None,
) -> list[tuple[OrgRequest, Organization | AzfeedsError]]:
    """Fetch every organization concurrently; each result is an Organization or its error."""
    targets = [target_for(r, settings) for r in requests]

    def one(pair: tuple[Target, OrgRequest]) -> Organization | AzfeedsError:
        target, request = pair
        try:
            org = fetch_org(api, broker, target, request, settings.all_views)
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
) -> FeedTable:
    """Fetch every organization concurrently. Any failure stops the run (nothing is written)."""
    table = FeedTable()
    results = fetch_all(requests, settings, api, broker, progress)
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
) -> tuple[FeedTable, dict[str, str]]:
    """Like live_table, but failures are returned per organization (for `doctor`)."""
    table = FeedTable()
    failures: dict[str, str] = {}
    for request, result in fetch_all(requests, settings, api, broker):
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
            f"feed '{feed}' of organization '{org.name}' does not exist (or is not visible)"
            for feed in sorted(request.feeds)
            if org.find_feed(feed) is None
        )
    return out
