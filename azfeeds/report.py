"""Render results: human tables for people, one versioned JSON document for machines.

No decisions are taken here. Every string that reaches a stream goes through ``scrub`` first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .record import Record
from .secrets import scrub

if TYPE_CHECKING:
    from .doctor import DoctorReport
    from .inspect import Index
    from .outside import Finding
    from .urlvalue import Converted, VariableFinding

JSON_SCHEMA_VERSION = 1


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table (no colour, no box drawing), columns padded to width.

    Not scrubbed here: every text azfeeds prints goes through ``cli._out``, which scrubs it.
    """
    if not rows:
        return ""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"  # scrubbed where it is written (cli._out)


def _plain(value: Any, userinfo: bool = True) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, Record):
        return {name: _plain(getattr(value, name), userinfo) for name in value.fields}
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v, userinfo) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v, userinfo) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v, userinfo) for v in value]
    if isinstance(value, str):
        return scrub(value, userinfo=userinfo)
    return value


def envelope(
    command: str,
    exit_code: int,
    result: dict[str, Any] | None,
    *,
    warnings: Sequence[str] = (),
    error: dict[str, Any] | None = None,
    keep_userinfo: bool = False,
) -> str:
    """The JSON document every reporting command prints with ``--json``.

    ``keep_userinfo``: the result's URLs are known to hold no password (``azfeeds url``), so a
    user name alone is shown as written; known secrets are still masked."""
    if error is not None:
        status = "error"
    elif exit_code == 0:
        status = "ok"
    elif exit_code == 1 and command != "doctor":
        status = "changes"
    else:
        status = "problems"  # doctor's exit 1 means it found problems (README, JSON output)
    doc = {
        "schema_version": JSON_SCHEMA_VERSION,
        "azfeeds_version": __version__,
        "command": command,
        "status": status,
        "exit_code": exit_code,
        "result": _plain(result, not keep_userinfo) if result is not None else None,
        "warnings": [scrub(w) for w in warnings],
        "error": _plain(error) if error is not None else None,
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- doctor -----------------------------------------------------------------------------------


def _index_doc(index: Index) -> dict[str, Any]:
    return {
        "path": index.site.path,
        "line": index.site.line,
        "key": index.site.key,
        "index": index.site.index_name,
        "url": index.url.redacted,
        "organization": index.url.org,
        "project": index.names.project,
        "feed": index.names.feed,
        "view": index.names.view,
        "form": index.form,
        "twin_of": index.twin_of,
        "checks": index.checks,
        "problems": index.problems,
        "fixes": index.fixes,
        "notes": index.notes,
        "source": index.origin,
    }


def _finding_doc(finding: Finding) -> dict[str, Any]:
    return {
        "kind": finding.kind,
        "source": finding.source,
        "subject": finding.subject,
        "organization": finding.organization,
        "form": finding.form,
        "checks": finding.checks,
        "problems": finding.problems,
        "fixes": finding.fixes,
        "notes": finding.notes,
    }


def doctor_result(report: DoctorReport) -> dict[str, Any]:
    """The ``result`` of ``doctor --json``."""
    return {
        "indexes": [_index_doc(i) for i in report.indexes],
        "findings": [_finding_doc(f) for f in report.findings],
        "sources_read": report.read,
        "organizations": [
            {"name": o.name, "url": o.url, "api_version": o.api_version}
            for o in report.organizations
        ],
        "variables": report.variables,
        "problems": report.problems,
        "files_scanned": report.scanned,
    }


def _with_verdict(
    lines: list[str], notes: Sequence[str], problems: Sequence[str], fixes: Sequence[str]
) -> str:
    """A doctor section's closing lines: its notes, problems and fixes, then the verdict."""
    lines.extend(f"  note          {note}" for note in notes)
    lines.extend(f"  PROBLEM       {problem}" for problem in problems)
    lines.extend(f"  fix           {fix}" for fix in fixes)
    if not problems:
        lines.append("  verdict       ok")
    return "\n".join(lines) + "\n"


def _index_text(index: Index) -> str:
    source = f" ({index.names.source})" if index.form != "name" else ""
    twin = f" (twin of '{index.twin_of}')" if index.twin_of else ""
    lines = [
        f"{index.site.path.as_posix()}:{index.site.line}  {index.site.key}"
        + (f" {index.label}" if index.site.index_name else ""),
        f"  organization  {index.url.org}",
        f"  feed          {index.names}{source}",
        f"  URL form      {index.form}{twin}",
    ]
    if index.origin != "project":
        lines.insert(1, f"  source        {index.origin}")
    lines.extend(f"  {name:<13} {value}" for name, value in index.checks.items())
    return _with_verdict(lines, index.notes, index.problems, index.fixes)


_KINDS = {
    "endpoint-list": "credential provider endpoint",
    "netrc": "netrc entry",
    "pypirc": ".pypirc repository",
    "ci-file": "CI file (read-only)",
}


def _finding_text(finding: Finding) -> str:
    lines = [f"{finding.source}  {_KINDS.get(finding.kind, finding.kind)}"]
    lines.append(f"  {'host' if finding.kind == 'netrc' else 'URL':<13} {finding.subject}")
    if finding.organization:
        lines.append(f"  organization  {finding.organization}")
    if finding.form:
        lines.append(f"  URL form      {finding.form}")
    lines.extend(f"  {name:<13} {value}" for name, value in finding.checks.items())
    return _with_verdict(lines, finding.notes, finding.problems, finding.fixes)


def _variable_text(finding: VariableFinding) -> str:
    lines = [
        f"environment variable {finding.variable}",
        f"  value         {finding.value}",
        f"  URL form      {', '.join(finding.forms) or '?'}",
    ]
    return _with_verdict(lines, finding.notes, finding.problems, finding.fixes)


def doctor_text(report: DoctorReport) -> str:
    """The human report of ``doctor``."""
    parts = [_index_text(i) for i in report.indexes]
    parts.extend(_variable_text(v) for v in report.variables)
    parts.extend(_finding_text(f) for f in report.findings)
    if not parts:
        return "No Azure Artifacts index found.\n"
    return "\n".join(parts)


# -- url ----------------------------------------------------------------------------------------


def url_result(mode: str, results: Sequence[Converted]) -> dict[str, Any]:
    """The ``result`` of ``url --json``."""
    return {
        "mode": mode,
        "values": [
            {
                "source": r.source,
                "input": r.input,
                "output": r.output,
                "changed": r.changed,
                "urls": [
                    {
                        "name": u.name,
                        "input": u.input,
                        "output": u.output,
                        "organization": u.organization,
                        "form": u.form,
                        "changed": u.changed,
                    }
                    for u in r.urls
                ],
            }
            for r in results
        ],
        "changed": sum(1 for r in results if r.changed),
    }
