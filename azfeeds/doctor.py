"""``azfeeds doctor``: explain why a uv setup will get 401s, and the command that fixes it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .engine import OrgRequest, load_workspace, org_requests
from .inspect import (
    Index,
    Probe,
    check_client_credentials,
    check_credentials_in_urls,
    check_hosts,
    check_lock,
    check_look_alikes,
    check_probes,
    check_table,
    check_variables,
    collect,
    own_lookups,
)
from .kinds.base import FileKind
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

    @property
    def problems(self) -> int:
        """How many problems were found."""
        return sum(len(i.problems) for i in self.indexes) + sum(
            len(v.problems) for v in self.variables
        )


def diagnose(
    paths: Sequence[Path],
    *,
    recursive: bool,
    env: Mapping[str, str],
    map_files: Sequence[Path] = (),
    provider: PartialProvider | None = None,
    probe: Probe | None = None,
) -> DoctorReport:
    """Run every check. Without a provider and a probe (--offline), only the local ones."""
    map_table = load_maps(map_files)
    pinned = map_table.pinned_bases() if map_table else ()
    ws = load_workspace(paths, recursive=recursive, lock=True, pinned=pinned)
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
        table, failures = provider(org_requests(everything))
        answered = table.sorted_orgs()
        table = table.merged_with(table_from_annotations(everything))
    else:
        table = table_from_annotations(everything)
    indexes = collect(configs, table)
    lookups = own_lookups(indexes, env)
    check_variables(indexes, env)
    check_client_credentials(indexes, env, lookups)
    check_hosts(indexes, env)
    check_lock(indexes, locks, table)
    check_credentials_in_urls(indexes)
    check_look_alikes(indexes)
    if provider is not None or map_table is not None:
        check_table(indexes, table, failures)
    if probe is not None:
        check_probes(indexes, env, probe, lookups)
    for index in indexes:
        index.fixes[:] = list(dict.fromkeys(index.fixes))
    return DoctorReport(indexes, ws.scanned, ws.warnings, answered, _index_variables(indexes, env))


def _index_variables(indexes: Sequence[Index], env: Mapping[str, str]) -> list[VariableFinding]:
    """The index variables set in the environment that hold Azure URLs (UV_INDEX...), judged
    with the hosts of the project's uv indexes (several organizations on one host: 401 risk)."""
    hosts: dict[str, set[str]] = {}
    for index in indexes:
        if index.is_uv:
            host = index.url.hostport.rsplit("@", 1)[-1].lower()
            hosts.setdefault(host, set()).add(str(index.url.org_key))
    return check_index_variables(env, hosts)
