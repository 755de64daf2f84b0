"""Which files azfeeds handles, and where their index URLs are (DESIGN.md section 4).

Each supported file is scanned into a ``SourceFile``: its exact text, the index-URL sites in it
(file, line, key, exact offsets) and the readable-name annotations that azfeeds wrote earlier.

Readable names (``Project/feed[@view]``, written exactly as the URL's segments were):

- TOML files and requirements files: a trailing comment on the URL's own line,
  ``url = "https://.../<uuid>/_packaging/<uuid>/pypi/simple/"  # azfeeds: ProjectX/feedx``.
  A user's own comment on that line stays in front of it.
- pip.conf / pip.ini: a comment line just above the line that holds the URL (an inline ``#``
  would become part of the value there), ``# azfeeds: ProjectX/feedx``.
- uv.lock: none; the lock follows the configuration.

When one line holds several UUID-form URLs, the names are listed in their order, comma-separated,
with ``?`` for one whose names are unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .errors import FileError
from .fsio import Snapshot, decode_text, dominant_newline
from .tomlscan import KeyPath, TomlScan, TomlString, TomlSyntaxError, scan_toml
from .urls import AzureUrl, Readable, UrlError, parse_azure_url, parse_readable

ANNOTATION_PREFIX = "azfeeds:"
TWIN_MARKER = "azfeeds: twin of"
_ANNOT_IN_COMMENT_RE = re.compile(r"#[ \t]*azfeeds:[ \t]*([^#\r\n]*?)[ \t]*\Z")
_INI_ANNOT_RE = re.compile(r"[ \t]*[#;][ \t]*azfeeds:[ \t]*([^\r\n]*?)[ \t]*\Z")
_AZURE_BYTES_RE = re.compile(rb"(?i)/_packaging/")


class FileKind(str, Enum):
    """The kinds of file azfeeds handles."""

    PYPROJECT = "pyproject.toml"
    UV_TOML = "uv.toml"
    UV_LOCK = "uv.lock"
    PIP_CONF = "pip.conf"
    REQUIREMENTS = "requirements"

    @property
    def is_toml(self) -> bool:
        """TOML documents."""
        return self in (FileKind.PYPROJECT, FileKind.UV_TOML, FileKind.UV_LOCK)

    @property
    def is_uv_config(self) -> bool:
        """uv configuration (pyproject.toml or uv.toml)."""
        return self in (FileKind.PYPROJECT, FileKind.UV_TOML)


class Role(str, Enum):
    """What an URL site is for."""

    UV_INDEX = "uv-index"  # [[tool.uv.index]] / [[index]] url
    UV_PUBLISH = "uv-publish-url"  # ... publish-url
    UV_INDEX_URL = "uv-index-url"  # index-url / extra-index-url (older uv keys, [pip] keys)
    POETRY = "poetry-source"
    PDM = "pdm-source"
    PIP_CONF = "pip-conf"
    REQUIREMENTS = "requirements"
    LOCK_REGISTRY = "lock-registry"
    LOCK_INDEX = "lock-index"

    @property
    def in_lock(self) -> bool:
        """A uv.lock string."""
        return self in (Role.LOCK_REGISTRY, Role.LOCK_INDEX)


def classify(path: Path | str, explicit: bool = False) -> FileKind | None:
    """The kind of a file from its name; ``explicit`` files may also match by extension."""
    name = path if isinstance(path, str) else path.name
    lower = name.lower()
    if name == "pyproject.toml":
        return FileKind.PYPROJECT
    if name == "uv.toml":
        return FileKind.UV_TOML
    if name == "uv.lock":
        return FileKind.UV_LOCK
    if lower in ("pip.conf", "pip.ini"):
        return FileKind.PIP_CONF
    if lower.endswith(".txt") and lower.startswith(("requirements", "constraints")):
        return FileKind.REQUIREMENTS
    if explicit:
        if lower.endswith((".txt", ".in")):
            return FileKind.REQUIREMENTS
        if lower.endswith((".conf", ".ini")):
            return FileKind.PIP_CONF
    return None


SUPPORTED_NAMES = (
    "pyproject.toml, uv.toml, uv.lock, pip.conf, pip.ini, requirements*.txt, constraints*.txt"
)


@dataclass(frozen=True)
class Annotation:
    """A readable-name comment written by azfeeds, and the span that holds it."""

    line: int  # the line of the URL(s) it names
    start: int  # span to replace or remove
    end: int
    entries: tuple[Readable | None, ...]


@dataclass(frozen=True)
class Site:
    """One index URL in a file."""

    path: Path
    kind: FileKind
    role: Role
    key: str  # human key, e.g. "tool.uv.index[0].url"
    line: int
    start: int  # offsets of the URL text inside the file text
    end: int
    url: str
    azure: AzureUrl | None
    problem: str | None = None  # why this Azure-shaped URL cannot be rewritten
    index_name: str | None = None
    entry: KeyPath | None = None  # key path of the index table that holds it (uv indexes)
    keypath: KeyPath = ()  # TOML key path of the string

    @property
    def location(self) -> str:
        """``file:line``."""
        return f"{self.path}:{self.line}"


@dataclass
class SourceFile:
    """A scanned file."""

    snapshot: Snapshot
    kind: FileKind
    text: str
    newline: str
    sites: list[Site] = field(default_factory=list)
    annotations: dict[int, Annotation] = field(default_factory=dict)
    toml: TomlScan | None = None
    pinned: tuple[str, ...] = ()
    scanned: bool = True  # False for a uv.lock not scanned yet (see ensure_scanned)

    def ensure_scanned(self) -> None:
        """Scan a lazily loaded uv.lock now (the first time its sites are needed)."""
        if not self.scanned:
            self.scanned = True
            _scan_toml_file(self, self.pinned)

    def lock_urls(self) -> list[str]:
        """Azure URLs at registry/index keys of a uv.lock, by a cheap search (no parse)."""
        return [span[3] for span in self.lock_url_spans()]

    def lock_url_spans(self) -> list[tuple[int, int, str, str]]:
        """(start, end, key, url) of each quoted URL at a ``registry`` or ``index`` key.

        A search, not a parse: it visits only the lines that hold ``/_packaging/`` (found by
        ``str.find``), which keeps a multi-megabyte lock cheap.
        """
        text = self.text
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

    @property
    def path(self) -> Path:
        """The path as shown."""
        return self.snapshot.path

    def line_span(self, line: int) -> tuple[int, int]:
        """Offsets of a line's content (without its line ending)."""
        if self.toml is not None:
            return self.toml.line_span(line)
        return _line_span(self.text, line)


