"""``azfeeds url``: convert index URLs, and whole variable values, for the places no file kind
covers (DESIGN.md section 5): the index variables of uv and pip as CI YAML, Dockerfiles and shell
profiles set them.

A value is split into words at white space; a GitHub Actions placeholder (``${{ secrets.X }}``)
is one word, its inner spaces included. A word is ``[name=]URL`` (``UV_INDEX`` takes
``name=URL``). Only the project, feed and view segments of an Azure URL change; every other byte
of the value comes back as written, so a value keeps its shape. Non-Azure words pass through.

Placeholders (``${VAR}``, ``$VAR``, ``$(VAR)``, ``${{ ... }}``, ``{env:VAR}``) and a user name
alone are kept. A URL that holds a password is refused: ``azfeeds url`` prints what it reads, and
its output goes into CI logs.

Standard library only, and no network: the caller hands in the feed table (``cli`` builds it live,
from ``--map``, or not at all with ``--offline``). ``doctor`` uses ``check_index_variables``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .clientcreds import UV, IndexRef, uv_env_name
from .errors import FeedLookupError, UsageError
from .table import Feed, FeedTable, Project, View
from .urls import (
    AzureUrl,
    UrlError,
    encode_name,
    has_placeholder,
    is_uuid,
    looks_like_azure,
    parse_azure_url,
    split_userinfo,
    userinfo_has_secret,
)

if TYPE_CHECKING:
    from .engine import OrgRequest

# The variables whose values are index URLs (uv's and pip's), in the order doctor reports them.
INDEX_VARIABLES = (
    "UV_INDEX",
    "UV_DEFAULT_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
)

_GITHUB_PLACEHOLDER = r"\$\{\{[^{}\r\n]*\}\}"
_WORD_RE = re.compile(f"(?:{_GITHUB_PLACEHOLDER}|\\S)+")
_NAME_RE = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.\-]*)=(?=[A-Za-z][A-Za-z0-9+.\-]*://)")
_USERINFO_RE = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://)"
    f"(?P<userinfo>(?:{_GITHUB_PLACEHOLDER}|[^@/?#\\s])*)@"
)
# A token written where the user name goes (``https://<PAT>@dev.azure.com``, as git accepts it).
_TOKEN_AS_USER_RE = re.compile(r"[A-Za-z0-9]{40,}\Z")

UUID_MODE = "uuid"  # the other mode is "names"


def holds_secret(userinfo: str) -> bool:
    """A password written as such (not a placeholder), or a token written as the user name. A
    user name alone (``VssSessionToken@``, a keyring hint) and placeholders are no secret."""
    user, _ = split_userinfo(userinfo)
    return userinfo_has_secret(userinfo) or _TOKEN_AS_USER_RE.match(user) is not None


@dataclass(frozen=True)
class Word:
    """One ``[name=]URL`` word of a value: the span of its URL, and what azfeeds makes of it."""

    start: int  # the URL's span inside the value (after ``name=``)
    end: int
    name: str | None  # the ``name=`` prefix (UV_INDEX), else None
    text: str  # the URL as written
    url: AzureUrl | None  # None: not an Azure Artifacts URL (or not understood: see problem)
    secret: bool = False  # the URL holds a password
    problem: str | None = None  # Azure-shaped, but not understood: why

    @property
    def shown(self) -> str:
        """The URL as it may be printed (no userinfo when it holds a secret)."""
        if not self.secret:
            return self.text
        return _USERINFO_RE.sub(lambda m: f"{m.group('head')}***@", self.text, count=1)


def scan_value(text: str, pinned: tuple[str, ...] = ()) -> list[Word]:
    """The words of a variable value that are URLs (never raises)."""
    words: list[Word] = []
    for match in _WORD_RE.finditer(text):
        start, token = match.start(), match.group()
        name = None
        prefix = _NAME_RE.match(token)
        if prefix is not None:
            name, start, token = prefix.group(1), start + prefix.end(), token[prefix.end() :]
        words.append(_word(token, start, name, pinned))
    return [w for w in words if w.url is not None or w.secret or w.problem is not None]


def _word(token: str, start: int, name: str | None, pinned: tuple[str, ...]) -> Word:
    end = start + len(token)
    userinfo = None
    bare = token
    auth = _USERINFO_RE.match(token)
    if auth is not None:  # parsed apart: a ${{ ... }} user name holds spaces
        userinfo = auth.group("userinfo")
        bare = auth.group("head") + token[auth.end() :]
    secret = userinfo is not None and holds_secret(userinfo)
    try:
        url = parse_azure_url(bare, pinned)
    except UrlError as exc:
        return Word(start, end, name, token, None, secret, str(exc))
    github = "${{" in bare and "/_packaging/" in bare.lower()  # spaces: not a URL shape at all
    if url is None and (github or looks_like_azure(bare)):
        why = (
            "a ${{ ... }} placeholder outside the user info names what azfeeds must resolve"
            if github
            else "not an http(s) index URL of the Azure Artifacts shape"
        )
        return Word(start, end, name, token, None, secret, why)
    if url is not None and userinfo is not None:
        url = url.replace(userinfo=userinfo)
    return Word(start, end, name, token, url, secret)


@dataclass
class Value:
    """One value to convert: an argument, or a line of standard input."""

    source: str  # where it came from, for messages: "<argument>:2", "<stdin>:3"
    text: str
    words: list[Word] = field(default_factory=list)


def password_hint(word: Word) -> str:
    """What to do instead of a password in a variable's URL."""
    if word.name:
        env = uv_env_name(word.name)
        named = (
            f"set UV_INDEX_{env}_USERNAME and UV_INDEX_{env}_PASSWORD for the index '{word.name}'"
        )
    else:
        named = (
            'name the index (UV_INDEX="<name>=<URL>") and set UV_INDEX_<NAME>_USERNAME and '
            "UV_INDEX_<NAME>_PASSWORD"
        )
    return (
        f"remove the password (as 'azfeeds rewrite --strip-credentials' does in files) and {named}; "
        "or write it as a placeholder, as the CI file does (${{ secrets.AZ_PAT }}, "
        "$(System.AccessToken), ${AZ_PAT}), and convert the value as written there"
    )


