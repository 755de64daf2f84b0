"""What a project's Azure indexes look like to uv: the shared model of ``doctor`` and ``env``.

Pure functions over scanned files; probes and the feeds API are passed in by the caller.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .clientcreds import (
    CLIENT_NAMES,
    ConfigFiles,
    IndexRef,
    Lookup,
    client_variables,
    own_credential,
    ref_for_site,
    where_to_set,
    without_userinfo,
)
from .keyring_probe import KeyringAnswer, Provider, keyring_get, keyring_user
from .kinds.base import CLIENT_LOCKS, TWIN_MARKER, FileKind, Role, Site, SourceFile, env_name
from .table import FeedTable
from .urls import AzureUrl, decode_segment, is_uuid, look_alike_warning

if TYPE_CHECKING:
    from .kinds.lockhash import HashVariant

UV_ROLES = (Role.UV_INDEX, Role.UV_INDEX_URL)


@dataclass(frozen=True)
class Names:
    """Readable names of an index, where they are known."""

    project: str | None
    feed: str | None
    view: str | None
    source: str  # "url", "readable name", "feed table" or "unknown"

    def __str__(self) -> str:
        if self.feed is None:
            return "?"
        text = self.feed if self.project is None else f"{self.project}/{self.feed}"
        return f"{text}@{self.view}" if self.view else text


@dataclass
class Index:
    """One Azure index URL of the configuration, with what azfeeds knows about it."""

    site: Site
    url: AzureUrl
    names: Names
    twin_of: str | None = None
    checks: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    origin: str = "project"  # which configuration: "project", "uv user config", ...
    provider: Provider | None = None  # uv's keyring-provider setting, for uv indexes

    @property
    def keyring_user(self) -> str | None:
        """The user name of a user-name-only userinfo (a keyring hint)."""
        return keyring_user(self.url)

    @property
    def uses_keyring(self) -> bool:
        """uv asks the keyring for this index's password (subprocess provider, a user name)."""
        return (
            self.is_uv
            and self.keyring_user is not None
            and self.provider is not None
            and self.provider.asks_keyring
        )

    @property
    def form(self) -> str:
        """``uuid``, ``name`` or ``mixed``."""
        if self.url.is_uuid_form:
            return "uuid"
        return "mixed" if any(is_uuid(s) for s in self.url.segments) else "name"

    @property
    def is_uv(self) -> bool:
        """An index uv reads (pyproject.toml [tool.uv...] or uv.toml)."""
        return self.site.kind.is_uv_config and self.site.role in UV_ROLES

    @property
    def variables(self) -> tuple[str, str] | None:
        """The UV_INDEX_* credential variables of a named uv index."""
        if self.site.role is not Role.UV_INDEX or not self.site.index_name:
            return None
        env = env_name(self.site.index_name)
        return f"UV_INDEX_{env}_USERNAME", f"UV_INDEX_{env}_PASSWORD"

    @property
    def ref(self) -> IndexRef | None:
        """The index as its client configures it (for that client's own credential)."""
        return ref_for_site(self.site)

    @property
    def client(self) -> str:
        """The client that reads this index: uv, poetry, pdm or pip."""
        ref = self.ref
        return ref.client if ref is not None else "uv"

    @property
    def label(self) -> str:
        """How the index is named in reports."""
        if self.site.index_name:
            return f'"{self.site.index_name}"'
        return self.site.key


def _names(source: SourceFile, site: Site, url: AzureUrl, table: FeedTable | None) -> Names:
    if not url.is_uuid_form:
        return Names(url.project_name, url.feed_name, url.view_name, "url")
    ann = source.annotations.get(site.line)
    if ann is not None:
        uuid_sites = [
            s for s in source.sites if s.line == site.line and s.azure and s.azure.is_uuid_form
        ]
        if len(uuid_sites) == len(ann.entries) and site in uuid_sites:
            entry = ann.entries[uuid_sites.index(site)]
            if entry is not None:
                return Names(
                    decode_segment(entry.project) if entry.project else None,
                    decode_segment(entry.feed),
                    decode_segment(entry.view) if entry.view else None,
                    "readable name",
                )
    org = table.for_url(url) if table is not None else None
    feed = org.feed_by_id(url.feed) if org is not None else None
    if feed is not None:
        view = feed.find_view(url.view) if url.view else None
        return Names(
            feed.project.name if feed.project else None,
            feed.name,
            view.name if view else None,
            "feed table",
        )
    return Names(None, None, None, "unknown")


