"""What package clients read besides the project's files, for ``doctor``: findings by source.

- the index variables (``UV_INDEX``, ``UV_DEFAULT_INDEX``, ``UV_INDEX_URL``, ``UV_EXTRA_INDEX_URL``,
  ``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``): their URLs, for the feed table and the hosts (the
  variables themselves are reported by ``urlvalue.check_index_variables``);
- the credential provider's endpoint lists (``VSS_NUGET_EXTERNAL_FEED_ENDPOINTS``,
  ``ARTIFACTS_CREDENTIALPROVIDER_FEED_ENDPOINTS``), whose ``endpoint`` must match the index URL;
- netrc entries for Azure hosts (``NETRC`` or ``~/.netrc``): reported, never used;
- ``~/.pypirc`` repositories (twine's upload targets).

Nothing here sends a request or prints a secret: passwords are skipped while parsing.
"""

from __future__ import annotations

import configparser
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .table import FeedTable
from .urls import CLOUD_HOST, LEGACY_SUFFIX, AzureUrl, UrlError, encode_name, parse_azure_url
from .urlvalue import INDEX_VARIABLES

ENDPOINT_VARIABLES = (
    "VSS_NUGET_EXTERNAL_FEED_ENDPOINTS",
    "ARTIFACTS_CREDENTIALPROVIDER_FEED_ENDPOINTS",
)


@dataclass
class Finding:
    """One thing doctor found outside the project's configuration files."""

    kind: str  # "endpoint-list", "netrc", "pypirc", "ci-file"
    source: str  # where: "UV_INDEX", "~/.netrc:3", ".github/workflows/ci.yml:14"
    subject: str  # a redacted URL or a host
    organization: str | None = None
    form: str | None = None
    checks: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse(text: str) -> AzureUrl | None:
    """An Azure URL, or None (not Azure, or not understood)."""
    try:
        return parse_azure_url(text)
    except UrlError:
        return None


def form_of(url: AzureUrl) -> str:
    """``uuid``, ``name`` or ``mixed``."""
    from .urls import is_uuid

    if url.is_uuid_form:
        return "uuid"
    return "mixed" if any(is_uuid(s) for s in url.segments) else "name"


def replacement(url: AzureUrl, table: FeedTable | None) -> AzureUrl | None:
    """The UUID form of ``url`` when the feed table knows its feed (userinfo kept)."""
    if table is None:
        return None
    org = table.for_url(url)
    feed = org.find_feed(url.feed_name) if org is not None else None
    if feed is None:
        return None
    view = None
    if url.view is not None:
        found = feed.find_view(url.view_name or "")
        if found is None:
            return None
        view = found.id
    project = url.project
    if project is not None:
        if feed.project is None:
            return None
        project = feed.project.id
    elif feed.project is not None:
        return None
    return url.replace(project=project, feed=feed.id, view=view)


def scoped_fix(url: AzureUrl, table: FeedTable | None) -> AzureUrl | None:
    """The URL with the project segment it lacks, for a project-scoped feed written without it."""
    if table is None or url.project is not None:
        return None
    org = table.for_url(url)
    feed = org.find_feed(url.feed_name) if org is not None else None
    if feed is None or feed.project is None:
        return None
    return url.replace(project=encode_name(feed.project.name))


def fix_for(url: AzureUrl, table: FeedTable | None, url_command: bool) -> str:
    """The exact replacement, or the command that prints it."""
    new = replacement(url, table)
    if new is not None:
        return f"use {new.redacted}"
    if url_command:
        return f"azfeeds url '{url.redacted}'  # prints the UUID form"
    return f"azfeeds map --org {url.org}  # lists the project and feed UUIDs for the URL"


# -- index variables ----------------------------------------------------------------------------


def variable_urls(env: Mapping[str, str]) -> list[tuple[str | None, AzureUrl]]:
    """(index name or None, URL) of the index variables and the endpoint lists."""
    out: list[tuple[str | None, AzureUrl]] = []
    for name in INDEX_VARIABLES:
        for token in env.get(name, "").split():
            head = token.split("://", 1)[0]
            index, text = token.split("=", 1) if "=" in head else (None, token)
            url = parse(text)
            if url is not None:
                out.append((index, url))
    for name in ENDPOINT_VARIABLES:
        value = env.get(name)
        if value:
            for endpoint, _user in _endpoints(value):
                url = parse(endpoint) if endpoint else None
                if url is not None:
                    out.append((None, url))
    return out


# -- credential provider endpoint lists ---------------------------------------------------------


