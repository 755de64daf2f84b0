"""requirements / constraints files: pip's index options, spelled as pip's own parser takes them.

pip joins a line that ends with ``\\`` to the next one, strips ``#`` comments, and reads options
from the first token that starts with ``-`` (so an option may follow a requirement on its line).
Its option parser takes ``-i URL`` and ``-iURL``, and every unambiguous abbreviation of
``--index-url``, ``--pypi-url`` and ``--extra-index-url`` (``--index``, ``--extra-index``,
``--ex``...) with ``=`` or a space before the URL; ``tests/test_requirements_syntax.py`` checks
this table against the real pip.

The readable name is a trailing comment on the URL's line; when that line continues with ``\\``
(a comment there would end the logical line), it is a comment line above the logical line.
"""

from __future__ import annotations

import re

from ..record import Record
from ..urls import looks_like_azure
from .base import (
    Annotation,
    Edit,
    FileKind,
    Kind,
    Role,
    Site,
    SourceFile,
    annotation_start,
    azure_or_problem,
    entries,
    format_annotation,
    lines,
)


def _abbreviations(full: str, shortest: int) -> frozenset[str]:
    return frozenset(full[:n] for n in range(shortest, len(full) + 1))


# long option (without "--") -> what pip takes it for; the shortest unambiguous prefix measured
# with pip's requirements-file parser (pip 23.2 to 26.3 agree)
INDEX_OPTIONS: frozenset[str] = (
    _abbreviations("index-url", 1)
    | _abbreviations("pypi-url", 2)
    | _abbreviations("extra-index-url", 2)
)

_COMMENT_RE = re.compile(r"(^|\s+)#")  # pip's COMMENT_RE: a '#' at the start or after a space
_REQ_ANNOT_RE = re.compile(r"[ \t]#[ \t]*azfeeds:[ \t]*([^#\r\n]*?)[ \t]*\Z")
_LINE_ANNOT_RE = re.compile(r"[ \t]*#[ \t]*azfeeds:[ \t]*([^\r\n]*?)[ \t]*\Z")
_TOKEN_RE = re.compile(r"\S+")
LITERAL_SPACE = "the URL holds a literal space (write it as %20)"


class _Piece(Record):
    __slots__ = ("number", "start", "at", "length")
    number: int  # physical line
    start: int  # offset of the content in the file
    at: int  # offset of the content in the logical line
    length: int

    def __init__(self, number: int, start: int, at: int, length: int) -> None:
        self.number = number
        self.start = start
        self.at = at
        self.length = length


class _Logical(Record):
    __slots__ = ("text", "pieces")
    text: str
    pieces: list[_Piece]

    def __init__(self, text: str, pieces: list[_Piece]) -> None:
        self.text = text
        self.pieces = pieces

    def piece_of(self, at: int) -> _Piece:
        for piece in self.pieces:
            if piece.at <= at <= piece.at + piece.length:
                return piece
        return self.pieces[-1]

    def offset(self, at: int) -> tuple[int, int]:
        """(physical line, file offset) of a logical offset."""
        piece = self.piece_of(at)
        return piece.number, piece.start + at - piece.at

    def one_piece(self, start: int, end: int) -> bool:
        piece = self.piece_of(start)
        return end <= piece.at + piece.length


def _logical_lines(text: str) -> list[_Logical]:
    """pip's join_lines: a line ending in ``\\`` joins the next, unless it is a comment."""
    out: list[_Logical] = []
    current: list[_Piece] = []
    parts: list[str] = []
    at = 0
    for number, start, content in lines(text):
        offset = 1 if number == 1 and content.startswith("\ufeff") else 0
        body = content[offset:]
        comment = _COMMENT_RE.match(body) is not None
        continued = body.endswith("\\") and not comment
        kept = body[:-1] if continued else body
        current.append(_Piece(number, start + offset, at, len(kept)))
        parts.append(kept)
        at += len(kept)
        if not continued:
            out.append(_Logical("".join(parts), current))
            current, parts, at = [], [], 0
    if current:
        out.append(_Logical("".join(parts), current))
    return out


