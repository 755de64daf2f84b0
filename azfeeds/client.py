"""The Azure DevOps feeds API client: the only module that imports requests.

One ``GET {api}/_apis/packaging/feeds?api-version=7.1`` per organization, organizations in
parallel; views only for the feeds that need them. An HTTP 400 about the api-version becomes
VersionRefused, which the run's VersionBook (apiversion.py) answers with one better version. Every request has a timeout, sends
``X-TFS-FedAuthRedirect: Suppress`` so that a bad credential gets 401 rather than a sign-in page,
and is retried a bounded number of times (5xx, connection errors, 429 with ``Retry-After``).
Any answer other than 200 with JSON becomes one AzfeedsError with its exit code.
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import requests
import requests.auth
from requests.adapters import HTTPAdapter

from . import __version__
from .apiversion import START_VERSION, VersionRefused, classify
from .errors import ApiError, AuthError, AzfeedsError, FeedLookupError

log = logging.getLogger("azfeeds.client")

API_VERSION = START_VERSION
CLOUD_FEEDS_API = "https://feeds.dev.azure.com"
CLOUD_CORE_API = "https://dev.azure.com"  # the projects API of Azure DevOps Services
USER_AGENT = f"azfeeds/{__version__}"
_TENANT_RE = re.compile(r"authorization_uri=https://[^/\s,]+/([0-9a-fA-F-]{36}|[A-Za-z0-9.\-]+)")


@dataclass(frozen=True)
class Credential:
    """A credential for the feeds API; ``source`` names where it came from (never the value)."""

    source: str
    scheme: str  # "basic" or "bearer"
    secret: str = field(repr=False)
    entra: bool = False

    def authorization(self) -> str:
        """The Authorization header value."""
        if self.scheme == "bearer":
            return f"Bearer {self.secret}"
        import base64

        return "Basic " + base64.b64encode(f":{self.secret}".encode()).decode("ascii")


@dataclass(frozen=True)
class ClientSettings:
    """Timeouts and retry budget."""

    timeout: float = 30.0
    retries: int = 3  # for 5xx and connection errors
    backoff: float = 0.25  # first retry delay, doubled each time
    rate_limit_budget: float = 60.0  # total seconds of Retry-After honoured per organization
    verify: bool | str = True


@dataclass(frozen=True)
class Answer:
    """A decoded JSON answer."""

    status: int
    body: Any
    headers: Mapping[str, str]
    elapsed_ms: float


class _NoNetrc(requests.auth.AuthBase):
    """The session's own auth: it adds nothing, and its presence keeps requests off ``~/.netrc``.

    requests looks up netrc for every request that has no auth of its own, and its login then
    replaces the ``Authorization`` header azfeeds set. netrc holds one login per host, and on a
    server the feeds API shares its host with every collection, so one entry would carry one
    organization's PAT to another (DESIGN.md section 6). ``trust_env`` stays on for proxies
    (``HTTPS_PROXY``, ``NO_PROXY``) and CA bundles (``REQUESTS_CA_BUNDLE``).
    """

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class _Session(requests.Session):
    """A session that never takes a credential from netrc, not even after a redirect."""

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        """On a redirect to another origin, drop the Authorization header; add nothing back."""
        before = urlsplit(response.request.url or "")
        after = urlsplit(prepared_request.url or "")
        same_origin = (before.scheme, before.hostname, before.port) == (
            after.scheme,
            after.hostname,
            after.port,
        )
        if not same_origin:
            prepared_request.headers.pop("Authorization", None)


def new_session(*, trust_env: bool = True, verify: bool | str = True) -> requests.Session:
    """A requests session with azfeeds' User-Agent (also handed to msal as its http_client).

    netrc never supplies a credential (``_NoNetrc``); proxies and CA bundles from the
    environment are still honoured when ``trust_env`` is on.
    """
    session = _Session()
    session.auth = _NoNetrc()
    session.trust_env = trust_env
    session.verify = verify
    session.headers["User-Agent"] = USER_AGENT
    session.mount("https://", HTTPAdapter(max_retries=0))
    session.mount("http://", HTTPAdapter(max_retries=0))
    return session


class FeedsApi(Protocol):
    """The seam between azfeeds and Azure DevOps (an in-memory fake in unit tests)."""

    def get_json(self, url: str, credential: Credential | None, *, what: str) -> Answer:
        """GET a JSON document."""
        ...

    def probe(self, url: str, credential: Credential | None) -> tuple[int | None, float, str]:
        """GET an URL (a simple page): (status or None, milliseconds, problem text)."""
        ...

    def discover_tenant(self, url: str) -> str | None:
        """The Entra tenant from an unauthenticated request's 401 challenge."""
        ...


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].rsplit("@", 1)[-1]