def _twin_of(source: SourceFile, site: Site) -> str | None:
    if site.entry is None or source.toml is None:
        return None
    if site.azure is not None and site.azure.is_uuid_form:  # a twin in an inline array
        span = source.toml.comments.get(site.line)
        comment = source.text[span[0] : span[1]] if span is not None else ""
        if not any(t.path == site.entry for t in source.toml.tables) and TWIN_MARKER in comment:
            after = comment[comment.find(TWIN_MARKER) + len(TWIN_MARKER) :].strip()
            return after.split('"')[1] if after.count('"') >= 2 else "?"
    for table in source.toml.tables:
        if table.path == site.entry:
            span = source.toml.comments.get(table.header_line)
            if span is not None:
                comment = source.text[span[0] : span[1]]
                marker = comment.find(TWIN_MARKER)
                if marker >= 0:
                    return comment[marker + len(TWIN_MARKER) :].strip().strip('"') or "?"
    return None


def collect(sources: Sequence[SourceFile], table: FeedTable | None = None) -> list[Index]:
    """Every Azure index URL of the configuration files (uv.lock excluded)."""
    out: list[Index] = []
    for source in sources:
        if source.kind is FileKind.UV_LOCK:
            continue
        for site in source.sites:
            if site.azure is None:
                continue
            out.append(
                Index(
                    site,
                    site.azure,
                    _names(source, site, site.azure, table),
                    _twin_of(source, site),
                )
            )
    return out


def _identity_key(index: Index) -> tuple[str, str] | None:
    """(org, readable names) to pair an index with its twin or lock string, casefolded."""
    if index.names.feed is None:
        return None
    return str(index.url.org_key), str(index.names).casefold()


def check_variables(indexes: Sequence[Index], env: Mapping[str, str]) -> None:
    """Are the UV_INDEX_* variables of every named uv index set (names only, never values)?"""
    for index in indexes:
        names = index.variables
        if names is None:
            if index.is_uv:
                index.checks["variables"] = (
                    "none (an index-url has no name, so uv has no UV_INDEX_* variables for it)"
                )
            continue
        states = [f"{n} {'set' if env.get(n) else 'missing'}" for n in names]
        index.checks["variables"] = ", ".join(states)
        missing = [n for n in names if not env.get(n)]
        if missing and index.keyring_user is not None:
            _keyring_variables(index)
            continue
        if missing:
            index.problems.append(f"{' and '.join(missing)} not set: uv sends no credential")
            index.fixes.append("azfeeds env  # prints the variables to set, as snippets")


def _keyring_variables(index: Index) -> None:
    """A uv index whose URL names a keyring user and whose variables are not set."""
    user = index.keyring_user
    provider = index.provider
    if index.uses_keyring and provider is not None:
        index.checks["keyring"] = (
            f"user {user}; keyring-provider = {provider.value} ({provider.source}): uv asks "
            f"'keyring get <url> {user}'"
        )
        return
    setting = (
        f"keyring-provider is '{provider.value}' ({provider.source})"
        if provider is not None
        else "keyring-provider is not set"
    )
    index.problems.append(
        f"the URL names the keyring user {user}, but {setting}: uv asks no keyring and sends "
        "no password"
    )
    index.fixes.append(
        'set keyring-provider = "subprocess" under [tool.uv] (or UV_KEYRING_PROVIDER=subprocess)'
    )
    index.fixes.append("azfeeds env  # the keyring set-up, and the variables for CI")


