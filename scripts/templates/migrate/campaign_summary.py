#!/usr/bin/env python3
"""azfeeds migration campaign: per-repository reports, the campaign table, pull request text.

Standard library only (Python 3.10+); not an azfeeds command. It sits beside the migration
templates and is used by them:

    campaign_summary.py record ...        (multi-gitter-run.sh calls it: one report per repository)
    campaign_summary.py summary DIR       the campaign table: changed, unchanged, skipped, failed
    campaign_summary.py pr-body REPORT    a pull request description from one repository's report
    campaign_summary.py repos DIR         the repositories in one state (to roll back), one per line

A report is one JSON file per repository, written by `record` to
AZFEEDS_REPORT_DIR/<phase>/<repository>.json:

    {"schema": "azfeeds-campaign-report", "schema_version": 1, "repository": "org/app",
     "phase": "dry-run" | "apply" | "roll-back", "mode": "uuid" | "names", "dry_run": bool,
     "state": "changed" | "unchanged" | "skipped" | "failed", "exit_code": int,
     "reason": str | null, "azfeeds": <the document of `azfeeds rewrite --json`> | null}

`state`: changed = files were written (apply, roll-back) or would be (dry-run); unchanged =
nothing to do; skipped = nothing changed and either no package configuration was found or azfeeds
left sites alone (the reasons are listed); failed = azfeeds exited with an error and wrote
nothing (the exit code and azfeeds' one-line message are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SCHEMA = "azfeeds-campaign-report"
SCHEMA_VERSION = 1
STATES = ("changed", "unchanged", "skipped", "failed")
# azfeeds rewrite exit codes that mean "ran fine": 0, and 1 with --check (changes found).
CHECK_FOUND_CHANGES = 1
TITLES = {
    "uuid": "azfeeds: Azure Artifacts index URLs in UUID form",
    "names": "azfeeds: Azure Artifacts index URLs back in name form",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# -- reading and writing ----------------------------------------------------------------------


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plain(text: object, limit: int = 300) -> str:
    """One line of text, control and reordering characters escaped, cut at ``limit``."""
    out = _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", str(text)).strip()
    return out if len(out) <= limit else out[: limit - 1] + "…"


def _load_azfeeds(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("command") == "rewrite" else None


def load_reports(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every report in the given files and directory trees (sorted by phase and repository)."""
    reports: list[dict[str, Any]] = []
    for path in paths:
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        for file in files:
            try:
                doc = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SystemExit(
                    f"campaign_summary: {file}: not a readable report ({exc})"
                ) from None
            if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
                continue  # not one of ours (a stray file in the directory)
            if doc.get("schema_version") != SCHEMA_VERSION:
                raise SystemExit(
                    f"campaign_summary: {file}: report schema_version "
                    f"{doc.get('schema_version')!r}, this script reads {SCHEMA_VERSION}"
                )
            reports.append(doc)
    order = {"dry-run": 0, "apply": 1, "roll-back": 2}
    return sorted(
        reports, key=lambda r: (order.get(str(r.get("phase")), 3), str(r.get("repository")))
    )


# -- one repository ---------------------------------------------------------------------------


def _result(report: dict[str, Any]) -> dict[str, Any]:
    doc = report.get("azfeeds") or {}
    result = doc.get("result")
    return result if isinstance(result, dict) else {}


def _url_changes(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in result.get("changes", []) if c.get("action") != "lock"]


def _files(result: dict[str, Any]) -> list[str]:
    if result.get("written"):
        return [str(p) for p in result["written"]]
    return sorted({str(c.get("path")) for c in result.get("changes", [])})


def classify(
    azfeeds: dict[str, Any] | None, exit_code: int, dry_run: bool
) -> tuple[str, str | None]:
    """(state, reason) of one repository from azfeeds' exit code and JSON document."""
    ok_codes = {0, CHECK_FOUND_CHANGES} if dry_run else {0}
    result = (azfeeds or {}).get("result") if azfeeds else None
    if exit_code not in ok_codes or not isinstance(result, dict):
        error = (azfeeds or {}).get("error") or {}
        reason = error.get("message") if isinstance(error, dict) else None
        return "failed", _plain(reason) if reason else None
    if result.get("written") or (dry_run and exit_code == CHECK_FOUND_CHANGES):
        return "changed", None
    if result.get("files_scanned", 0) == 0:
        return "skipped", "no pyproject.toml, uv.toml, uv.lock, pip.conf or requirements file"
    skipped = result.get("skipped") or []
    if skipped:
        return "skipped", f"{len(skipped)} site(s) left alone: " + _plain(skipped[0].get("reason"))
    return "unchanged", None


