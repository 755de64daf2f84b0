"""Parse and format Azure Artifacts PyPI URLs (DESIGN.md section 3). Pure functions, no I/O.

An Azure Artifacts URL is any http(s) URL whose path has the ``/_packaging/<feed>/pypi/`` shape.
Only its project, feed and view segments are ever changed; every other byte is kept as written,
so ``str(parse_azure_url(s)) == s`` for every URL this module accepts.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cache, lru_cache
from typing import Final
from urllib.parse import quote, unquote

from .record import Value

UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
)

CLOUD_HOST = "pkgs.dev.azure.com"
LEGACY_SUFFIX = ".pkgs.visualstudio.com"

_URL_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://"
    r"(?:(?P<userinfo>(?:\$\{\{[^{}\r\n]*\}\}|[^@/?#\s])*)@)?"
    r"(?P<hostport>[^/?#@\s]*)"
    r"(?P<path>/[^?#\s]*)?"
    r"(?P<rest>[?#]\S*)?\Z"
)
_PACKAGING_RE = re.compile(
    r"(?P<pre>.*?)/(?P<packaging>_packaging)/(?P<feedseg>[^/]*)/(?P<pypi>pypi)(?P<after>/.*)?\Z",
    re.IGNORECASE,
)
_SHAPE_RE = re.compile(r"/_packaging/[^/?#\s]+/pypi(?:/|\Z|[?#])", re.IGNORECASE)
_VIEW_SEP_RE = re.compile(r"@|%40", re.IGNORECASE)
_SCHEME = r"([A-Za-z][A-Za-z0-9+.\-]*)://"  # compiled on first use (_compiled), as below
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2}).{0,2}", re.DOTALL)
# Placeholders that a tool replaces before the URL is used (DESIGN.md section 3): ${VAR} (pip in
# requirements files, PDM), $VAR, $(VAR) (Azure Pipelines), ${{ ... }} (GitHub Actions) and
# {env:VAR} or {env:VAR:default} (tox). Their literal text is never a secret, never sent.
_ONE_PLACEHOLDER = (
    r"\$\{\{[^{}\r\n]*\}\}"
    r"|\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-=?+][^{}\r\n]*)?\}"
    r"|\$\([A-Za-z_][A-Za-z0-9_.]*\)"
    r"|\$[A-Za-z_][A-Za-z0-9_]*"
    r"|\{env:[A-Za-z_][A-Za-z0-9_]*(?::[^{}\r\n]*)?\}"
)
_PLACEHOLDER = f"(?:{_ONE_PLACEHOLDER})+\\Z"
_LEADING_PLACEHOLDER = f"(?:{_ONE_PLACEHOLDER})+"
_ANY_PLACEHOLDER = _ONE_PLACEHOLDER
_COLLECTION_LIKE = r"(?i)(?:defaultcollection|a[0-9a-f]{32})\Z"
# userinfo inside any URL in free text; used to scrub every line azfeeds prints.
# Compiled on first use (_compiled): most text has no "://" and "@" and never needs it.
_TEXT_USERINFO = r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@\"'<>]+)@"


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled on first use: start-up compiles only what every URL needs."""
    return re.compile(pattern)


class HostKind(str, Enum):
    """Which family of host an Azure Artifacts URL lives on."""

    CLOUD = "cloud"
    LEGACY = "legacy"
    SERVER = "server"


class UrlError(ValueError):
    """An URL has the Azure Artifacts shape but cannot be understood. The text says why."""


def is_uuid(segment: str) -> bool:
    """True when a path segment is a canonical 8-4-4-4-12 UUID."""
    return UUID_RE.match(segment) is not None


def looks_like_azure(text: str) -> bool:
    """Cheap test: does ``text`` contain an URL path of the ``/_packaging/<feed>/pypi`` shape?"""
    return _SHAPE_RE.search(text) is not None


def is_placeholder(text: str) -> bool:
    """Whether ``text`` is made of placeholders only (``${PAT}``, ``$(System.AccessToken)``...)."""
    return bool(text) and _compiled(_PLACEHOLDER).match(text) is not None