def own_lookups(
    indexes: Sequence[Index], env: Mapping[str, str], files: ConfigFiles | None = None
) -> dict[int, Lookup]:
    """Each index's own credential as its client finds it, by ``id(index)``."""
    from .secrets import register_secret

    files = files or ConfigFiles(env)
    out: dict[int, Lookup] = {}
    for index in indexes:
        ref = index.ref
        lookup = own_credential(ref, env, files) if ref is not None else Lookup()
        if lookup.found is not None:
            register_secret(lookup.found.password)  # scrubbed from every output from now on
        out[id(index)] = lookup
    return out


def check_client_credentials(
    indexes: Sequence[Index], env: Mapping[str, str], lookups: Mapping[int, Lookup]
) -> None:
    """Poetry, PDM and pip indexes: the credential their client would send, by source (names
    only, never values), and a placeholder the client would send as written."""
    for index in indexes:
        ref = index.ref
        lookup = lookups.get(id(index))
        if ref is None or lookup is None:
            continue
        for problem in [*lookup.warnings, *lookup.notes]:
            prefix = f"{ref.location}: "
            index.problems.append(problem.removeprefix(prefix))
            if ref.expands:
                index.fixes.append(f"set {where_to_set(ref)}")
            else:  # the client sends the URL's userinfo as written, before anything else
                index.fixes.append(
                    f"remove the userinfo from the URL at {ref.location}; set {where_to_set(ref)}"
                )
        if ref.client == "uv":
            continue
        user_var, password_var = client_variables(ref)
        shown = [v for v in (user_var, password_var) if v]
        states = [f"{v} {'set' if env.get(v) else 'missing'}" for v in shown]
        client = CLIENT_NAMES[ref.client]
        if states:
            index.checks["variables"] = ", ".join(states)
        if lookup.found is not None:
            index.checks["credential"] = f"{client} sends {lookup.found.source}"
        elif not lookup.notes and not lookup.warnings:
            index.checks["credential"] = f"none found ({client} may still ask a keyring)"
            index.notes.append(f"for a credential of {client}'s own, set {where_to_set(ref)}")


_LONGEST_PATH = {
    "poetry": "Poetry sends each download the credential of the source whose path shares the "
    "most leading segments with it",
    "pdm": "PDM sends each download the credential of the source with the longest common path",
    "pip": "pip sends each download the credential of the index URL with the longest common path",
}


def check_hosts(indexes: Sequence[Index], env: Mapping[str, str]) -> None:
    """The 401 risk (uv), and why pip, Poetry and PDM have none (longest-path matching)."""
    _check_other_clients_hosts([i for i in indexes if not i.is_uv and i.client != "uv"])
    _check_uv_hosts(indexes, env)


def _check_other_clients_hosts(indexes: Sequence[Index]) -> None:
    by_host: dict[tuple[str, str], list[Index]] = defaultdict(list)
    for index in indexes:
        by_host[(index.client, index.url.hostport.rsplit("@", 1)[-1].lower())].append(index)
    for (client, host), group in by_host.items():
        orgs = sorted({i.url.org for i in group}, key=str.casefold)
        for index in group:
            if len(orgs) > 1:
                index.checks["host"] = (
                    f"{host} shared by {len(orgs)} organizations ({', '.join(orgs)})"
                )
                if index.form != "uuid":
                    index.notes.append(
                        f"no 401 risk for {CLIENT_NAMES[client]} in name form: "
                        f"{_LONGEST_PATH[client]}, so each organization's files get that "
                        "organization's credential"
                    )
            else:
                index.checks["host"] = f"{host}: one organization"