class Requirements(Kind):
    """requirements*.txt, constraints*.txt (and any .txt/.in named on the command line)."""

    kind = FileKind.REQUIREMENTS

    def scan(self, source: SourceFile, pinned: tuple[str, ...]) -> None:
        text = source.text
        if "_packaging" not in text.lower():
            return
        for logical in _logical_lines(text):
            self._scan_logical(source, logical, pinned)
        for line in {s.line for s in source.sites}:
            ann = _annotation(source, line)
            if ann is not None:
                source.annotations[line] = ann

    def _scan_logical(self, source: SourceFile, logical: _Logical, pinned: tuple[str, ...]) -> None:
        text = logical.text
        comment = _COMMENT_RE.search(text)
        end = comment.start() if comment is not None else len(text)
        tokens = list(_TOKEN_RE.finditer(text, 0, end))
        first = next((i for i, t in enumerate(tokens) if t.group().startswith("-")), None)
        if first is None:
            return
        i = first
        while i < len(tokens):
            token = tokens[i]
            word = token.group()
            url_start: int | None = None
            option = word
            if word.startswith("--") and word[2:].split("=", 1)[0] in INDEX_OPTIONS:
                name, eq, value = word[2:].partition("=")
                option = "--" + name
                if eq and value:
                    url_start = token.start() + 3 + len(name)
                elif eq and i + 1 < len(tokens):  # "--index-url= URL"
                    i += 1
                    url_start = tokens[i].start()
                elif not eq and i + 1 < len(tokens):
                    following = tokens[i + 1].group()
                    if following == "=" and i + 2 < len(tokens):  # "--index-url = URL"
                        i += 1
                    i += 1
                    url_start = tokens[i].start()
            elif word == "-i" and i + 1 < len(tokens):
                option = "-i"
                i += 1
                url_start = tokens[i].start()
            elif word.startswith("-i") and len(word) > 2 and word[2] != "=":
                option = "-i"
                url_start = token.start() + 2
            if url_start is not None:
                self._site(source, logical, option, url_start, tokens, i, end, pinned)
            i += 1

    def _site(
        self,
        source: SourceFile,
        logical: _Logical,
        option: str,
        url_start: int,
        tokens: list[re.Match[str]],
        index: int,
        end: int,
        pinned: tuple[str, ...],
    ) -> None:
        text = logical.text
        url_end = tokens[index].end()
        url = text[url_start:url_end]
        azure, problem, is_azure = azure_or_problem(url, pinned)
        if not is_azure:
            # a literal space cuts the URL into tokens: the rest of it holds the Azure shape
            nxt = index + 1
            while nxt < len(tokens) and not tokens[nxt].group().startswith("-"):
                if looks_like_azure(text[url_start : tokens[nxt].end()]):
                    url_end = tokens[nxt].end()
                    url = text[url_start:url_end]
                    azure, problem, is_azure = None, LITERAL_SPACE, True
                    break
                nxt += 1
            if not is_azure:
                return
        if problem is None and not logical.one_piece(url_start, url_end):
            problem = "the URL is split over lines with '\\'; write it on one line"
        number, at = logical.offset(url_start)
        source.sites.append(
            Site(
                path=source.path,
                kind=source.kind,
                role=Role.REQUIREMENTS,
                key=option,
                line=number,
                start=at,
                end=at + (url_end - url_start),
                url=url,
                azure=azure,
                problem=problem,
            )
        )

    def place_readable(
        self, source: SourceFile, line: int, ann: Annotation | None, names: list[str]
    ) -> list[Edit]:
        if not _continued(source, line):
            return super().place_readable(source, line, ann, names)
        if ann is not None:
            if not names:
                return [Edit(ann.start, ann.end, "")]
            start = ann.start
            indent = _indent(source.text, start)
            ending = (
                source.text[ann.end - 2 : ann.end]
                if source.text[ann.end - 2 : ann.end] == "\r\n"
                else "\n"
            )
            return [Edit(ann.start, ann.end, indent + format_annotation(names) + ending)]
        if not names:
            return []
        start, _ = source.line_span(_logical_start(source, line))
        indent = _indent(source.text, start)
        return [Edit(start, start, indent + format_annotation(names) + source.newline)]


def _physical(text: str, number: int) -> str:
    start, end = _span(text, number)
    return text[start:end]


def _span(text: str, number: int) -> tuple[int, int]:
    from .base import line_span

    return line_span(text, number)


def _continued(source: SourceFile, line: int) -> bool:
    body = _physical(source.text, line)
    return body.endswith("\\") and _COMMENT_RE.match(body) is None


def _logical_start(source: SourceFile, line: int) -> int:
    """The first physical line of the logical line that holds ``line``."""
    number = line
    while number > 1:
        above = _physical(source.text, number - 1)
        if not above.endswith("\\") or _COMMENT_RE.match(above) is not None:
            break
        number -= 1
    return number


def _indent(text: str, start: int) -> str:
    end = start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[start:end]


def _annotation(source: SourceFile, line: int) -> Annotation | None:
    text = source.text
    if _continued(source, line):
        first = _logical_start(source, line)
        if first == 1:
            return None
        above = _physical(text, first - 1)
        m_line = _LINE_ANNOT_RE.match(above)
        if m_line is None:
            return None
        start, end = _span(text, first - 1)
        end = end + (
            2 if text[end : end + 2] == "\r\n" else 1 if text[end : end + 1] == "\n" else 0
        )
        return Annotation(line, start, end, entries(m_line.group(1)))
    start, end = _span(text, line)
    body = text[start:end]
    m_ann = _REQ_ANNOT_RE.search(body)
    if m_ann is None:
        return None
    hash_at = start + m_ann.start() + 1
    return Annotation(line, annotation_start(text, hash_at), end, entries(m_ann.group(1)))


KIND = Requirements()