def has_placeholder(text: str) -> bool:
    """Whether ``text`` holds a placeholder anywhere (``/$(System.TeamProject)/``)."""
    return _compiled(_ANY_PLACEHOLDER).search(text) is not None


def split_userinfo(userinfo: str) -> tuple[str, str | None]:
    """(user, password or None) of a userinfo; a ``:`` inside a placeholder (``{env:PAT:}``) does
    not split it."""
    lead = _compiled(_LEADING_PLACEHOLDER).match(userinfo)
    at = lead.end() if lead is not None else 0
    colon = userinfo.find(":", at)
    if colon < 0:
        return userinfo, None
    return userinfo[:colon], userinfo[colon + 1 :]


def userinfo_has_secret(userinfo: str | None) -> bool:
    """A password written as such: not empty, not a placeholder. A user name alone is a keyring
    hint (``VssSessionToken@``), not a secret."""
    if not userinfo:
        return False
    _, password = split_userinfo(userinfo)
    return bool(password) and not is_placeholder(password or "")


def is_placeholder_userinfo(userinfo: str) -> bool:
    """Userinfo made of placeholders only (``${USER}:${PAT}``, ``{env:AZ_PAT:}``); shown as is."""
    if not userinfo:
        return False
    user, password = split_userinfo(userinfo)
    return (not user or is_placeholder(user)) and (not password or is_placeholder(password))


def redact_userinfo(userinfo: str | None) -> str | None:
    """The userinfo as it may be shown: placeholders kept, anything else replaced by ``***``
    (a user name alone too: it may be a token written where the user name goes)."""
    if userinfo is None:
        return None
    if is_placeholder_userinfo(userinfo):
        return userinfo
    _, password = split_userinfo(userinfo)
    if password is not None and is_placeholder(password):
        return f"***:{password}"
    return "***"


def redact_text(text: str) -> str:
    """Replace the userinfo of every URL in ``text`` with ``***`` (placeholders are kept)."""

    def _sub(match: re.Match[str]) -> str:
        shown = redact_userinfo(match.group(2))
        return f"{match.group(1)}{shown}@"

    if "@" not in text or "://" not in text:  # the pattern needs both
        return text
    return _compiled(_TEXT_USERINFO).sub(_sub, text)


def encode_name(name: str) -> str:
    """Percent-encode a project, feed or view name for an URL path segment."""
    return quote(name, safe="!$'()*,;=-._~")


# Letters of other scripts drawn like Latin ones, for the look-alike test (a short list: the
# ones that can spell "dev azure com" and "visualstudio com").
_HOMOGLYPHS = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0455\u0456\u0458\u0443\u0445\u0475\u03bf\u03b1"
    "\u03bd\u03c5\u0131\u0501\u0261\u1d20\u217c\u0269",
    "aeopcsijyxvoavuidgvli",
)
_IMITATED = ("devazurecom", "visualstudiocom")


def shown_host(host: str) -> str:
    """A host as printed: IDNA (``xn--``) form for non-ASCII names, so that a look-alike
    written with other scripts cannot pass for the genuine host."""
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            return host.encode("idna").decode("ascii")
        except UnicodeError:
            return host.encode("ascii", "backslashreplace").decode("ascii")
    return host


def look_alike_warning(url: AzureUrl) -> str:
    """What to say about a host that imitates Azure DevOps Services' name."""
    return (
        f"the host {shown_host(url.host)} imitates Azure DevOps ({CLOUD_HOST}) but is not it: "
        f"a typo, or a trap for a PAT; azfeeds sends it no Azure DevOps credential"
    )


def imitates_azure(host: str) -> bool:
    """Whether a host name that is not Azure DevOps Services' spells its name anyway, once
    punctuation, accents and look-alike letters are set aside."""
    import unicodedata

    name = host.lower()
    if name.startswith("xn--") or ".xn--" in name:
        try:
            name = name.encode("ascii").decode("idna")
        except UnicodeError:
            name = host.lower()  # not valid IDNA: judged as written
    folded = unicodedata.normalize("NFKD", name).translate(_HOMOGLYPHS)
    skeleton = "".join(c for c in folded if c.isascii() and c.isalnum())
    return any(word in skeleton for word in _IMITATED)


