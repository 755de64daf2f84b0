"""The library API: the engine without the command line.

    import azfeeds

    workspace = azfeeds.load(["."], recursive=True)
    table = azfeeds.table_from_map("feeds.json")      # or azfeeds.table_from_api(workspace)
    rewrite = azfeeds.plan(workspace, table)          # decides everything, writes nothing
    print(rewrite.diff())
    for change in rewrite.changes:
        print(change.path, change.line, change.old_form, "->", change.new_form)
    rewrite.apply()                                    # all files or none, atomically

Errors are ``azfeeds.AzfeedsError`` subclasses carrying the CLI's exit codes. Nothing here prints,
exits, or reads the command line; credentials come from the environment, as for the CLI.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .engine import (
    OrgRequest,
    RewriteOptions,
    Workspace,
    load_workspace,
    merge_requests,
    new_texts,
    org_requests,
    plan_options,
    render_diff,
    write,
)
from .errors import AzfeedsError
from .planner import Change, Mode, Plan, Planner, Skipped, TwinVariables, table_from_annotations
from .table import FeedTable, load_map, load_maps

PathLike = str | os.PathLike[str]


def load(
    paths: Iterable[PathLike] = (".",), *, recursive: bool = False, lock: bool = True
) -> Workspace:
    """Find and scan the files azfeeds handles under ``paths`` (files or directories)."""
    return load_workspace([Path(p) for p in paths], recursive=recursive, lock=lock)


def table_from_map(path: PathLike, *more: PathLike) -> FeedTable:
    """The name<->UUID table saved in a map file (``azfeeds map --output``); several files are
    merged, and an organization they disagree on raises ``FileError`` naming both."""
    if not more:
        return load_map(Path(path))
    merged = load_maps([Path(p) for p in (path, *more)])
    assert merged is not None
    return merged


def table_from_api(
    workspace: Workspace | None = None,
    *,
    orgs: Sequence[str] = (),
    auth: str = "auto",
    pat_file: PathLike | None = None,
    api_url: str | None = None,
    timeout: float = 30.0,
    views: bool = False,
    api_version: str | None = None,
) -> FeedTable:
    """The table from the feeds API: the organizations of ``workspace``'s URLs and ``orgs``
    (names, or Azure DevOps Server collection URLs). One request per organization, in parallel,
    with the credentials of the environment (the order of the README's Credentials section).
    ``api_version`` pins the feeds API version (default: negotiated per server, from 7.1)."""
    from .client import ClientSettings, HttpFeedsApi, new_session
    from .credentials import AuthSettings, Broker
    from .resolve import LiveSettings, live_table, org_request_from_option

    given = [org_request_from_option(o) for o in orgs]
    found: list[OrgRequest] = []
    if workspace is not None:
        found = org_requests([*workspace.sources, *workspace.context])
    requests = merge_requests([*given, *found])
    api = HttpFeedsApi(ClientSettings(timeout=timeout))
    broker = Broker(
        AuthSettings(method=auth, pat_file=os.fspath(pat_file) if pat_file is not None else None),
        discover_tenant=api.discover_tenant,
        session_factory=new_session,
    )
    explicit = tuple(r.url.org_base_url for r in given if not r.url.is_cloud)
    if api_version is not None:
        from .apiversion import check_version

        api_version = check_version(api_version)
    settings = LiveSettings(
        api_url=api_url, explicit_bases=explicit, all_views=views, api_version=api_version
    )
    return live_table(requests, settings, api, broker)


@dataclass
class Rewrite:
    """A planned rewrite: every change decided and checked, nothing written yet."""

    result: Plan
    _texts: dict[int, str] = field(repr=False)
    applied: list[Path] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        """What changes, file by file and line by line (URLs redacted)."""
        return list(self.result.changes)

    @property
    def skipped(self) -> list[Skipped]:
        """URLs left alone, with the reason."""
        return list(self.result.skipped)

    @property
    def warnings(self) -> list[str]:
        """Warnings (credentials in URLs, renamed projects...)."""
        return list(self.result.warnings)

    @property
    def variables(self) -> list[TwinVariables]:
        """The credential variables of twins (``mode="add"``)."""
        return list(self.result.variables)

    @property
    def actions(self) -> list[str]:
        """What to run next (``uv lock`` after a recreated feed)."""
        return list(self.result.actions)

    @property
    def files(self) -> list[Path]:
        """The files that change."""
        return [fp.source.path for fp in self.result.changed_files]

    @property
    def changed(self) -> bool:
        """True when a file would change."""
        return bool(self.result.changed_files)

    def diff(self) -> str:
        """A unified diff of every file that changes (credentials in URLs redacted)."""
        return render_diff(self.result.changed_files, self._texts)

    def apply(self) -> list[Path]:
        """Write every changed file, all or nothing; the paths written. Refuses to run twice."""
        if self.applied:
            raise AzfeedsError("this rewrite was applied already: plan it again")
        if self.changed:
            self.applied = write(self.result, self._texts)
        return list(self.applied)


def plan(
    workspace: Workspace,
    table: FeedTable | None = None,
    *,
    mode: str | Mode = "uuid",
    strip_credentials: bool = False,
    lock: bool = True,
) -> Rewrite:
    """Decide every change (``uuid``, ``add`` or ``names`` mode) against ``table``.

    Without a table, only the readable names written beside UUID URLs are known (offline).
    Raises FeedLookupError (nothing written) when a URL cannot be resolved.
    """
    options = RewriteOptions(mode=Mode(mode), strip_credentials=strip_credentials, lock=lock)
    everything = [*workspace.sources, *workspace.context, *workspace.bystanders]
    known = (table or FeedTable()).merged_with(table_from_annotations(everything))
    planner = Planner(known, plan_options(options, with_map=True))
    result = planner.run(
        workspace.sources, workspace.context, workspace.unread_locks, workspace.bystanders
    )
    return Rewrite(result, new_texts(result, known.pinned_bases()))


def apply(rewrite: Rewrite) -> list[Path]:
    """Write a planned rewrite (``rewrite.apply()``)."""
    return rewrite.apply()