def _line_span(text: str, line: int) -> tuple[int, int]:
    start = 0
    for _ in range(line - 1):
        start = text.index("\n", start) + 1
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    if end > start and text[end - 1] == "\r":
        end -= 1
    return start, end


def may_hold_azure(data: bytes) -> bool:
    """Cheap byte test before any parse: does the file mention ``/_packaging/`` at all?"""
    return _AZURE_BYTES_RE.search(data) is not None


_LOCK_URL_RE = re.compile(r"""(registry|index)\s*=\s*(["'])([^"'\n]*?/_packaging/[^"'\n]*?)\2""")


def load_source(
    snapshot: Snapshot, kind: FileKind, pinned: tuple[str, ...] = (), *, lazy_lock: bool = False
) -> SourceFile:
    """Decode and scan a file. Raises FileError for undecodable or malformed files.

    With ``lazy_lock``, a uv.lock is only decoded: it is scanned when ``ensure_scanned`` is
    called, which a run does only when one of its registry strings may have to change.
    """
    text = decode_text(snapshot)
    source = SourceFile(snapshot, kind, text, dominant_newline(text), pinned=pinned)
    if kind is FileKind.UV_LOCK and lazy_lock:
        source.scanned = False
        return source
    if kind.is_toml:
        _scan_toml_file(source, pinned)
    elif kind is FileKind.PIP_CONF:
        _scan_ini(source, pinned)
    else:
        _scan_requirements(source, pinned)
    return source


# -- helpers ----------------------------------------------------------------------------------


def _azure_or_problem(
    url: str, pinned: tuple[str, ...]
) -> tuple[AzureUrl | None, str | None, bool]:
    """(parsed, problem, is_azure)."""
    try:
        parsed = parse_azure_url(url, pinned)
    except UrlError as exc:
        return None, str(exc), True
    return parsed, None, parsed is not None


def _entries(text: str) -> tuple[Readable | None, ...]:
    return tuple(parse_readable(part) for part in text.split(","))


