"""What the TOML kinds share: sites found by key path, and the inline readable name.

``scan_sites`` scans a TOML file (``tomlscan``, no third-party parser) and makes a site of every
string whose key path the kind gives a role. ``TomlConfig`` is the common part of pyproject.toml
and uv.toml: trailing-comment readable names, twin ``[[index]]`` entries for ``--mode add``, and
the tomlkit check of the new text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..errors import FileError
from ..tomlscan import KeyPath, TableInfo, TomlScan, TomlString, TomlSyntaxError, scan_toml
from .base import (
    TWIN_MARKER,
    Annotation,
    Edit,
    FilePlan,
    Kind,
    Role,
    Site,
    SourceFile,
    Twin,
    TwinSpan,
    annotation_start,
    azure_or_problem,
    entries,
    format_annotation,
)

_ANNOT_IN_COMMENT_RE = re.compile(r"#[ \t]*azfeeds:[ \t]*([^#\r\n]*?)[ \t]*\Z")

RoleOf = Callable[[KeyPath], "Role | None"]
Keep = Callable[[KeyPath, str], bool]


def toml_key(path: KeyPath) -> str:
    """The human key of a key path: ``tool.uv.index[0].url``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def keep_config(path: KeyPath, value: str) -> bool:
    """The strings a configuration scan keeps: names, and anything that may be Azure."""
    return bool(path) and (path[-1] == "name" or "_packaging" in value.lower())


def scan_sites(
    source: SourceFile,
    pinned: tuple[str, ...],
    role_of: RoleOf,
    keep: Keep,
    *,
    tables: bool,
    annotated: bool,
) -> None:
    """Scan a TOML file into sites (and, when ``annotated``, the readable names beside them)."""
    try:
        scan = scan_toml(source.text, keep, tables=tables)
    except TomlSyntaxError as exc:
        raise FileError(
            f"is not valid TOML: {exc.message} (column {exc.column})",
            path=source.path,
            line=exc.line,
            hint="fix the TOML syntax, then run azfeeds again",
        ) from None
    source.toml = scan
    names: dict[KeyPath, str] = {}
    for s in scan.strings:
        if s.path[-1] == "name":
            names[s.path[:-1]] = s.value
    for s in scan.strings:
        role = role_of(s.path)
        if role is None:
            continue
        azure, problem, is_azure = azure_or_problem(s.value, pinned)
        if not is_azure:
            continue
        problem = problem or _token_problem(source.text, s)
        entry = (
            s.path[:-1] if role in (Role.UV_INDEX, Role.UV_PUBLISH, Role.POETRY, Role.PDM) else None
        )
        source.sites.append(
            Site(
                path=source.path,
                kind=source.kind,
                role=role,
                key=toml_key(s.path),
                line=s.line,
                start=s.content_start,
                end=s.content_end,
                url=s.value,
                azure=azure,
                problem=problem,
                index_name=names.get(entry) if entry is not None else None,
                entry=entry,
                keypath=s.path,
            )
        )
    if annotated:
        for line in {site.line for site in source.sites}:
            ann = _inline_annotation(source, scan, line)
            if ann is not None:
                source.annotations[line] = ann


def _token_problem(text: str, s: TomlString) -> str | None:
    if len(s.quote) == 3:
        return "the URL is a multi-line string; rewrite it by hand"
    if text[s.content_start : s.content_end] != s.value:
        return "the URL string uses escape sequences; rewrite it by hand"
    return None


def _inline_annotation(source: SourceFile, scan: TomlScan, line: int) -> Annotation | None:
    span = scan.comments.get(line)
    if span is None:
        return None
    comment = source.text[span[0] : span[1]]
    m = _ANNOT_IN_COMMENT_RE.search(comment)
    if m is None or m.group(1).startswith("twin of"):
        return None
    hash_at = span[0] + m.start()
    return Annotation(line, annotation_start(source.text, hash_at), span[1], entries(m.group(1)))


def uv_role(path: KeyPath) -> Role | None:
    """The role of a string in uv's own settings (``[tool.uv]`` or uv.toml's top level)."""
    if len(path) == 3 and path[0] == "index" and isinstance(path[1], int):
        if path[2] == "url":
            return Role.UV_INDEX
        if path[2] == "publish-url":
            return Role.UV_PUBLISH
        return None
    rest = path[1:] if path and path[0] == "pip" else path
    if (
        rest
        and rest[0] in ("index-url", "extra-index-url")
        and (len(rest) == 1 or (len(rest) == 2 and isinstance(rest[1], int)))
    ):
        return Role.UV_INDEX_URL
    return None