_CONTROL_CHAR_RE = re.compile("[\x00-\x1f\x7f-\x9f]")


def decode_segment(segment: str) -> str:
    """Percent-decode a path segment (``My%20Project`` -> ``My Project``).

    Control characters stay encoded (``%0A``): no Azure DevOps name holds one, and a decoded
    name is printed, so ``%0a`` or ``%1b`` in a file must not reach the terminal as themselves.
    """
    text = unquote(segment)
    if _CONTROL_CHAR_RE.search(text):
        text = _CONTROL_CHAR_RE.sub(lambda m: quote(m.group()), text)
    return text


class OrgKey(Value):
    """Identity of an organization (cloud) or collection (server), used to group URLs.

    The cloud host and the legacy ``<org>.pkgs.visualstudio.com`` host share one key per org name.
    """

    __slots__ = ("family", "name")
    family: Final[str]  # "cloud" or "server"
    name: Final[str]  # casefolded org name (cloud) or "host/base" (server), casefolded

    def __init__(self, family: str, name: str) -> None:
        self.family = family
        self.name = name

    def __str__(self) -> str:
        return self.name


class AzureUrl(Value):
    """One Azure Artifacts PyPI URL, split into the parts that azfeeds may change and the rest."""

    __slots__ = (
        "scheme",
        "userinfo",
        "hostport",
        "host_kind",
        "base",
        "org",
        "project",
        "feed",
        "view",
        "view_sep",
        "packaging",
        "pypi",
        "endpoint",
        "rest",
    )
    scheme: Final[str]
    userinfo: Final[str | None]
    hostport: Final[str]
    host_kind: Final[HostKind]
    base: Final[str]  # path before the project segment, as written: "/orgA", "", "/tfs/Coll"
    org: Final[str]  # decoded organization (cloud) or collection (server) name
    project: Final[str | None]  # raw segment, as written
    feed: Final[str]  # raw segment, as written
    view: Final[str | None]  # raw segment, as written
    view_sep: Final[str]  # "@" or "%40" as written; "" when there is no view
    packaging: Final[str]  # "_packaging" as written
    pypi: Final[str]  # "pypi" as written
    endpoint: Final[str]  # "simple" or "upload" as written
    rest: Final[str]  # everything after the endpoint: "/", "", query, fragment

    def __init__(
        self,
        scheme: str,
        userinfo: str | None,
        hostport: str,
        host_kind: HostKind,
        base: str,
        org: str,
        project: str | None,
        feed: str,
        view: str | None,
        view_sep: str,
        packaging: str,
        pypi: str,
        endpoint: str,
        rest: str,
    ) -> None:
        self.scheme = scheme
        self.userinfo = userinfo
        self.hostport = hostport
        self.host_kind = host_kind
        self.base = base
        self.org = org
        self.project = project
        self.feed = feed
        self.view = view
        self.view_sep = view_sep
        self.packaging = packaging
        self.pypi = pypi
        self.endpoint = endpoint
        self.rest = rest

    def __str__(self) -> str:
        auth = f"{self.userinfo}@" if self.userinfo is not None else ""
        project = f"/{self.project}" if self.project is not None else ""
        view = f"{self.view_sep}{self.view}" if self.view is not None else ""
        return (
            f"{self.scheme}://{auth}{self.hostport}{self.base}{project}/{self.packaging}/"
            f"{self.feed}{view}/{self.pypi}/{self.endpoint}{self.rest}"
        )

    # -- identity -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """Host name without port, lower case."""
        host = self.hostport.lower()
        if host.startswith("["):
            return host.split("]", 1)[0] + "]"
        return host.rsplit(":", 1)[0] if ":" in host else host

    @property
    def org_key(self) -> OrgKey:
        """The organization this URL belongs to."""
        if self.host_kind is HostKind.SERVER:
            return OrgKey("server", f"{self.hostport}{decode_segment(self.base)}".casefold())
        return OrgKey("cloud", self.org.casefold())

    @property
    def org_base_url(self) -> str:
        """The organization's base as package URLs write it (the map file's ``url``)."""
        if self.host_kind is HostKind.CLOUD:
            return f"https://{CLOUD_HOST}/{self.org}"
        return f"{self.scheme}://{self.hostport}{self.base}"

    @property
    def is_cloud(self) -> bool:
        """Azure DevOps Services (the cloud host or the legacy host)."""
        return self.host_kind is not HostKind.SERVER

    @property
    def look_alike(self) -> bool:
        """A server host whose name imitates Azure DevOps Services' (``pkgs.dev.azure.com.evil``,
        ``pkgs.dev-azure.com``, Cyrillic letters...): a typo, or a trap for a PAT."""
        return self.host_kind is HostKind.SERVER and imitates_azure(self.host)

    # -- forms ----------------------------------------------------------------------------

    @property
    def segments(self) -> tuple[str, ...]:
        """The raw project, feed and view segments that are present."""
        parts = [self.feed]
        if self.project is not None:
            parts.insert(0, self.project)
        if self.view is not None:
            parts.append(self.view)
        return tuple(parts)

    @property
    def is_uuid_form(self) -> bool:
        """Every project, feed and view segment is a UUID."""
        return all(is_uuid(s) for s in self.segments)

    @property
    def project_name(self) -> str | None:
        """Decoded project segment."""
        return decode_segment(self.project) if self.project is not None else None

    @property
    def feed_name(self) -> str:
        """Decoded feed segment."""
        return decode_segment(self.feed)

    @property
    def view_name(self) -> str | None:
        """Decoded view segment."""
        return decode_segment(self.view) if self.view is not None else None

    @property
    def readable(self) -> str:
        """``Project/feed[@view]`` exactly as the segments are written (the readable name)."""
        return format_readable(self.project, self.feed, self.view, self.view_sep or "@")

    @property
    def has_secret(self) -> bool:
        """The URL carries a password (not a placeholder; a user name alone is no secret)."""
        return userinfo_has_secret(self.userinfo)

    @property
    def keyring_user(self) -> str | None:
        """The user name of a userinfo without a password (a keyring hint such as
        ``VssSessionToken``), else None."""
        if not self.userinfo:
            return None
        user, password = split_userinfo(self.userinfo)
        return user if password is None and user and not is_placeholder(user) else None

    @property
    def redacted(self) -> str:
        """The URL as it may be printed: no secret, and a non-ASCII host in IDNA form (so that
        a look-alike in other scripts cannot pass for the genuine host)."""
        url = self
        if not self.hostport.isascii():
            url = url.replace(hostport=shown_host(self.hostport))
        if url.userinfo is None:
            return str(url)
        return str(url.replace(userinfo=redact_userinfo(url.userinfo)))

    def with_segments(self, project: str | None, feed: str, view: str | None) -> AzureUrl:
        """The same URL with other raw project, feed and view segments (everything else kept)."""
        if (project is None) != (self.project is None):
            raise ValueError("cannot add or remove the project segment")
        if (view is None) != (self.view is None):
            raise ValueError("cannot add or remove the view segment")
        return self.replace(project=project, feed=feed, view=view)

    def without_userinfo(self) -> AzureUrl:
        """The same URL without ``user:secret@``."""
        return self if self.userinfo is None else self.replace(userinfo=None)

    def without_password(self) -> AzureUrl:
        """The same URL with the password part of its userinfo removed; a user name stays (a
        keyring hint), and a userinfo with no user goes altogether."""
        if not self.userinfo:
            return self
        user, password = split_userinfo(self.userinfo)
        if password is None:
            return self
        return self.replace(userinfo=user or None)

    def shareable(self) -> AzureUrl:
        """What may be copied to a new place (a twin): no secret, but a keyring hint or
        placeholders as written."""
        return self.without_password() if self.has_secret else self