def read_values(inputs: Sequence[tuple[str, str]], pinned: tuple[str, ...]) -> list[Value]:
    """Scan every value; a URL with a password, or an Azure URL that is not understood, is a
    usage error (exit 2) that never shows the password."""
    values = []
    for source, text in inputs:
        words = scan_value(text, pinned)
        for word in words:
            if word.secret:
                raise UsageError(
                    f"{source}: {word.shown}: the URL holds a password; azfeeds url prints what it "
                    "converts, so it refuses one rather than put it into a CI log",
                    hint=password_hint(word),
                )
            if word.problem is not None:
                raise UsageError(f"{source}: cannot convert {word.shown}: {word.problem}")
        values.append(Value(source, text, words))
    return values


def needs_table(url: AzureUrl, mode: str) -> bool:
    """Whether converting ``url`` needs the feed table (some segment is in the other form)."""
    uuids = [is_uuid(s) for s in url.segments]
    return not all(uuids) if mode == UUID_MODE else any(uuids)


def org_requests(values: Sequence[Value], mode: str) -> list[OrgRequest]:
    """The organizations whose feeds the conversion needs, as ``rewrite`` asks for them.

    A ``name=URL`` word is a uv index, so uv's own credential for it
    (``UV_INDEX_<NAME>_PASSWORD``, DESIGN.md section 6 step 2) is offered too.
    """
    from .engine import OrgRequest, merge_requests  # only a live run asks for organizations

    requests = []
    for value in values:
        for word in value.words:
            url = word.url
            if url is None or not needs_table(url, mode):
                continue
            project = url.project_name
            refs = (IndexRef(UV, word.name, word.text, value.source, ".", False),)
            requests.append(
                OrgRequest(
                    url.org_key,
                    url.org,
                    url.replace(userinfo=None),
                    frozenset([url.feed_name.casefold()] if url.view is not None else []),
                    refs if word.name else (),
                    frozenset([] if is_uuid(url.feed) else [url.feed_name]),
                    frozenset(
                        [(url.feed_name.casefold(), project)]
                        if project is not None and not is_uuid(project)
                        else []
                    ),
                )
            )
    return merge_requests(requests)


@dataclass(frozen=True)
class UrlResult:
    """One Azure URL of a value, converted."""

    name: str | None
    input: str
    output: str
    organization: str
    form: str  # of the input: "name", "uuid" or "mixed"

    @property
    def changed(self) -> bool:
        """The URL's bytes changed."""
        return self.input != self.output


@dataclass(frozen=True)
class Converted:
    """One value, converted."""

    source: str
    input: str
    output: str
    urls: tuple[UrlResult, ...]

    @property
    def changed(self) -> bool:
        """The value's bytes changed."""
        return self.input != self.output


def _form(url: AzureUrl) -> str:
    uuids = [is_uuid(s) for s in url.segments]
    return "uuid" if all(uuids) else "mixed" if any(uuids) else "name"


def convert(
    values: Sequence[Value], table: FeedTable | None, mode: str, missing_hint: str
) -> tuple[list[Converted], list[str]]:
    """Every value with its Azure URLs in ``mode``'s form; the warnings (a renamed project).

    ``missing_hint`` is the hint of the lookup error for an organization the table lacks
    (``{org}`` stands for its name).
    """
    from .kinds.base import FileKind, Role, Site
    from .planner import resolve

    results: list[Converted] = []
    warnings: list[str] = []
    for value in values:
        path, _, line = value.source.rpartition(":")
        pieces: list[str] = []
        at = 0
        urls: list[UrlResult] = []
        for word in value.words:
            url = word.url
            if url is None:
                continue
            new = url
            if needs_table(url, mode):
                _no_placeholder(value.source, url)
                org = table.for_url(url) if table is not None else None
                if org is None:
                    raise FeedLookupError(
                        f"{value.source}: {url.redacted}: organization '{url.org}' is not in "
                        "the feed table",
                        hint=missing_hint.format(org=url.org if url.is_cloud else url.org_base_url),
                    )
                # a Site only names the place in lookup errors: "<argument>:2: URL: ..."
                site = Site(
                    Path(path),
                    FileKind.REQUIREMENTS,
                    Role.REQUIREMENTS,
                    "",
                    int(line or 0),
                    word.start,
                    word.end,
                    word.text,
                    url,
                )
                resolved, warning = resolve(org, url, site)
                if warning:
                    warnings.append(warning)
                new = _segments(url, resolved.project, resolved.feed, resolved.view, mode)
            pieces.append(value.text[at : word.start] + str(new))
            at = word.end
            urls.append(UrlResult(word.name, word.text, str(new), url.org, _form(url)))
        pieces.append(value.text[at:])
        results.append(Converted(value.source, value.text, "".join(pieces), tuple(urls)))
    return results, warnings