def _check_uv_hosts(indexes: Sequence[Index], env: Mapping[str, str]) -> None:
    """The 401 risk: several organizations (or PATs) on one host, with name-form URLs."""
    uv = [i for i in indexes if i.is_uv]
    by_host: dict[str, list[Index]] = defaultdict(list)
    for index in uv:
        by_host[index.url.hostport.rsplit("@", 1)[-1].lower()].append(index)
    covered = {
        _identity_key(i)
        for i in uv
        if i.form == "uuid" and (i.variables is None or all(env.get(v) for v in i.variables))
    }
    for host, group in by_host.items():
        orgs = sorted({i.url.org for i in group}, key=str.casefold)
        passwords = {
            env.get(i.variables[1]) for i in group if i.variables and env.get(i.variables[1])
        }
        shared = len({i.url.org_key for i in group}) > 1 or len(passwords) > 1
        for index in group:
            if len(orgs) > 1:
                index.checks["host"] = (
                    f"{host} shared by {len(orgs)} organizations ({', '.join(orgs)})"
                )
            elif len(passwords) > 1:
                index.checks["host"] = f"{host}: one organization, {len(passwords)} different PATs"
            else:
                index.checks["host"] = f"{host}: one organization"
            if index.form == "uuid":
                continue
            if _identity_key(index) in covered:
                index.notes.append("a UUID-form twin carries the downloads (add mode)")
                continue
            fix = f"azfeeds rewrite {index.site.path.as_posix()}"
            if shared:
                index.problems.append(
                    "401 risk: file downloads use UUID-form URLs that match no name-form index, so "
                    "uv falls back to one credential per host, which fails for the other "
                    "organization"
                )
                index.fixes.append(fix)
            else:
                index.notes.append(
                    f"works, but every file download costs an extra 401 round trip ({fix} removes it)"
                )


def check_client_locks(
    indexes: Sequence[Index], sources: Sequence[SourceFile], unread: Mapping[Path, str]
) -> None:
    """Can ``rewrite`` keep the poetry.lock or pdm.lock of each Poetry or PDM source of a
    pyproject.toml true? It checks the lock's hash first (DESIGN.md section 4a), as the planner
    does: when the hash does not match, rewrite leaves those sources in name form, which the
    client uses fine, so this is a note, not a problem."""
    from .kinds import handler_for
    from .kinds.clientlock import ClientLock

    locks = {(s.path.parent, s.kind): s for s in sources if s.kind.follows_pyproject}
    pyprojects = {s.path: s for s in sources if s.kind is FileKind.PYPROJECT}
    verdicts: dict[tuple[Path, FileKind], tuple[HashVariant | None, str] | None] = {}
    for index in indexes:
        kind = CLIENT_LOCKS.get(index.site.role)
        pyproject = pyprojects.get(index.site.path)
        if kind is None or pyproject is None:
            continue
        handler = handler_for(kind)
        assert isinstance(handler, ClientLock)
        key = (pyproject.path.parent, kind)
        if key not in verdicts:
            verdicts[key] = handler.check_beside(pyproject, locks.get(key), unread)
        verdict = verdicts[key]
        if verdict is None:
            index.checks[kind.value] = f"no {kind.value}"
            continue
        variant, reason = verdict
        if variant is not None:
            index.checks[kind.value] = "its hash matches pyproject.toml: rewrite keeps it true"
            continue
        index.checks[kind.value] = f"cannot be kept true: {reason}"
        index.notes.append(
            f"rewrite leaves this source as it is ({handler.client} works with it); to have it "
            f"rewritten, run '{handler.command}', then 'azfeeds rewrite'"
        )