def phase_of(mode: str, dry_run: bool) -> str:
    if dry_run:
        return "dry-run"
    return "roll-back" if mode == "names" else "apply"


def cmd_record(args: argparse.Namespace) -> int:
    """Write one repository's report; print one line; exit 0 (done), the changed code, or failure."""
    azfeeds = _load_azfeeds(args.azfeeds_json)
    state, reason = classify(azfeeds, args.exit_code, args.dry_run)
    if state == "failed" and reason is None:
        reason = (
            _last_line(args.stderr) or f"azfeeds printed no JSON report (exit {args.exit_code})"
        )
    if args.reason:  # the run script's own failure (bad settings): azfeeds did not run
        state, reason = "failed", _plain(args.reason)
    report = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "repository": args.repository,
        "phase": phase_of(args.mode, args.dry_run),
        "mode": args.mode,
        "dry_run": args.dry_run,
        "state": state,
        "exit_code": args.exit_code,
        "reason": reason,
        "azfeeds": azfeeds,
    }
    _atomic_write(args.report, json.dumps(report, indent=2, sort_keys=True) + "\n")
    result = _result(report)
    if args.written_list is not None:
        names = result.get("written", []) if state == "changed" and not args.dry_run else []
        args.written_list.write_bytes(b"".join(str(n).encode() + b"\0" for n in names))
    print(_one_line(report))
    if state == "failed":
        return args.exit_code if args.exit_code != 0 else 2
    return args.changed_exit_code if state == "changed" else 0


def _last_line(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln]
    except OSError:
        return None
    errors = [ln for ln in lines if "error" in ln.lower()]
    return _plain((errors or lines)[-1]) if lines else None


def _one_line(report: dict[str, Any]) -> str:
    result = _result(report)
    name, state = report["repository"], report["state"]
    if state == "failed":
        return f"{name}: failed (exit {report['exit_code']}): {report['reason']}"
    if state == "changed":
        verb = "would change" if report["dry_run"] else "changed"
        urls, files = len(_url_changes(result)), len(_files(result))
        return f"{name}: {verb}: {urls} URL(s) in {files} file(s)"
    if state == "skipped":
        return f"{name}: skipped: {report['reason']}"
    return f"{name}: unchanged"


# -- the campaign table -----------------------------------------------------------------------


def _cell(text: object) -> str:
    return _plain(text).replace("|", "\\|").replace("<", "&lt;")


def summary_rows(reports: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    rows = []
    for report in reports:
        result = _result(report)
        state = str(report.get("state"))
        changed = state == "changed"
        rows.append(
            {
                "repository": str(report.get("repository")),
                "state": f"failed (exit {report.get('exit_code')})" if state == "failed" else state,
                "files": str(len(_files(result))) if changed else "-",
                "urls": str(len(_url_changes(result))) if changed else "-",
                "detail": str(report.get("reason") or ""),
            }
        )
    return rows


def render_summary(reports: Sequence[dict[str, Any]], markdown: bool) -> str:
    if not reports:
        return "No campaign reports found.\n"
    out: list[str] = []
    phases: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for report in reports:
        phases.setdefault((str(report.get("phase")), str(report.get("mode"))), []).append(report)
    for (phase, mode), group in phases.items():
        counts = {s: sum(1 for r in group if r.get("state") == s) for s in STATES}
        head = f"{phase} (--mode {mode}): {len(group)} repositories: " + ", ".join(
            f"{counts[s]} {s}" for s in STATES
        )
        rows = summary_rows(group)
        columns = ("repository", "state", "files", "urls", "detail")
        if markdown:
            out += [f"### {head}", "", "| " + " | ".join(columns) + " |"]
            out.append("|" + " --- |" * len(columns))
            out += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in rows]
        else:
            widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns[:-1]}
            out.append(head)
            out.append("  ".join(c.upper().ljust(widths.get(c, 0)) for c in columns).rstrip())
            for row in rows:
                out.append(
                    "  ".join(
                        _plain(row[c], 1000).ljust(widths.get(c, 0)) for c in columns
                    ).rstrip()
                )
        sites = [
            (str(r.get("repository")), s) for r in group for s in _result(r).get("skipped", [])
        ]
        if sites:
            out += ["", "Sites left alone (fix by hand):" if not markdown else "Sites left alone:"]
            for repo, s in sites:
                where = f"{s.get('path')}:{s.get('line')} {s.get('key')}"
                line = f"{repo}  {where}: {s.get('reason')}"
                out.append(f"- {_cell(line)}" if markdown else f"  {_plain(line, 1000)}")
        out.append("")
    return "\n".join(out)