def format_readable(project: str | None, feed: str, view: str | None, view_sep: str = "@") -> str:
    """``Project/feed[@view]`` from raw segments."""
    text = feed if project is None else f"{project}/{feed}"
    if view is not None:
        text += f"{view_sep}{view}"
    return text


class Readable(Value):
    """A parsed readable name: raw project, feed and view segments."""

    __slots__ = ("project", "feed", "view", "view_sep")
    project: Final[str | None]
    feed: Final[str]
    view: Final[str | None]
    view_sep: Final[str]

    def __init__(self, project: str | None, feed: str, view: str | None, view_sep: str) -> None:
        self.project = project
        self.feed = feed
        self.view = view
        self.view_sep = view_sep

    def __str__(self) -> str:
        return format_readable(self.project, self.feed, self.view, self.view_sep)


def parse_readable(text: str) -> Readable | None:
    """Parse ``Project/feed[@view]`` (or ``feed[@view]``); None when it is not of that shape."""
    text = text.strip()
    if not text or text == "?" or any(c.isspace() for c in text):
        return None
    project: str | None = None
    rest = text
    if "/" in text:
        project, rest = text.split("/", 1)
        if not project or "/" in rest:
            return None
    view: str | None = None
    sep = ""
    match = _VIEW_SEP_RE.search(rest)
    if match:
        sep = match.group(0)
        view = rest[match.end() :]
        rest = rest[: match.start()]
        if not view:
            return None
    if not rest:
        return None
    return Readable(project, rest, view, sep)