def endpoint_lists(
    env: Mapping[str, str], uuid_orgs: set[str], table: FeedTable | None
) -> list[Finding]:
    """Each Azure endpoint of the credential provider's JSON lists (never a password).

    ``uuid_orgs`` holds the organizations whose indexes are already in UUID form: an endpoint of
    theirs still in name form no longer matches the index URL, a problem; otherwise a note.
    """
    out: list[Finding] = []
    for name in ENDPOINT_VARIABLES:
        value = env.get(name)
        if not value:
            continue
        for endpoint, user in _endpoints(value):
            if endpoint is None:
                out.append(
                    Finding(
                        "endpoint-list",
                        name,
                        "(unreadable)",
                        problems=[
                            f"{name} is not JSON of the shape "
                            '{"endpointCredentials": [{"endpoint": ..., "username": ..., '
                            '"password": ...}]}: the credential provider ignores it'
                        ],
                    )
                )
                continue
            url = parse(endpoint)
            if url is None:
                continue
            finding = Finding("endpoint-list", name, url.redacted, url.org, form_of(url))
            if user:
                finding.checks["username"] = "set"
            if finding.form == "uuid":
                out.append(finding)
                continue
            new = replacement(url, table)
            said = (
                "the endpoint is in name form; the credential provider matches it to the index "
                "URL, so after 'azfeeds rewrite' it no longer matches"
            )
            if url.org_key.name in uuid_orgs:
                finding.problems.append(said)
            else:
                finding.notes.append(said)
            if new is not None:
                finding.fixes.append(f'set "endpoint": "{new.redacted}" in {name}')
            else:
                finding.fixes.append(fix_for(url, table, False))
            out.append(finding)
    return out


def _endpoints(value: str) -> list[tuple[str | None, bool]]:
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):
        return [(None, False)]
    items = doc.get("endpointCredentials") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return [(None, False)]
    return [
        (item["endpoint"], bool(item.get("username")))
        for item in items
        if isinstance(item, dict) and isinstance(item.get("endpoint"), str)
    ]


def endpoint_json(urls: Sequence[AzureUrl], user: str) -> str:
    """The endpoint list for these index URLs, with placeholders where the PATs go."""
    items = []
    seen: set[str] = set()
    for url in urls:
        endpoint = str(url.without_userinfo())
        if endpoint in seen:
            continue
        seen.add(endpoint)
        items.append({"endpoint": endpoint, "username": user, "password": "<PAT>"})
    return json.dumps({"endpointCredentials": items}, indent=None)


# -- netrc ----------------------------------------------------------------------------------------

MAX_BYTES = 1024 * 1024  # a netrc or .pypirc larger than this is not read


def _small_text(path: Path) -> str | None:
    """The text of a regular file of at most MAX_BYTES, else None (FIFOs and devices unread)."""
    try:
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            return None
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


def netrc_path(env: Mapping[str, str]) -> Path | None:
    """The netrc file the clients read: ``NETRC``, else ``~/.netrc``, else ``~/_netrc`` (which
    requests, so pip and Poetry, also read; the usual name on Windows)."""
    named = env.get("NETRC")
    if named:
        return Path(named)
    home = env.get("HOME") or env.get("USERPROFILE")
    base = Path(home) if home else Path.home()
    dotted = base / ".netrc"
    underscored = base / "_netrc"
    return underscored if not dotted.exists() and underscored.exists() else dotted


def netrc_machines(text: str) -> list[tuple[str, int, bool]]:
    """(machine, line, has login) of each ``machine`` entry; ``default`` as ``*``.

    A small tokenizer: ``macdef`` bodies are skipped up to the blank line that ends them, and a
    password token is read past without being kept.
    """
    out: list[tuple[str, int, bool]] = []
    tokens: list[tuple[str, int]] = []
    in_macro = False
    for number, line in enumerate(text.splitlines(), 1):
        if in_macro:
            if not line.strip():
                in_macro = False
            continue
        stripped = line.lstrip()
        if stripped.startswith("#"):
            continue
        words = line.split()
        for at, word in enumerate(words):
            if word == "macdef":
                tokens.extend((w, number) for w in words[: at + 2])
                in_macro = True
                break
        else:
            tokens.extend((w, number) for w in words)
    index = 0
    while index < len(tokens):
        word, number = tokens[index]
        if word == "machine" and index + 1 < len(tokens):
            out.append((tokens[index + 1][0].lower(), number, False))
            index += 2
        elif word == "default":
            out.append(("*", number, False))
            index += 1
        elif word in ("login", "password", "account", "macdef"):
            if word == "login" and out:
                out[-1] = (out[-1][0], out[-1][1], True)
            index += 2
        else:
            index += 1
    return out