def cmd_summary(args: argparse.Namespace) -> int:
    reports = load_reports(args.paths)
    text = render_summary(reports, args.format == "markdown")
    if args.output:
        _atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    failed = any(r.get("state") == "failed" for r in reports)
    return 1 if failed and args.fail_on_failed else 0


def cmd_repos(args: argparse.Namespace) -> int:
    names = [
        str(report["repository"])
        for report in load_reports(args.paths)
        if report.get("state") in args.state and report.get("phase") == args.phase
    ]
    if args.format == "regex":
        # updatecli's azuredevopssearch `repository` pattern: the repository names only.
        last = sorted({re.escape(name.rsplit("/", 1)[-1]) for name in names})
        print(f"^({'|'.join(last)})$" if last else "^$")
    else:
        for name in names:
            print(name)
    return 0


# -- pull request text ------------------------------------------------------------------------


def pr_body(report: dict[str, Any], max_chars: int | None = None) -> str:
    """The pull request description for one repository (Markdown), cut to ``max_chars`` by
    leaving out table rows (Azure DevOps keeps 4,000 characters)."""
    text = _pr_body(report, None)
    rows = len(_url_changes(_result(report)))
    while max_chars is not None and len(text) > max_chars and rows > 0:
        rows -= 1
        text = _pr_body(report, rows)
    return text