def check_lock(indexes: Sequence[Index], locks: Sequence[SourceFile], table: FeedTable) -> None:
    """Does uv.lock name each uv index exactly as the configuration writes it?"""
    by_dir = {lock.path.parent: lock for lock in locks}
    for index in indexes:
        if not index.is_uv:
            continue
        lock = _lock_for(index.site.path, by_dir)
        if lock is None:
            index.checks["uv.lock"] = "no uv.lock"
            continue
        if index.twin_of is not None:
            index.checks["uv.lock"] = f"twin of '{index.twin_of}' (uv.lock names the original)"
            continue
        strings = [s.azure for s in lock.sites if s.azure is not None]
        # uv writes no credentials into uv.lock: compare without the userinfo.
        mine_text = str(index.url.without_userinfo())
        if any(str(u.without_userinfo()) == mine_text for u in strings):
            index.checks["uv.lock"] = "agrees"
            continue
        mine = _feed_id(table, index.url) or ""
        same = [
            u
            for u in strings
            if u.org_key == index.url.org_key
            and ((mine and _feed_id(table, u) == mine) or _same_names(index, u))
        ]
        if same:
            index.checks["uv.lock"] = f"disagrees: it has {same[0].redacted}"
            index.problems.append(
                "uv.lock names this index in another form: 'uv sync --locked' fails"
            )
            index.fixes.append(f"azfeeds rewrite {index.site.path.as_posix()}  # or: uv lock")
            continue
        org = table.for_url(index.url)
        stale = [
            u
            for u in strings
            if org is not None
            and org.complete
            and u.org_key == index.url.org_key
            and _feed_id(table, u) is None
        ]
        if stale:
            index.checks["uv.lock"] = f"pins a feed that no longer exists: {stale[0].redacted}"
            index.problems.append("uv.lock pins files of a deleted or recreated feed")
            index.fixes.append("uv lock  # re-resolves the packages of that feed")
        else:
            index.checks["uv.lock"] = "not used by uv.lock"


def _feed_id(table: FeedTable, url: AzureUrl) -> str | None:
    org = table.for_url(url)
    feed = org.find_feed(url.feed_name) if org is not None else None
    return feed.id if feed is not None else None


def _same_names(index: Index, other: AzureUrl) -> bool:
    if other.is_uuid_form or index.names.feed is None:
        return False
    return other.feed_name.casefold() == index.names.feed.casefold()


def _lock_for(path: Path, by_dir: Mapping[Path, SourceFile]) -> SourceFile | None:
    """The uv.lock of the nearest directory above ``path`` that has one in the run (a workspace
    member's lock is the root's, wherever the run started)."""
    real = {Path(os.path.abspath(d)): lock for d, lock in by_dir.items()}
    directory = Path(os.path.abspath(path)).parent
    while True:
        if directory in real:
            return real[directory]
        if directory.parent == directory:
            return None
        directory = directory.parent


def check_table(indexes: Sequence[Index], table: FeedTable, failures: Mapping[str, str]) -> None:
    """UUIDs that exist nowhere, and organizations whose feeds API failed."""
    for index in indexes:
        failure = failures.get(str(index.url.org_key))
        if failure is not None:
            index.checks["feeds API"] = failure
            if index.uses_keyring:
                # uv asks the keyring; only azfeeds lacks a credential for the feeds API.
                index.notes.append(
                    "azfeeds could not read the feed table (it does not use the keyring for the "
                    "feeds API): set AZFEEDS_PAT, run 'azfeeds login' or 'az login', or pass --map"
                )
            else:
                index.problems.append(f"feeds API: {failure}")
            continue
        org = table.for_url(index.url)
        if org is None or not org.complete:
            continue
        feed = org.find_feed(index.url.feed_name)
        if feed is None:
            index.checks["feeds API"] = "feed not found"
            if org.credential:
                index.problems.append(
                    org.not_listed(index.url.feed_name) + " (deleted, recreated or renamed?)"
                )
            else:
                index.problems.append("the feed does not exist (deleted, recreated or renamed?)")
            index.fixes.append(f"azfeeds rewrite {index.site.path.as_posix()}")
        else:
            index.checks["feeds API"] = f"feed {feed.name} ({feed.id})"
        if org.api_version is not None:
            index.checks["API version"] = org.api_version


Probe = Callable[[str, str | None], tuple[int | None, float, str]]
KeyringAsk = Callable[[str, str], KeyringAnswer]