def _split_path(pre: str) -> list[str]:
    if pre == "":
        return []
    if not pre.startswith("/"):
        raise UrlError("the path must start with '/'")
    segs = pre[1:].split("/")
    if any(s == "" for s in segs):
        raise UrlError("the path has an empty segment ('//')")
    return segs


@lru_cache(maxsize=65536)
def parse_azure_url(raw: str, pinned_bases: tuple[str, ...] = ()) -> AzureUrl | None:
    """Parse ``raw`` as an Azure Artifacts PyPI index URL.

    Returns None when ``raw`` is not an Azure Artifacts URL at all (it is then never touched).
    Raises UrlError when it has the Azure shape but cannot be understood, with the reason.
    ``pinned_bases`` are collection URLs (``https://server/tfs/Coll``) that override the
    segment rules of DESIGN.md section 3 for servers.
    """
    if not looks_like_azure(raw):
        return None
    m = _URL_RE.match(raw)
    if m is None:
        lead = _compiled(_SCHEME).match(raw)
        if lead is None or lead.group(1).lower() not in ("http", "https"):
            return None
        if any(c.isspace() for c in raw):
            raise UrlError("the URL holds a literal space (write it as %20)")
        raise UrlError("the text cannot be read as a URL")
    scheme = m.group("scheme")
    if scheme.lower() not in ("http", "https"):
        return None
    path = m.group("path") or ""
    rest_q = m.group("rest") or ""
    bad = _BAD_ESCAPE_RE.search(path)
    if bad is not None:
        raise UrlError(f"bad percent escape '{bad.group()}' in the path (a '%' is written %25)")
    pm = _PACKAGING_RE.match(path)
    if pm is None:
        return None
    hostport = m.group("hostport")
    if not hostport:
        raise UrlError("the URL has no host")
    after = pm.group("after") or ""
    if after.startswith("/"):
        endpoint, _, tail = after[1:].partition("/")
        tail = ("/" + tail) if _ else ""
    else:
        endpoint, tail = "", ""
    if endpoint.lower() not in ("simple", "upload"):
        shown = endpoint or "(nothing)"
        raise UrlError(f"'pypi/{shown}' is not an index URL (expected pypi/simple or pypi/upload)")
    feedseg = pm.group("feedseg")
    vm = _VIEW_SEP_RE.search(feedseg)
    view: str | None = None
    view_sep = ""
    feed = feedseg
    if vm:
        feed, view, view_sep = feedseg[: vm.start()], feedseg[vm.end() :], vm.group(0)
        if not view:
            raise UrlError("the view after '@' is empty")
    if not feed:
        raise UrlError("the feed segment is empty")

    host = hostport.lower().rsplit("@", 1)[-1]
    hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host
    segs = _split_path(pm.group("pre"))
    base: str
    project: str | None
    org: str

    pinned = _match_pinned(scheme, hostport, pm.group("pre"), pinned_bases)
    if pinned is not None:
        host_kind = HostKind.SERVER if hostname != CLOUD_HOST else HostKind.CLOUD
        base, remaining = pinned
        if len(remaining) > 1:
            raise UrlError(f"expected at most a project between '{base}' and '/_packaging'")
        project = remaining[0] if remaining else None
        org = decode_segment(base.rsplit("/", 1)[-1]) if base else hostname.split(".", 1)[0]
    elif hostname == CLOUD_HOST:
        host_kind = HostKind.CLOUD
        if not segs:
            raise UrlError("the organization is missing (expected /<org>/[<project>/]_packaging)")
        if len(segs) > 2:
            raise UrlError("too many path segments (expected /<org>/[<project>/]_packaging)")
        base = "/" + segs[0]
        org = decode_segment(segs[0])
        project = segs[1] if len(segs) == 2 else None
    elif hostname.endswith(LEGACY_SUFFIX) and hostname != LEGACY_SUFFIX[1:]:
        host_kind = HostKind.LEGACY
        org = hostname[: -len(LEGACY_SUFFIX)]
        if "." in org:
            raise UrlError("unexpected legacy host name")
        if not segs:
            base, project = "", None
        elif len(segs) == 1:
            if _compiled(_COLLECTION_LIKE).match(segs[0]):
                base, project = "/" + segs[0], None
            else:
                base, project = "", segs[0]
        elif len(segs) == 2 and _compiled(_COLLECTION_LIKE).match(segs[0]):
            base, project = "/" + segs[0], segs[1]
        else:
            raise UrlError("too many path segments for a *.pkgs.visualstudio.com URL")
    else:
        host_kind = HostKind.SERVER
        if not segs:
            raise UrlError(
                "the collection is missing (expected /<collection>/[<project>/]_packaging)"
            )
        if len(segs) == 1:
            coll_idx, project = 0, None
        elif len(segs) == 2:
            if segs[0].lower() == "tfs":
                coll_idx, project = 1, None
            else:
                coll_idx, project = 0, segs[1]
        else:
            coll_idx, project = len(segs) - 2, segs[-1]
        base = "/" + "/".join(segs[: coll_idx + 1])
        org = decode_segment(segs[coll_idx])
    if project is not None and project == "":
        raise UrlError("the project segment is empty")
    url = AzureUrl(
        scheme=scheme,
        userinfo=m.group("userinfo"),
        hostport=hostport,
        host_kind=host_kind,
        base=base,
        org=org,
        project=project,
        feed=feed,
        view=view,
        view_sep=view_sep,
        packaging=pm.group("packaging"),
        pypi=pm.group("pypi"),
        endpoint=endpoint,
        rest=tail + rest_q,
    )
    if (
        str(url) != raw
    ):  # pragma: no cover - a guard: the model must round-trip every URL it accepts
        raise UrlError("the URL could not be split without changing it")
    return url


def _match_pinned(
    scheme: str, hostport: str, pre: str, pinned_bases: tuple[str, ...]
) -> tuple[str, list[str]] | None:
    """Match a URL against pinned collection URLs; returns (base as written, remaining segs)."""
    for pinned in pinned_bases:
        pm = _URL_RE.match(pinned.rstrip("/"))
        if pm is None:
            continue
        if (pm.group("hostport") or "").lower() != hostport.lower():
            continue
        pbase = (pm.group("path") or "").rstrip("/")
        if not pbase:
            continue
        if pre.casefold() == pbase.casefold():
            return pre, []
        if pre.casefold().startswith(pbase.casefold() + "/"):
            written = pre[: len(pbase)]
            remaining = _split_path(pre[len(pbase) :])
            return written, remaining
    return None