def is_azure_host(host: str, others: Iterable[str]) -> bool:
    """A cloud host of Azure Artifacts, or a server host where this project has feeds."""
    host = host.lower()
    return host == CLOUD_HOST or host.endswith(LEGACY_SUFFIX) or host in others


def netrc_findings(
    env: Mapping[str, str],
    orgs_by_host: Mapping[str, set[str]],
    covered: Iterable[str] = (),
) -> list[Finding]:
    """The netrc entries that apply to Azure hosts, and what one login per host means here.

    ``covered`` holds the hosts where every index carries a credential of its own: clients
    send the netrc login there only to a request without one, so it is a note, not a problem.
    """
    covered = set(covered)
    path = netrc_path(env)
    text = _small_text(path) if path is not None else None
    if path is None or text is None:
        return []
    from .userconfig import shown

    where = shown(path, env)
    out: list[Finding] = []
    for machine, line, _login in netrc_machines(text):
        hosts = [machine] if machine != "*" else sorted(orgs_by_host)
        for host in hosts:
            if not is_azure_host(host, orgs_by_host):
                continue
            orgs = sorted(orgs_by_host.get(host, set()), key=str.casefold)
            subject = host if machine != "*" else f"{host} (the 'default' entry)"
            finding = Finding("netrc", f"{where}:{line}", subject)
            finding.checks["meaning"] = (
                "one login for every organization on this host: uv, pip, Poetry and PDM send it "
                "when an index has no credential of its own; azfeeds never uses it"
            )
            if len(orgs) > 1 and host in covered:
                finding.notes.append(
                    f"{len(orgs)} organizations on {host} ({', '.join(orgs)}): every index here "
                    "has its own credential, so uv does not use this login; a client without "
                    "one (pip, a new index) would send it to both"
                )
            elif len(orgs) > 1:
                finding.problems.append(
                    f"{len(orgs)} organizations on {host} ({', '.join(orgs)}) share this one "
                    "netrc login: a PAT of one organization gets 401 from the other"
                )
                finding.fixes.append(
                    f"remove the {host} entry from {where}; give each index its own credential "
                    "(azfeeds env prints the variables)"
                )
            else:
                finding.notes.append(
                    "works for one organization; it cannot serve a second organization on this "
                    "host (prefer per-index variables: azfeeds env)"
                )
            out.append(finding)
    return out


# -- .pypirc ------------------------------------------------------------------------------------


def pypirc_path(env: Mapping[str, str]) -> Path:
    """twine's configuration file (``~/.pypirc``)."""
    home = env.get("HOME") or env.get("USERPROFILE")
    return (Path(home) if home else Path.home()) / ".pypirc"


def pypirc_findings(env: Mapping[str, str]) -> list[Finding]:
    """Azure ``repository`` URLs in ~/.pypirc; one that is not an upload endpoint is a problem."""
    path = pypirc_path(env)
    text = _small_text(path)
    if text is None:
        return []
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return []
    from .userconfig import shown

    where = shown(path, env)
    out: list[Finding] = []
    lines = text.splitlines()
    for section in parser.sections():
        raw = parser.get(section, "repository", fallback=None)
        if not raw:
            continue
        url = parse(raw.strip())
        if url is None:
            continue
        line = next((n for n, t in enumerate(lines, 1) if raw.strip() in t), 0)
        finding = Finding(
            "pypirc", f"{where}:{line} [{section}]", url.redacted, url.org, form_of(url)
        )
        publish_check(finding.problems, finding.fixes, url)
        if url.userinfo and ":" in url.userinfo:
            finding.problems.append(
                "the repository URL carries a password: keep it in TWINE_PASSWORD instead"
            )
        out.append(finding)
    return out


def upload_url(url: AzureUrl) -> AzureUrl:
    """The same feed's upload endpoint (trailing slash as written)."""
    rest = "/" if url.rest.startswith("/") else url.rest
    return url.replace(endpoint="upload", rest=rest)


def publish_check(problems: list[str], fixes: list[str], url: AzureUrl) -> None:
    """An upload target must be the feed's ``/pypi/upload/`` endpoint."""
    if url.endpoint.lower() == "upload":
        return
    right = upload_url(url)
    problems.append(
        f"the upload target is the /pypi/{url.endpoint}/ endpoint: uploads go to /pypi/upload/"
    )
    fixes.append(f"use {right.redacted}")