def _pr_body(report: dict[str, Any], rows: int | None) -> str:
    result = _result(report)
    mode = str(report.get("mode") or result.get("mode") or "uuid")
    changes = _url_changes(result)
    lock_updates = [c for c in result.get("changes", []) if c.get("action") == "lock"]
    files = _files(result)
    version = (report.get("azfeeds") or {}).get("azfeeds_version", "?")
    lines = [f"## {TITLES.get(mode, TITLES['uuid'])}", ""]
    if mode == "names":
        lines.append(
            "Rolls the azfeeds migration back: the index URLs return to the readable "
            "project and feed names written beside them (`--mode names`, the original bytes)."
        )
    else:
        lines.append(
            "uv sends an index's credentials only to URLs under that index's URL, and Azure "
            "Artifacts serves files under project and feed UUIDs: in name form, downloads from a "
            "second organization on pkgs.dev.azure.com fail with 401. This pull request writes the "
            "index URLs in UUID form, with the readable name beside each one "
            "(`# azfeeds: Project/feed`)."
        )
    lines += [
        "",
        f"**{len(changes)} URL(s) in {len(files)} file(s)**, made by "
        f"`azfeeds rewrite --map map.json --offline --recursive"
        f"{' --mode names' if mode == 'names' else ''}` (azfeeds {_cell(version)}) "
        "from the campaign's one map file: no API call was made from this repository.",
        "",
        "| file | line | key | organization | feed (readable name) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in changes[:rows]:
        readable = c.get("new_form") if mode == "names" else c.get("old_form")
        lines.append(
            f"| {_cell(c.get('path'))} | {_cell(c.get('line'))} | {_cell(c.get('key'))} "
            f"| {_cell(c.get('organization'))} | {_cell(readable)} |"
        )
    if rows is not None and rows < len(changes):
        lines.append(
            f"| … | | | | {len(changes) - rows} more URL(s): see this repository's campaign report |"
        )
    if lock_updates:
        lock_files = sorted({str(c.get("path")) for c in lock_updates})
        lines += [
            "",
            f"{len(lock_updates)} index string(s) in {', '.join(map(_cell, lock_files))} follow the "
            "configuration, so `uv sync --locked` stays green without re-locking.",
        ]
    feeds = sorted(
        {
            (str(c.get("organization")), str(c.get("new_form" if mode == "names" else "old_form")))
            for c in changes
        }
    )
    if feeds:
        lines += ["", "Feeds: " + ", ".join(f"{_cell(o)} {_cell(f)}" for o, f in feeds) + "."]
    skipped = result.get("skipped") or []
    if skipped:
        lines += ["", "### Left alone (change these by hand)", ""]
        lines += ["| file | line | key | reason |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {_cell(s.get('path'))} | {_cell(s.get('line'))} | {_cell(s.get('key'))} "
            f"| {_cell(s.get('reason'))} |"
            for s in skipped
        ]
    actions = result.get("actions") or []
    if actions:
        lines += ["", "### Before merging", ""] + [f"- {_cell(a)}" for a in actions]
    if mode != "names":
        lines += [
            "",
            "To undo after merging: `azfeeds rewrite --mode names --recursive` restores the "
            "original bytes.",
        ]
    return "\n".join(lines) + "\n"


def cmd_pr_body(args: argparse.Namespace) -> int:
    reports = load_reports([args.report])
    if len(reports) != 1:
        raise SystemExit(f"campaign_summary: {args.report}: expected one report")
    report = reports[0]
    body = pr_body(report, args.max_chars)
    if args.commit_message:
        title = TITLES.get(str(report.get("mode")), TITLES["uuid"])
        body = f"{title}\n\n{body}"
    if args.output:
        _atomic_write(args.output, body)
    else:
        sys.stdout.write(body)
    return 0


# -- command line -----------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="campaign_summary.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    rec = sub.add_parser("record", help="write one repository's report (the run script calls it)")
    rec.add_argument("--repository", required=True)
    rec.add_argument("--mode", choices=("uuid", "names"), required=True)
    rec.add_argument("--dry-run", action="store_true")
    rec.add_argument("--exit-code", type=int, required=True, help="azfeeds' exit code")
    rec.add_argument("--azfeeds-json", type=Path, help="azfeeds' --json output")
    rec.add_argument("--stderr", type=Path, help="azfeeds' standard error")
    rec.add_argument("--reason", help="the run script's own failure (azfeeds did not run)")
    rec.add_argument("--report", type=Path, required=True, help="the report file to write")
    rec.add_argument("--written-list", type=Path, help="write the files changed, NUL-separated")
    rec.add_argument(
        "--changed-exit-code",
        type=int,
        default=0,
        help="exit code when files changed or would change (0; updatecli's exitcode kind: 10)",
    )
    rec.set_defaults(func=cmd_record)

    summ = sub.add_parser("summary", help="the campaign table from a directory of reports")
    summ.add_argument("paths", nargs="+", type=Path, metavar="DIR_OR_REPORT")
    summ.add_argument("--format", choices=("text", "markdown"), default="text")
    summ.add_argument("--output", type=Path, help="write the table here instead of stdout")
    summ.add_argument(
        "--fail-on-failed", action="store_true", help="exit 1 when a repository failed"
    )
    summ.set_defaults(func=cmd_summary)

    body = sub.add_parser("pr-body", help="a pull request description from one report")
    body.add_argument("report", type=Path)
    body.add_argument(
        "--commit-message", action="store_true", help="title line, blank line, then the body"
    )
    body.add_argument("--output", type=Path)
    body.add_argument("--max-chars", type=int, help="leave out table rows to fit (Azure: 4000)")
    body.set_defaults(func=cmd_pr_body)

    repos = sub.add_parser("repos", help="the repositories in a state, one per line")
    repos.add_argument("paths", nargs="+", type=Path, metavar="DIR_OR_REPORT")
    repos.add_argument(
        "--phase", choices=("dry-run", "apply", "roll-back"), default="apply", help="(apply)"
    )
    repos.add_argument(
        "--format", choices=("lines", "regex"), default="lines", help="regex: for updatecli"
    )
    repos.add_argument(
        "--state", action="append", choices=STATES, help="repeatable (default: changed)"
    )
    repos.set_defaults(func=cmd_repos)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "state", None) is None and args.command == "repos":
        args.state = ["changed"]
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
