"""``azfeeds doctor``: explain why a uv setup will get 401s, and the command that fixes it."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .engine import OrgRequest, load_workspace, merge_requests, org_requests
from .errors import AzfeedsError, FileError
from .inspect import (
    Index,
    KeyringAsk,
    Probe,
    check_client_credentials,
    check_client_locks,
    check_credentials_in_urls,
    check_hosts,
    check_keyring_users,
    check_lock,
    check_look_alikes,
    check_probes,
    check_project_scope,
    check_publish,
    check_table,
    check_variables,
    collect,
    own_lookups,
)
from .keyring_probe import provider_for
from .kinds.base import FileKind, Role, SourceFile
from .outside import Finding
from .planner import table_from_annotations
from .table import FeedTable, Organization, load_maps
from .urlvalue import VariableFinding, check_index_variables

PartialProvider = Callable[[Sequence[OrgRequest]], tuple[FeedTable, dict[str, str]]]


@dataclass
class DoctorReport:
    """Every Azure index with its checks, problems and fixes."""

    indexes: list[Index]
    scanned: int
    warnings: list[str]
    # the organizations the feeds API (or the map file) answered for, with the API version used
    organizations: list[Organization] = field(default_factory=list)
    variables: list[VariableFinding] = field(default_factory=list)  # UV_INDEX... in the env
    findings: list[Finding] = field(default_factory=list)  # other sources outside the config files
    read: list[str] = field(default_factory=list)  # the outside sources that were read

    @property
    def problems(self) -> int:
        """How many problems were found."""
        return (
            sum(len(i.problems) for i in self.indexes)
            + sum(len(v.problems) for v in self.variables)
            + sum(len(f.problems) for f in self.findings)
        )


def diagnose(
    paths: Sequence[Path],
    *,
    recursive: bool,
    env: Mapping[str, str],
    map_files: Sequence[Path] = (),
    provider: PartialProvider | None = None,
    probe: Probe | None = None,
    ask_keyring: KeyringAsk | None = None,
    outside: bool = True,
    url_command: bool = False,
) -> DoctorReport:
    """Run every check. Without a provider and a probe (--offline), only the local ones.

    With ``outside``, also what the clients read beyond the project: user and system config
    files, the index and endpoint-list variables, netrc, ~/.pypirc and the CI files.
    """
    from .userconfig import config_files, shown

    map_table = load_maps(map_files)
    pinned = map_table.pinned_bases() if map_table else ()
    ws = load_workspace(paths, recursive=recursive, lock=True, pinned=pinned)
    read: list[str] = []
    origins: dict[str, str] = {}
    outside_files = config_files(env) if outside else []
    known = {_key(s.path) for s in ws.sources}
    for item in outside_files:
        where = shown(item.path, env)
        read.append(f"{item.label} {where}")
        if _key(item.path) in known:
            continue
        try:
            source = _load_outside(item.path, item.kind, pinned)
        except AzfeedsError as exc:
            ws.warnings.append(f"{where}: not read: {exc}")
            continue
        ws.scanned += 1
        known.add(_key(item.path))
        if source is not None:
            origins[_key(source.path)] = f"{item.label} ({where})"
            ws.sources.append(source)
    everything = [*ws.sources, *ws.context]
    configs = [s for s in ws.sources if s.kind is not FileKind.UV_LOCK]
    locks = [s for s in ws.sources if s.kind is FileKind.UV_LOCK]
    for lock in locks:
        lock.ensure_scanned()
    failures: dict[str, str] = {}
    answered: list[Organization] = []
    if map_table is not None:
        answered = map_table.sorted_orgs()
        table = map_table.merged_with(table_from_annotations(everything))
    elif provider is not None:
        requests = org_requests(everything)
        if outside:
            requests = merge_requests([*requests, *_outside_requests(paths, env, recursive)])
        table, failures = provider(requests)
        answered = table.sorted_orgs()
        table = table.merged_with(table_from_annotations(everything))
    else:
        table = table_from_annotations(everything)
    indexes = collect(configs, table)
    if map_table is not None:  # as rewrite would stop (exit 5) on an organization no map lists
        for index in indexes:
            url = index.url
            if map_table.for_url(url) is None and not url.look_alike:
                org = url.org if url.is_cloud else url.org_base_url
                failures.setdefault(
                    str(url.org_key),
                    f"organization '{url.org}' is in no map file given; 'azfeeds map --org {org} "
                    "--output FILE' adds it to FILE and keeps the organizations already there",
                )
    for index in indexes:
        index.origin = origins.get(_key(index.site.path), "project")
        if index.is_uv:
            index.provider = provider_for(index.site.path, env)
    lookups = own_lookups(indexes, env)
    check_variables(indexes, env)
    check_client_credentials(indexes, env, lookups)
    check_hosts(indexes, env)
    check_keyring_users(indexes)
    check_lock(indexes, locks, table)
    check_client_locks(indexes, ws.sources, ws.unread_locks)
    check_credentials_in_urls(indexes)
    check_look_alikes(indexes)
    check_publish(indexes)
    if provider is not None or map_table is not None:
        check_table(indexes, table, failures)
        check_project_scope(indexes, table)
    if probe is not None:
        check_probes(indexes, env, probe, lookups, ask_keyring)
    for index in indexes:
        index.fixes[:] = list(dict.fromkeys(index.fixes))
    findings: list[Finding] = []
    if outside:
        findings = _outside_findings(paths, indexes, env, table, url_command, read, recursive)
    for finding in findings:
        finding.fixes[:] = list(dict.fromkeys(finding.fixes))
    return DoctorReport(
        indexes,
        ws.scanned,
        ws.warnings,
        answered,
        _index_variables(indexes, env),
        findings,
        read,
    )


def _load_outside(path: Path, kind: FileKind, pinned: tuple[str, ...]) -> SourceFile | None:
    """Scan a config file outside the project as its client reads it, whatever its name."""
    from .fsio import Snapshot, has_nul, read_bytes
    from .kinds import load_source
    from .kinds.base import may_hold_azure

    real, data, mode = read_bytes(str(path), resolve=True)
    if not may_hold_azure(data):
        return None
    if has_nul(data) or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FileError("is not UTF-8 text", path=path)
    return load_source(Snapshot(path, Path(real), data, mode), kind, pinned)


def _key(path: Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def _outside_requests(
    paths: Sequence[Path], env: Mapping[str, str], recursive: bool
) -> list[OrgRequest]:
    """The organizations named only outside the config files (variables, CI files), so that
    the feed table can give their replacement URLs too. A ``name=`` before an URL (``UV_INDEX``)
    is a uv index name, whose UV_INDEX_<NAME>_* credential the feeds API may then use."""
    from . import ciscan
    from .clientcreds import UV, IndexRef
    from .outside import variable_urls
    from .urls import is_uuid

    urls = [(name, url, "an index variable") for name, url in variable_urls(env)]
    for root in (p for p in (paths or [Path(".")]) if p.is_dir()):
        for path in ciscan.ci_files(root, recursive):
            urls.extend(
                (item.index_name, item.url, f"{path.as_posix()}:{item.line}")
                for item in ciscan.scan_file(path, root)
            )
    return [
        OrgRequest(
            url.org_key,
            url.org,
            url,
            frozenset({url.feed_name.casefold()}) if url.view is not None else frozenset(),
            (IndexRef(UV, name, str(url), where, ".", False),) if name else (),
            frozenset() if is_uuid(url.feed) else frozenset({url.feed_name}),
        )
        for name, url, where in urls
    ]


def _covered_hosts(indexes: Sequence[Index], env: Mapping[str, str]) -> set[str]:
    """Hosts where every index carries its own credential (its variables, or an URL password)."""
    hosts: dict[str, bool] = {}
    for index in indexes:
        if index.site.role is Role.UV_PUBLISH:
            continue
        # The keyring does not count: uv and pip read netrc before they ask the keyring.
        own = bool(index.variables and all(env.get(v) for v in index.variables))
        if index.url.has_secret and index.keyring_user is None:
            own = True
        hosts[index.url.host] = hosts.get(index.url.host, True) and own
    return {host for host, own in hosts.items() if own}


def _outside_findings(
    paths: Sequence[Path],
    indexes: Sequence[Index],
    env: Mapping[str, str],
    table: FeedTable,
    url_command: bool,
    read: list[str],
    recursive: bool,
) -> list[Finding]:
    from . import ciscan
    from .outside import (
        ENDPOINT_VARIABLES,
        endpoint_lists,
        netrc_findings,
        netrc_path,
        pypirc_findings,
        pypirc_path,
        variable_urls,
    )
    from .urlvalue import INDEX_VARIABLES
    from .userconfig import shown

    orgs_by_host: dict[str, set[str]] = defaultdict(set)
    for index in indexes:
        orgs_by_host[index.url.host].add(index.url.org)
    for name in INDEX_VARIABLES:
        for _index, url in variable_urls({name: env.get(name, "")}):
            orgs_by_host[url.host].add(url.org)
    # the index variables themselves are reported by _index_variables (DoctorReport.variables)
    out: list[Finding] = []
    read.extend(f"variable {n}" for n in (*INDEX_VARIABLES, *ENDPOINT_VARIABLES) if env.get(n))
    uuid_orgs = {i.url.org_key.name for i in indexes if i.form == "uuid"}
    out.extend(endpoint_lists(env, uuid_orgs, table))
    netrc = netrc_path(env)
    if netrc is not None and netrc.is_file():
        read.append(f"netrc {shown(netrc, env)}")
    out.extend(netrc_findings(env, orgs_by_host, _covered_hosts(indexes, env)))
    pypirc = pypirc_path(env)
    if pypirc.is_file():
        read.append(f".pypirc {shown(pypirc, env)}")
    out.extend(pypirc_findings(env))
    roots = [p for p in (paths or [Path(".")]) if p.is_dir()]
    ci = ciscan.findings(roots, orgs_by_host, table, url_command=url_command, recursive=recursive)
    read.extend(dict.fromkeys(f"CI file {f.source.rsplit(':', 1)[0]}" for f in ci))
    out.extend(ci)
    return out


def _index_variables(indexes: Sequence[Index], env: Mapping[str, str]) -> list[VariableFinding]:
    """The index variables set in the environment that hold Azure URLs (UV_INDEX...), judged
    with the hosts of the project's uv indexes (several organizations on one host: 401 risk)."""
    hosts: dict[str, set[str]] = {}
    for index in indexes:
        if index.is_uv:
            host = index.url.hostport.rsplit("@", 1)[-1].lower()
            hosts.setdefault(host, set()).add(str(index.url.org_key))
    return check_index_variables(env, hosts)