def _looks_like_html(response: requests.Response) -> bool:
    ctype = response.headers.get("Content-Type", "").lower()
    if "html" in ctype:
        return True
    head = response.content[:200].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))


_SIGNIN_RE = re.compile(rb"(?i)sign[ -]?in|_signin|login\.microsoftonline|vssps\.")


def _is_signin_page(response: requests.Response) -> bool:
    """An HTML answer that is a sign-in page (what Azure DevOps sends for a bad credential)."""
    return _looks_like_html(response) and _SIGNIN_RE.search(response.content[:8192]) is not None


def _wrapped_fields(body: bytes) -> tuple[str | None, str | None]:
    """The ``message`` (at most 300 characters) and ``typeKey`` (at most 100) of an Azure
    DevOps error body, where it is JSON that holds them."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    message, type_key = doc.get("message"), doc.get("typeKey")
    return (
        message[:300] if isinstance(message, str) else None,
        type_key[:100] if isinstance(type_key, str) else None,
    )


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class HttpFeedsApi:
    """The requests implementation of the FeedsApi seam."""

    def __init__(
        self,
        settings: ClientSettings | None = None,
        session_factory: Callable[[], requests.Session] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings or ClientSettings()
        self._session_factory = session_factory or (
            lambda: new_session(verify=self.settings.verify)
        )
        self._sleep = sleep

    # -- the seam ------------------------------------------------------------------------

    def get_json(self, url: str, credential: Credential | None, *, what: str) -> Answer:
        """GET ``url`` (``what`` names it in errors, e.g. "organization 'orgA'")."""
        response, elapsed = self._send(url, credential, what)
        status = response.status_code
        if status == 200 and not _looks_like_html(response):
            try:
                body = json.loads(response.content.decode("utf-8-sig"))
            except (ValueError, RecursionError):
                raise ApiError(
                    f"{what}: the feeds API answered HTTP 200 with invalid JSON "
                    f"({len(response.content)} bytes; truncated or not JSON)",
                    hint="retry later; if it persists, check proxies between you and the server",
                ) from None
            return Answer(status, body, dict(response.headers), elapsed)
        raise self._failure(response, credential, what, url)

    def probe(self, url: str, credential: Credential | None) -> tuple[int | None, float, str]:
        """One GET of an index page, for `doctor` (never raises for HTTP or network problems)."""
        start = time.monotonic()
        session = self._session_factory()
        try:
            headers = {"Accept": "text/html"}
            if credential is not None:
                headers["Authorization"] = credential.authorization()
            response = session.get(
                url, headers=headers, timeout=self.settings.timeout, allow_redirects=False
            )
            response.close()
            return response.status_code, (time.monotonic() - start) * 1000, ""
        except requests.RequestException as exc:
            return None, (time.monotonic() - start) * 1000, _network_problem(exc, url)
        finally:
            session.close()

    def discover_tenant(self, url: str) -> str | None:
        """Read the tenant from the 401 challenge of an unauthenticated request."""
        session = self._session_factory()
        try:
            response = session.get(
                url,
                headers={"X-TFS-FedAuthRedirect": "Suppress", "Accept": "application/json"},
                timeout=self.settings.timeout,
                allow_redirects=False,
            )
        except requests.RequestException:
            return None
        finally:
            session.close()
        tenant = response.headers.get("X-VSS-ResourceTenant")
        if tenant and tenant.strip("0-"):
            return tenant.strip()
        match = _TENANT_RE.search(response.headers.get("WWW-Authenticate", ""))
        return match.group(1) if match else None

    # -- transport -----------------------------------------------------------------------

    def _send(
        self, url: str, credential: Credential | None, what: str
    ) -> tuple[requests.Response, float]:
        s = self.settings
        headers = {
            "Accept": "application/json",
            "X-TFS-FedAuthRedirect": "Suppress",
        }
        if credential is not None:
            headers["Authorization"] = credential.authorization()
        failures = 0
        waited = 0.0
        session = self._session_factory()
        try:
            while True:
                start = time.monotonic()
                try:
                    response = session.get(
                        url, headers=headers, timeout=s.timeout, allow_redirects=False
                    )
                    _ = response.content  # read the whole body inside the retry loop
                except requests.RequestException as exc:
                    failures += 1
                    log.info("%s: %s (attempt %d)", what, type(exc).__name__, failures)
                    if failures > s.retries or not _retryable(exc):
                        raise ApiError(
                            f"{what}: {_network_problem(exc, url)}",
                            hint=_network_hint(exc, s.timeout),
                        ) from None
                    self._sleep(self._backoff(failures))
                    continue
                elapsed = (time.monotonic() - start) * 1000
                log.info("%s: GET %s -> %d (%.0f ms)", what, url, response.status_code, elapsed)
                if response.status_code == 429:
                    delay = _retry_after(response)
                    delay = 1.0 if delay is None else delay
                    if waited + delay > s.rate_limit_budget:
                        raise ApiError(
                            f"{what}: rate limited by Azure DevOps (HTTP 429) for more than "
                            f"{s.rate_limit_budget:.0f} s",
                            hint="retry later; Azure DevOps limits each identity per 5-minute window",
                        )
                    waited += delay
                    self._sleep(delay)
                    continue
                if response.status_code >= 500:
                    failures += 1
                    if failures > s.retries:
                        return response, elapsed
                    delay = _retry_after(response)
                    self._sleep(delay if delay is not None else self._backoff(failures))
                    continue
                return response, elapsed
        finally:
            session.close()

    def _backoff(self, attempt: int) -> float:
        base: float = self.settings.backoff * (2.0 ** (attempt - 1))
        return base + random.uniform(0, base / 4)

    # -- errors --------------------------------------------------------------------------

    def _failure(
        self, response: requests.Response, credential: Credential | None, what: str, url: str
    ) -> AzfeedsError:
        status = response.status_code
        detail, type_key = _wrapped_fields(response.content)
        used = f"the credential from {credential.source}" if credential else "no credential"
        checks = (
            "check that the PAT has the Packaging (Read) scope and has not expired, that its user "
            "is a member of the organization, and the organization name"
        )
        if credential is None:
            checks = (
                "set AZFEEDS_PAT, or UV_INDEX_<NAME>_PASSWORD for one of its indexes, or sign in "
                "with 'azfeeds login' (see 'Credentials' in the README)"
            )
        if status in (401, 203) or (status == 200 and _is_signin_page(response)):
            kind = "a sign-in page" if status != 401 else "HTTP 401"
            return AuthError(f"{what}: authentication failed with {used} ({kind})", hint=checks)
        if status == 200:
            ctype = response.headers.get("Content-Type", "unknown type").split(";")[0]
            return ApiError(
                f"{what}: the feeds API answered HTTP 200 with {ctype} instead of JSON",
                hint="check --api-url and any proxy between you and Azure DevOps",
            )
        if 300 <= status < 400:
            return AuthError(
                f"{what}: redirected to {_host(response.headers.get('Location', '')) or 'another host'}"
                f" (HTTP {status}); azfeeds does not follow sign-in redirects with {used}",
                hint=checks,
            )
        if status == 403:
            return AuthError(
                f"{what}: access denied with {used} (HTTP 403)" + (f": {detail}" if detail else ""),
                hint="the identity needs read permission on the feeds (Packaging Read)",
            )
        if status == 404:
            return FeedLookupError(
                f"{what}: not found (HTTP 404)" + (f": {detail}" if detail else ""),
                hint="check the organization (or collection URL) and the project and feed names",
            )
        if status >= 500:
            return ApiError(
                f"{what}: the feeds API failed with HTTP {status} after {self.settings.retries} retries",
                hint="Azure DevOps may be degraded; retry later",
            )
        refusal = classify(type_key, detail or "") if status == 400 else None
        if refusal is not None:
            return VersionRefused(
                f"{what}: unexpected answer HTTP {status}" + (f": {detail}" if detail else ""),
                refusal,
                hint="pin a version the server takes with --api-version (see 'Azure DevOps Server' "
                "in the README)",
            )
        return ApiError(
            f"{what}: unexpected answer HTTP {status}" + (f": {detail}" if detail else ""),
        )


def _retryable(exc: requests.RequestException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError) and _is_dns(exc):
        return False
    return isinstance(
        exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
    )


def _is_dns(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror) or "NameResolutionError" in type(current).__name__:
            return True
        nested = (
            current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        )
        current = (
            current.__cause__ or current.__context__ or nested or getattr(current, "reason", None)
        )
    return False


def _network_problem(exc: BaseException, url: str) -> str:
    host = _host(url)
    if isinstance(exc, requests.exceptions.SSLError):
        reason = _ssl_reason(exc)
        if reason is None:
            return f"TLS certificate verification failed for {host}"
        return f"TLS handshake with {host} failed ({reason})"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"connecting to {host} timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"{host} did not answer in time (read timeout)"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return f"the connection to {host} broke off in the middle of the answer"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _is_dns(exc):
            return f"cannot resolve host name {host}"
        text = str(exc).lower()
        if "refused" in text:
            return f"connection to {host} refused"
        if "reset" in text or "aborted" in text or "remotedisconnected" in text:
            return f"the connection to {host} was closed in the middle of the answer"
        return f"cannot connect to {host}"
    return f"request to {host} failed ({type(exc).__name__})"


def _ssl_reason(exc: BaseException) -> str | None:
    """None for a certificate that failed verification; else the TLS failure's reason
    (``WRONG_VERSION_NUMBER``: an https URL whose server speaks plain http)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    reason: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return None
        if isinstance(current, ssl.SSLError) and reason is None:
            reason = current.reason if isinstance(current.reason, str) else None
        nested = (
            current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        )
        cause = getattr(current, "reason", None)
        current = (
            current.__cause__
            or current.__context__
            or nested
            or (cause if isinstance(cause, BaseException) else None)
        )
    return reason or "no TLS answer"