class TomlConfig(Kind):
    """pyproject.toml and uv.toml: uv configuration in TOML."""

    toml_values = True
    twins = True

    def role_of(self, path: KeyPath) -> Role | None:
        """The role of the string at ``path`` (None: not an index URL)."""
        raise NotImplementedError

    def scan(self, source: SourceFile, pinned: tuple[str, ...]) -> None:
        scan_sites(source, pinned, self.role_of, keep_config, tables=True, annotated=True)

    def verify(self, fp: FilePlan, new: str, pinned: tuple[str, ...]) -> None:
        from ..tomledit import verify_edit

        source = fp.source
        verify_edit(source.path, source.text, new, fp.value_edits, fp.twins, fp.removed_twins)

    def twin_edits(self, source: SourceFile, twin: Twin, readable: str) -> list[Edit] | str:
        scan = source.toml
        if scan is None:  # pragma: no cover - configuration is always scanned
            return "not scanned"
        table = _table_at(scan.tables, twin.site.entry)
        if table is None:
            return _inline_twin(source, scan, twin, readable)
        nl = source.newline
        insert_at = table.last_stmt_end
        text = source.text
        lead = nl if insert_at == len(text) and not text.endswith("\n") else ""
        tail = "" if lead else nl
        block = (
            f'{lead}{nl}{table.header_text}  # {TWIN_MARKER} "{twin.base_name}"{nl}'
            f'name = "{twin.name}"{nl}'
            f'url = "{twin.url}"  {format_annotation([readable])}{nl}'
            f"explicit = true{tail}"
        )
        return [Edit(insert_at, insert_at, block)]

    def twin_spans(self, source: SourceFile) -> list[TwinSpan]:
        scan = source.toml
        if scan is None:
            return []
        out = []
        text = source.text
        nl = source.newline
        for table in scan.tables:
            if not table.is_array:
                continue
            span = scan.comments.get(table.header_line)
            if span is None or TWIN_MARKER not in text[span[0] : span[1]]:
                continue
            start = table.header_start
            end = table.last_stmt_end
            if (
                end == len(text)
                and not text.endswith("\n")
                and text[max(0, start - 2 * len(nl)) : start] == nl * 2
            ):
                start -= 2 * len(nl)
            elif text[max(0, start - len(nl)) : start] == nl and (
                start - len(nl) == 0 or text[start - len(nl) - 1] == "\n"
            ):
                start -= len(nl)
            out.append(TwinSpan(((start, end),), table.path, table.header_line))
        out.extend(_inline_twin_spans(source, scan))
        return out


# -- twins in an inline array: index = [{ name = ..., url = ... }, ...] --------------------------
#
# The twin goes into the same array, right after its original and on the same line:
#     index = [{ name = "corp", url = "<name form>" }, { name = "corp-uuid", url = "<UUID form>",
#     explicit = true }]  # azfeeds: twin of "corp" # azfeeds: Project/feed
# (one line). The comment marks the twin for --mode names and holds its readable name.

_TWIN_NAME_RE = re.compile(re.escape(TWIN_MARKER) + r' "([^"\r\n]*)"')


def _inline_end(text: str, at: int) -> int | None:
    """Offset just after the ``}`` that closes the inline table around offset ``at`` (just after
    a string in it); None when the table does not close on this line."""
    depth = 0
    i = at
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\r\n#":
            return None
        if c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c and text[j] not in "\r\n":
                j += 2 if c == '"' and text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            if depth == 0:
                return i + 1 if c == "}" else None
            depth -= 1
        i += 1
    return None


def _inline_twin(source: SourceFile, scan: TomlScan, twin: Twin, readable: str) -> list[Edit] | str:
    site = twin.site
    entry = site.entry
    if entry is None or not entry or not isinstance(entry[-1], int):
        return "this index is not an entry of an index array"
    close = _inline_end(source.text, site.end + 1)
    if close is None:
        return "the inline table of this index does not close on its line; write it on one line"
    span = scan.comments.get(site.line)
    if site.line in source.annotations or (
        span is not None and "azfeeds:" in source.text[span[0] : span[1]]
    ):
        return "this line already holds an azfeeds comment; put each index entry on its own line"
    entry_text = f', {{ name = "{twin.name}", url = "{twin.url}", explicit = true }}'
    _, line_end = source.line_span(site.line)
    comment = f'  # {TWIN_MARKER} "{twin.base_name}" {format_annotation([readable])}'
    return [Edit(close, close, entry_text), Edit(line_end, line_end, comment)]


def _inline_twin_spans(source: SourceFile, scan: TomlScan) -> list[TwinSpan]:
    text = source.text
    headers = {t.path for t in scan.tables if t.is_array}
    by_entry = {s.entry: s for s in source.sites if s.role is Role.UV_INDEX and s.entry}
    out: list[TwinSpan] = []
    for site in source.sites:
        entry = site.entry
        if (
            site.role is not Role.UV_INDEX
            or entry is None
            or entry in headers
            or not isinstance(entry[-1], int)
            or entry[-1] == 0
            or site.azure is None
            or not site.azure.is_uuid_form
        ):
            continue
        span = scan.comments.get(site.line)
        if span is None:
            continue
        comment = text[span[0] : span[1]]
        marker = _TWIN_NAME_RE.search(comment)
        original = by_entry.get((*entry[:-1], entry[-1] - 1))
        if (
            marker is None
            or original is None
            or original.line != site.line
            or original.index_name != marker.group(1)
        ):
            continue
        start = _inline_end(text, original.end + 1)
        end = _inline_end(text, site.end + 1)
        if start is None or end is None or not text[start:end].lstrip().startswith(","):
            continue
        hash_at = span[0] + marker.start() - 2
        if text[hash_at : hash_at + 2] != "# ":
            continue
        cut = hash_at
        while cut > 0 and text[cut - 1] in " \t":
            cut -= 1
        out.append(TwinSpan(((start, end), (cut, span[1])), entry, site.line))
    return out


def _table_at(tables: list[TableInfo], path: KeyPath | None) -> TableInfo | None:
    if path is None:
        return None
    return next((t for t in tables if t.is_array and t.path == path), None)