def check_probes(
    indexes: Sequence[Index],
    env: Mapping[str, str],
    probe: Probe,
    lookups: Mapping[int, Lookup] | None = None,
    ask_keyring: KeyringAsk | None = None,
) -> None:
    """GET each index page with the credential its client would send (placeholders expanded as
    the client expands them, its own variables and config read); status and latency. The URL
    goes without its userinfo: a placeholder's literal text is never sent.

    A uv keyring set-up with no credential of its own gets what ``keyring get <url> <user>``
    answers, asked as uv asks it (see keyring_probe).
    """
    from concurrent.futures import ThreadPoolExecutor

    lookups = lookups if lookups is not None else own_lookups(indexes, env)
    if ask_keyring is None:

        def ask_keyring(url: str, user: str) -> KeyringAnswer:
            return keyring_get(url, user, env)

    asked: dict[int, KeyringAnswer] = {}
    targets = [i for i in indexes if i.site.role is not Role.UV_PUBLISH]

    def one(index: Index) -> tuple[int | None, float, str]:
        lookup = lookups.get(id(index))
        found = lookup.found if lookup is not None else None
        password = found.password if found else None
        url = str(index.url.without_userinfo())
        user = index.keyring_user
        if not password and index.uses_keyring and user is not None:
            answer = ask_keyring(url, user)
            asked[id(index)] = answer
            password = answer.password
        return probe(url, password)

    workers = max(1, min(16, len(targets)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azfeeds-probe") as pool:
        results = list(pool.map(one, targets))
    for index, (status, ms, problem) in zip(targets, results, strict=True):
        answer = asked.get(id(index))
        if answer is not None:
            index.checks["keyring answer"] = "a password" if answer.password else answer.problem
        if status is None:
            index.checks["probe"] = f"unreachable: {problem}"
            index.problems.append(f"the index is unreachable: {problem}")
            continue
        index.checks["probe"] = f"HTTP {status} in {ms:.0f} ms"
        if status == 403:
            _permission_problem(index, env)
        elif status in (401, 203):
            if answer is not None and answer.password is None:
                index.problems.append(f"the index answered HTTP {status}: {answer.problem}")
                index.fixes.append(
                    "sign in once interactively (uv lock on a laptop), or set the "
                    "UV_INDEX_<NAME>_* variables (azfeeds env)"
                )
                continue
            lookup = lookups.get(id(index))
            ref = index.ref
            if answer is not None:
                var = f"the keyring's answer for user {index.keyring_user}"
            elif lookup is not None and lookup.found is not None:
                var = lookup.found.source
            elif ref is not None:  # the client has no credential for this index
                index.problems.append(f"the index answered HTTP {status} to no credential")
                index.fixes.append(f"set {where_to_set(ref)}: a PAT with Packaging (Read)")
                continue
            else:
                var = "the credential"
            index.problems.append(f"the index answered HTTP {status}: {var} is missing or rejected")
            index.fixes.append(f"check {var}: a PAT with Packaging (Read) that has not expired")
        elif status == 404 and "scope" in index.checks:
            continue  # check_project_scope said why, with the corrected URL
        elif status == 404:
            index.problems.append(
                "the index answered HTTP 404: no such feed (recreated or renamed?)"
            )
            index.fixes.append(f"azfeeds rewrite {index.site.path.as_posix()}")
        elif status >= 400:
            index.problems.append(f"the index answered HTTP {status}")


def _permission_problem(index: Index, env: Mapping[str, str]) -> None:
    """HTTP 403: the credential is valid, but its identity may not read the feed."""
    feed = str(index.names) if index.names.feed else index.url.feed_name
    index.problems.append(
        f"the index answered HTTP 403: the credential is accepted, but its identity has no read "
        f"permission on feed {feed} in {index.url.org} (not an expired PAT)"
    )
    if env.get("TF_BUILD"):
        project = env.get("SYSTEM_TEAMPROJECT") or "<project>"
        identity = f"{project} Build Service ({index.url.org})"
        index.fixes.append(
            f"in the feed's Settings > Permissions, add '{identity}' (the pipeline's build "
            "identity) as Feed Reader; for a project-scoped pipeline in another project, that "
            "project's build service"
        )
    else:
        index.fixes.append(
            f"in the feed's Settings > Permissions, give the PAT's user the Feed Reader role "
            f"on {feed}, and check the PAT has Packaging (Read)"
        )


def check_look_alikes(indexes: Sequence[Index]) -> None:
    """Hosts that spell Azure DevOps' name without being it."""
    for index in indexes:
        if index.url.look_alike:
            index.problems.append(look_alike_warning(index.url))
            index.fixes.append(f"check the URL in {index.site.location}")


def check_credentials_in_urls(indexes: Sequence[Index]) -> None:
    """A password written into an URL (a user name alone is a keyring hint, not a secret).

    With one organization the clients work with it; the harm is the leak.
    """
    from .kinds.base import credential_hint

    for index in indexes:
        if index.url.has_secret and index.keyring_user is None:
            index.problems.append(
                "the URL carries a password: it leaks into version control, CI logs and "
                f"error messages; keep it in {credential_hint(index.site)}"
            )
            fix = f"azfeeds rewrite --strip-credentials {index.site.path.as_posix()}"
            ref = index.ref
            if ref is not None:
                fix += f"; then set {where_to_set(without_userinfo(ref))}"
            index.fixes.append(fix)


def check_keyring_users(indexes: Sequence[Index]) -> None:
    """Two organizations on one host with the same keyring user name.

    uv keeps one keyring credential per host and user name, so the second organization is sent
    the first one's password: it fails now and then, whatever the URL form.
    """
    groups: dict[tuple[str, str], list[Index]] = defaultdict(list)
    for index in indexes:
        user = index.keyring_user
        if index.uses_keyring and user is not None:
            groups[(index.url.host, user)].append(index)
    for (host, user), group in groups.items():
        orgs = sorted({i.url.org for i in group}, key=str.casefold)
        if len({i.url.org_key for i in group}) < 2:
            continue
        for index in group:
            index.checks["keyring user"] = (
                f"{user} on {host} for {len(orgs)} organizations ({', '.join(orgs)})"
            )
            index.problems.append(
                f"uv keeps one keyring credential per host and user name: {', '.join(orgs)} all "
                f"use {user}@{host}, so one organization's password goes to the other and uv "
                "fails intermittently, in UUID form too"
            )
            if index.variables is not None:
                username, password = index.variables
                index.fixes.append(
                    f"set {username} and {password} (a PAT of {index.url.org}); they work "
                    "after 'azfeeds rewrite' (azfeeds env prints them)"
                )
            else:
                index.fixes.append(
                    "give the index a name in [[tool.uv.index]] and set its UV_INDEX_<NAME>_* "
                    "variables (azfeeds env prints them)"
                )
            index.fixes.append(
                f"or write a different user name per organization (e.g. {index.url.org}@{host})"
                " so that each has its own keyring credential"
            )


def check_publish(indexes: Sequence[Index]) -> None:
    """A publish-url must be the feed's /pypi/upload/ endpoint."""
    from .outside import publish_check

    for index in indexes:
        if index.site.role is Role.UV_PUBLISH:
            before = len(index.problems)
            publish_check(index.problems, index.fixes, index.url)
            if len(index.problems) == before:
                index.checks["publish"] = "an /pypi/upload/ endpoint"


def check_project_scope(indexes: Sequence[Index], table: FeedTable) -> None:
    """A project-scoped feed written without its project: the URL answers 404."""
    from .outside import scoped_fix

    for index in indexes:
        fixed = scoped_fix(index.url, table)
        if fixed is None:
            continue
        org = table.for_url(index.url)
        feed = org.find_feed(index.url.feed_name) if org is not None else None
        project = feed.project.name if feed is not None and feed.project is not None else "?"
        index.checks["scope"] = f"project-scoped feed (project {project}), URL without project"
        index.problems.append(
            f"feed {index.url.feed_name} belongs to project {project}, but the URL has no "
            "project segment: Azure answers 404, and azfeeds rewrite refuses the URL"
        )
        index.fixes.append(f"write the URL as {fixed.redacted}")


def environ() -> Mapping[str, str]:
    """The process environment (a seam for tests)."""
    return os.environ