def _network_hint(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        if _ssl_reason(exc) is not None:
            return (
                "check the URL's scheme and port: does that server speak https? (a proxy that "
                "re-signs TLS needs REQUESTS_CA_BUNDLE)"
            )
        return "if a proxy re-signs TLS, point REQUESTS_CA_BUNDLE at its CA certificate"
    if isinstance(exc, requests.Timeout):
        return f"raise --timeout (now {timeout:g} s) or check the network"
    if isinstance(exc, requests.exceptions.ConnectionError) and _is_dns(exc):
        return "check the host name and your DNS or proxy settings"
    return "check the network, proxies (HTTPS_PROXY) and the server address"


def feeds_url(api_base: str, version: str = API_VERSION) -> str:
    """The org-level feeds list URL."""
    return f"{api_base.rstrip('/')}/_apis/packaging/feeds?api-version={quote(version)}"


def views_url(
    api_base: str, project_id: str | None, feed_id: str, version: str = API_VERSION
) -> str:
    """The views URL of a feed (the project segment is required for project-scoped feeds)."""
    project = f"/{quote(project_id, safe='')}" if project_id else ""
    return (
        f"{api_base.rstrip('/')}{project}/_apis/packaging/Feeds/{quote(feed_id, safe='')}"
        f"/views?api-version={quote(version)}"
    )


def projects_url(api_base: str, version: str, continuation: str | None = None) -> str:
    """One page of up to 1000 projects of an organization or collection; ``continuation`` is the
    ``x-ms-continuationtoken`` header of the page before."""
    url = f"{api_base.rstrip('/')}/_apis/projects?$top=1000&api-version={quote(version)}"
    if continuation is not None:
        url += f"&continuationToken={quote(continuation, safe='')}"
    return url


def continuation_token(answer: Answer) -> str | None:
    """The ``x-ms-continuationtoken`` of an answer (another page follows), or None."""
    for name, value in answer.headers.items():
        if name.lower() == "x-ms-continuationtoken" and value.strip():
            return value.strip()
    return None
