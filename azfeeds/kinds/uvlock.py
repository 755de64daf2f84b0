"""uv.lock: the ``registry`` and ``index`` strings of its packages. It has no readable names: it
follows the configuration's decisions (``follow_up``). A multi-megabyte lock is searched, not
parsed, until one of its strings may have to change."""

from __future__ import annotations

import re
from collections import defaultdict

from ..tomlscan import KeyPath, TomlSyntaxError, scan_toml
from ..urls import AzureUrl, UrlError, parse_azure_url, redact_text
from .base import (
    Action,
    Change,
    Edit,
    FileKind,
    FilePlan,
    Kind,
    LockInputs,
    LockPlan,
    Role,
    Site,
    SourceFile,
    ValueEdit,
    bug,
)
from .tomlsites import scan_sites

_LOCK_URL_RE = re.compile(r"""(registry|index)\s*=\s*(["'])([^"'\n]*?/_packaging/[^"'\n]*?)\2""")


def _role_of(path: KeyPath) -> Role | None:
    if len(path) >= 2 and path[-2:] == ("source", "registry"):
        return Role.LOCK_REGISTRY
    if path and path[0] == "package" and path[-1] == "index" and "metadata" in path:
        return Role.LOCK_INDEX
    return None


def _keep(path: KeyPath, value: str) -> bool:
    return (len(path) == 3 and path[2] == "name") or "_packaging" in value.lower()


def lock_url_spans(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, key, url) of each quoted URL at a ``registry`` or ``index`` key.

    A search, not a parse: it visits only the lines that hold ``/_packaging/`` (found by
    ``str.find``), which keeps a multi-megabyte lock cheap.
    """
    out: list[tuple[int, int, str, str]] = []
    at = text.find("/_packaging/")
    while at >= 0:
        line_start = text.rfind("\n", 0, at) + 1
        line_end = text.find("\n", at)
        line_end = len(text) if line_end < 0 else line_end
        out.extend(
            (m.start(3), m.end(3), m.group(1), m.group(3))
            for m in _LOCK_URL_RE.finditer(text, line_start, line_end)
        )
        at = text.find("/_packaging/", line_end)
    return out


class UvLock(Kind):
    """uv.lock."""

    kind = FileKind.UV_LOCK
    is_lock = True
    toml_values = True
    annotates = False

    def scan(self, source: SourceFile, pinned: tuple[str, ...]) -> None:
        scan_sites(source, pinned, _role_of, _keep, tables=False, annotated=False)

    def lock_urls(self, source: SourceFile) -> list[str]:
        return [span[3] for span in lock_url_spans(source.text)]

    def verify(self, fp: FilePlan, new: str, pinned: tuple[str, ...]) -> None:
        def keep(path: tuple[str | int, ...], value: str) -> bool:
            return "_packaging" in value.lower()

        scan = fp.source.toml
        assert scan is not None  # a lock with edits was scanned when planned
        try:
            after = scan_toml(new, keep, tables=False, duplicates=False).strings
        except TomlSyntaxError as exc:
            raise bug(fp, f"the rewritten lock does not scan ({exc.message})") from None
        edits = {v.path: v.value for v in fp.value_edits}
        expected = [
            (s.path, edits.get(s.path, s.value)) for s in scan.strings if keep(s.path, s.value)
        ]
        if expected != [(s.path, s.value) for s in after]:
            raise bug(fp, "the rewritten lock differs in more than the planned strings")

    def follow_up(self, lock: SourceFile, inputs: LockInputs) -> LockPlan:
        out = LockPlan(FilePlan(lock))
        fp = out.file
        mapping, recreated, config_urls = inputs.mapping, inputs.recreated, inputs.config_urls
        if not lock.scanned:
            pending = set(mapping) | set(recreated)
            spans = lock_url_spans(lock.text)
            quick = {span[3] for span in spans}
            if all(u in config_urls and u not in pending for u in quick):
                return out  # every registry string is already right: no parse needed
            if inputs.quick and all(u in config_urls or u in mapping for u in quick):
                return _quick(out, mapping, spans)
            lock.ensure_scanned()
        stale: dict[str, list[str]] = defaultdict(list)
        for site in lock.sites:
            if site.azure is None:
                continue
            target = mapping.get(site.url)
            if target is None and site.url in recreated:
                if site.role is Role.LOCK_REGISTRY:
                    stale[site.url].append(_package(lock, site))
                continue
            if target is None and site.url not in config_urls:
                target = inputs.sync_target(site)
            if target is None or target == site.url:
                continue
            fp.edits.append(Edit(site.start, site.end, target))
            fp.value_edits.append(ValueEdit(site.keypath, target))
            fp.url_changes[site.url] = target
            new = _parse(target)
            out.changes.append(
                Change(
                    site.path,
                    site.line,
                    site.key,
                    Action.LOCK,
                    site.azure.redacted,
                    new.redacted if new else target,
                    site.azure.readable,
                    new.readable if new else "?",
                    site.azure.org,
                    None,
                )
            )
        for old, packages in stale.items():
            names = ", ".join(sorted({p for p in packages if p}))
            out.actions.append(
                f"{lock.path}: the lock still pins files of the deleted feed "
                f"({redact_text(old)}); run 'uv lock' to re-resolve {names or 'its packages'}"
            )
        return out


def _quick(
    out: LockPlan, mapping: dict[str, str], spans: list[tuple[int, int, str, str]]
) -> LockPlan:
    """--check without output of the new text: the lock's changes from a search, no parse.

    Used only when every Azure string in the lock is either right or a plain rename of a
    configuration URL; anything subtler (repairs, recreated feeds) takes the full scan.
    """
    fp = out.file
    lock = fp.source
    line, at = 1, 0
    for start, end, key, url in spans:
        target = mapping.get(url)
        if target is None:
            continue
        line += lock.text.count("\n", at, start)
        at = start
        fp.edits.append(Edit(start, end, target))
        old, new = _parse(url), _parse(target)
        out.changes.append(
            Change(
                lock.path,
                line,
                key,
                Action.LOCK,
                old.redacted if old else redact_text(url),
                new.redacted if new else redact_text(target),
                old.readable if old else "?",
                new.readable if new else "?",
                old.org if old else "",
                None,
            )
        )
    return out


def _parse(url: str) -> AzureUrl | None:
    try:
        return parse_azure_url(url)
    except UrlError:
        return None


def _package(lock: SourceFile, site: Site) -> str:
    scan = lock.toml
    path = site.keypath
    if scan is None or len(path) < 2 or path[0] != "package":
        return ""
    return next((s.value for s in scan.strings if s.path == (*path[:2], "name")), "")


KIND = UvLock()