def _no_placeholder(source: str, url: AzureUrl) -> None:
    """A placeholder where the organization, project, feed or view goes names nothing that
    azfeeds could look up: the value must be converted with it expanded."""
    parts = {"organization": url.org, "project": url.project, "feed": url.feed, "view": url.view}
    for what, segment in parts.items():
        if segment is not None and has_placeholder(segment):
            raise UsageError(
                f"{source}: {url.redacted}: the {what} is a placeholder ({segment}), which "
                "azfeeds cannot look up",
                hint="convert the value with that placeholder expanded",
            )


def _segments(
    url: AzureUrl, project: Project | None, feed: Feed, view: View | None, mode: str
) -> AzureUrl:
    """``url`` with each segment in ``mode``'s form; a segment already in it stays as written."""

    def one(raw: str, obj: Project | Feed | View) -> str:
        if mode == UUID_MODE:
            return raw if is_uuid(raw) else obj.id
        return encode_name(obj.name) if is_uuid(raw) else raw

    new_project = one(url.project, project) if url.project is not None and project else url.project
    new_view = one(url.view, view) if url.view is not None and view else url.view
    return url.with_segments(new_project, one(url.feed, feed), new_view)


# -- doctor -------------------------------------------------------------------------------------


@dataclass
class VariableFinding:
    """An index variable set in the environment that holds Azure URLs."""

    variable: str
    value: str  # as it may be shown (a password replaced by ***)
    forms: list[str]
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fix_command(variable: str) -> str:
    """The shell line that converts a variable in place."""
    return f'{variable}="$(azfeeds url "${variable}")"'


def check_index_variables(
    env: Mapping[str, str], shared_hosts: Mapping[str, set[str]] | None = None
) -> list[VariableFinding]:
    """The index variables set in ``env`` that hold Azure URLs, each with the fix.

    ``shared_hosts``: the organizations of each host that uv reaches through the project's
    files, so that a name-form URL in a uv variable is a 401 risk when its host serves another
    organization too. pip's variables carry no such risk: pip matches credentials by path.
    """
    findings: list[VariableFinding] = []
    scanned = [
        (name, env[name], scan_value(env[name])) for name in INDEX_VARIABLES if env.get(name)
    ]
    orgs: dict[str, set[str]] = {h: set(o) for h, o in (shared_hosts or {}).items()}
    for name, _, words in scanned:
        for word in words:
            if word.url is not None and name.startswith("UV_"):
                orgs.setdefault(_host(word.url), set()).add(str(word.url.org_key))
    for name, text, words in scanned:
        azure = [w for w in words if w.url is not None or w.problem is not None]
        if not azure:
            continue
        shown = text
        for word in sorted(words, key=lambda w: w.start, reverse=True):
            if word.secret:
                shown = shown[: word.start] + word.shown + shown[word.end :]
        finding = VariableFinding(name, shown, [_form(w.url) for w in azure if w.url])
        findings.append(finding)
        for word in azure:
            if word.problem is not None:
                finding.problems.append(f"{name}: {word.shown}: {word.problem}")
        named = [w.url for w in azure if w.url is not None and _form(w.url) != "uuid"]
        if not named:
            continue
        if not name.startswith("UV_"):
            finding.notes.append(
                f"{name} holds a name-form URL: no 401 risk for pip, which sends each download "
                "the credential of the index URL with the longest common path"
            )
        elif any(len(orgs.get(_host(u), set())) > 1 for u in named):
            finding.problems.append(
                f"401 risk: {name} holds a name-form URL on a host that serves several "
                "organizations; uv downloads files through UUID-form URLs, which match no "
                "name-form index, so it falls back to one credential per host"
            )
        else:
            finding.notes.append(
                f"{name} holds a name-form URL: it works, but every file download costs an extra "
                "401 round trip"
            )
        secret = next((w for w in words if w.secret), None)
        if secret is None:
            finding.fixes.append(
                f"{fix_command(name)} (or set it, where it is defined, to what "
                f"'azfeeds url \"${name}\"' prints)"
            )
        else:  # a password from a CI secret, expanded: convert the value as written instead
            finding.fixes.append(
                f"convert the value of {name} as it is written where it is set, with its "
                "placeholder in place of the password: azfeeds url '<that value>' (it refuses "
                "a password)"
            )
    return findings


def _host(url: AzureUrl) -> str:
    return url.hostport.rsplit("@", 1)[-1].lower()