def format_annotation(entries: Iterable[str]) -> str:
    """The comment text azfeeds writes: ``# azfeeds: A, B``."""
    return f"# {ANNOTATION_PREFIX} " + ", ".join(entries)


# -- TOML -------------------------------------------------------------------------------------


def _toml_role(kind: FileKind, path: KeyPath) -> Role | None:
    if kind is FileKind.UV_LOCK:
        if len(path) >= 2 and path[-2:] == ("source", "registry"):
            return Role.LOCK_REGISTRY
        if path and path[0] == "package" and path[-1] == "index" and "metadata" in path:
            return Role.LOCK_INDEX
        return None
    if kind is FileKind.PYPROJECT:
        if path[:2] == ("tool", "uv"):
            return _uv_role(path[2:])
        sources = (("tool", "poetry", "source"), ("tool", "pdm", "source"))
        if len(path) == 5 and path[:3] in sources and isinstance(path[3], int) and path[4] == "url":
            return Role.POETRY if path[1] == "poetry" else Role.PDM
        return None
    return _uv_role(path)


def _uv_role(path: KeyPath) -> Role | None:
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


def _toml_key(path: KeyPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _keep_toml(path: KeyPath, value: str) -> bool:
    return bool(path) and (path[-1] == "name" or "_packaging" in value.lower())


def _keep_lock(path: KeyPath, value: str) -> bool:
    return (len(path) == 3 and path[2] == "name") or "_packaging" in value.lower()


def _scan_toml_file(source: SourceFile, pinned: tuple[str, ...]) -> None:
    lock = source.kind is FileKind.UV_LOCK
    try:
        scan = scan_toml(source.text, _keep_lock if lock else _keep_toml, tables=not lock)
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
        role = _toml_role(source.kind, s.path)
        if role is None:
            continue
        azure, problem, is_azure = _azure_or_problem(s.value, pinned)
        if not is_azure:
            continue
        problem = problem or _token_problem(source.text, s)
        entry = s.path[:-1] if role in (Role.UV_INDEX, Role.UV_PUBLISH) else None
        if role in (Role.POETRY, Role.PDM):
            entry = s.path[:-1]
        source.sites.append(
            Site(
                path=source.path,
                kind=source.kind,
                role=role,
                key=_toml_key(s.path),
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
    if source.kind is not FileKind.UV_LOCK:
        for line in {site.line for site in source.sites}:
            ann = _toml_annotation(source, scan, line)
            if ann is not None:
                source.annotations[line] = ann


def _token_problem(text: str, s: TomlString) -> str | None:
    if len(s.quote) == 3:
        return "the URL is a multi-line string; rewrite it by hand"
    if text[s.content_start : s.content_end] != s.value:
        return "the URL string uses escape sequences; rewrite it by hand"
    return None


def _toml_annotation(source: SourceFile, scan: TomlScan, line: int) -> Annotation | None:
    span = scan.comments.get(line)
    if span is None:
        return None
    comment = source.text[span[0] : span[1]]
    m = _ANNOT_IN_COMMENT_RE.search(comment)
    if m is None or m.group(1).startswith("twin of"):
        return None
    hash_at = span[0] + m.start()
    return Annotation(line, _annotation_start(source.text, hash_at), span[1], _entries(m.group(1)))


def _annotation_start(text: str, hash_at: int) -> int:
    """Where an inline annotation starts: azfeeds writes two spaces before its '#'."""
    ws = hash_at
    while ws > 0 and text[ws - 1] in " \t":
        ws -= 1
    return hash_at - 2 if hash_at - ws >= 2 else ws


# -- pip.conf / pip.ini -----------------------------------------------------------------------

_INI_SECTION_RE = re.compile(r"\[(?P<name>[^\]]+)\]")
_INI_OPTION_RE = re.compile(r"(?P<key>[^=:\s][^=:]*?)\s*[=:]\s*(?P<value>.*)\Z")
_INDEX_KEYS = {"index-url", "extra-index-url", "index_url", "extra_index_url"}
_TOKEN_RE = re.compile(r"\S+")


def _lines(text: str) -> Iterable[tuple[int, int, str]]:
    """(line number, start offset, content without line ending)."""
    start = 0
    number = 1
    n = len(text)
    while start <= n:
        nl = text.find("\n", start)
        end = n if nl < 0 else nl
        content_end = end - 1 if end > start and text[end - 1] == "\r" else end
        yield number, start, text[start:content_end]
        if nl < 0:
            return
        start = nl + 1
        number += 1


def _scan_ini(source: SourceFile, pinned: tuple[str, ...]) -> None:
    text = source.text
    section: str | None = None
    option: str | None = None
    option_indent = 0
    previous: tuple[int, int, str] | None = None
    for number, start, content in _lines(text):
        offset = 1 if number == 1 and content.startswith("\ufeff") else 0
        body = content[offset:]
        stripped = body.strip()
        indent = len(body) - len(body.lstrip())
        value_part: str | None = None
        value_at = 0
        if not stripped or stripped[0] in "#;":
            previous = (number, start, content)
            continue
        if option is not None and indent > option_indent:
            value_part, value_at = body, 0
        else:
            m_section = _INI_SECTION_RE.match(stripped)
            if m_section and indent == 0:
                section, option = m_section.group("name"), None
                previous = (number, start, content)
                continue
            m_opt = _INI_OPTION_RE.match(body.lstrip())
            if section is None:
                what = "a line" if m_opt is None else "a key"
                raise FileError(
                    f"is not a valid pip configuration file: {what} comes before any [section]",
                    path=source.path,
                    line=number,
                    hint="pip.conf needs a section such as [global] before its keys",
                )
            if m_opt is None:
                raise FileError(
                    "is not a valid pip configuration file: expected 'key = value'",
                    path=source.path,
                    line=number,
                )
            option = m_opt.group("key").strip().lower()
            option_indent = indent
            value_part, value_at = m_opt.group("value"), indent + m_opt.start("value")
        if option in _INDEX_KEYS and value_part is not None:
            for token in _TOKEN_RE.finditer(value_part):
                url = token.group(0)
                azure, problem, is_azure = _azure_or_problem(url, pinned)
                if not is_azure:
                    continue
                at = start + offset + value_at + token.start()
                source.sites.append(
                    Site(
                        path=source.path,
                        kind=source.kind,
                        role=Role.PIP_CONF,
                        key=f"[{section}] {option}",
                        line=number,
                        start=at,
                        end=at + len(url),
                        url=url,
                        azure=azure,
                        problem=problem,
                    )
                )
            if previous is not None and any(s.line == number for s in source.sites):
                m_ann = _INI_ANNOT_RE.match(previous[2])
                if m_ann is not None and previous[0] == number - 1:
                    line_end = text.find("\n", previous[1])
                    end = len(text) if line_end < 0 else line_end + 1
                    source.annotations[number] = Annotation(
                        number, previous[1], end, _entries(m_ann.group(1))
                    )
        previous = (number, start, content)


# -- requirements / constraints ---------------------------------------------------------------

_REQ_OPTION_RE = re.compile(
    r"(?P<opt>-i|--index-url|--extra-index-url)(?:[ \t]*=[ \t]*|[ \t]+)(?P<url>[^\s#]\S*)"
)
_REQ_ANNOT_RE = re.compile(r"[ \t]#[ \t]*azfeeds:[ \t]*([^#\r\n]*?)[ \t]*\Z")


def _scan_requirements(source: SourceFile, pinned: tuple[str, ...]) -> None:
    for number, start, content in _lines(source.text):
        offset = 1 if number == 1 and content.startswith("\ufeff") else 0
        body = content[offset:]
        lead = len(body) - len(body.lstrip())
        m = _REQ_OPTION_RE.match(body, lead)
        if m is None:
            continue
        if m.group("opt") == "-i" and "=" in body[m.end("opt") : m.start("url")]:
            continue
        url = m.group("url")
        azure, problem, is_azure = _azure_or_problem(url, pinned)
        if not is_azure:
            continue
        if body.rstrip().endswith("\\"):
            problem = "the line continues with '\\'; rewrite it by hand"
        at = start + offset + m.start("url")
        source.sites.append(
            Site(
                path=source.path,
                kind=source.kind,
                role=Role.REQUIREMENTS,
                key=m.group("opt"),
                line=number,
                start=at,
                end=at + len(url),
                url=url,
                azure=azure,
                problem=problem,
            )
        )
        m_ann = _REQ_ANNOT_RE.search(body)
        if m_ann is not None:
            hash_at = start + offset + m_ann.start() + 1
            source.annotations[number] = Annotation(
                number,
                _annotation_start(source.text, hash_at),
                start + len(content),
                _entries(m_ann.group(1)),
            )
