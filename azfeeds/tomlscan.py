"""A fast, position-exact TOML scanner (stdlib only).

It finds string values with their key paths and exact offsets, table headers, and comments,
so azfeeds can decide what to change without a full TOML parse and can replace string tokens
in the original text byte for byte. Edits are then checked by tomlkit (``tomledit``).

Key paths are tuples: table and key names as strings, array positions as ints.
``[[tool.uv.index]]`` entry 2's ``url`` and ``tool.uv.index = [{...}, {...}, {url = ...}]``
both give ``("tool", "uv", "index", 2, "url")``.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections.abc import Callable
from functools import cache
from typing import Final

from .record import Record, Value

KeyPath = tuple["str | int", ...]
Keep = Callable[[KeyPath, str], bool]


class TomlSyntaxError(ValueError):
    """Malformed TOML, with a 1-based line and column."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.message = message
        self.line = line
        self.column = column


class TomlString(Value):
    """A string value: its key path, decoded value and the exact span of its token."""

    __slots__ = ("path", "value", "start", "end", "quote", "line")
    path: Final[KeyPath]
    value: Final[str]
    start: Final[int]  # offset of the opening quote
    end: Final[int]  # offset just after the closing quote
    quote: Final[str]  # '"', "'", '\"\"\"' or "'''"
    line: Final[int]  # 1-based line of the opening quote

    def __init__(
        self, path: KeyPath, value: str, start: int, end: int, quote: str, line: int
    ) -> None:
        self.path = path
        self.value = value
        self.start = start
        self.end = end
        self.quote = quote
        self.line = line

    @property
    def content_start(self) -> int:
        """Offset of the first character inside the quotes."""
        return self.start + len(self.quote)

    @property
    def content_end(self) -> int:
        """Offset of the closing quote."""
        return self.end - len(self.quote)


class TableInfo(Record):
    """A table or array-of-tables entry opened by a header."""

    __slots__ = (
        "path",
        "is_array",
        "header_start",
        "header_end",
        "header_text",
        "header_line",
        "last_stmt_end",
    )
    path: KeyPath
    is_array: bool
    header_start: int  # offset of the header line's first character
    header_end: int  # offset just after the header line (its newline included)
    header_text: str  # the bracketed header exactly as written, e.g. "[[tool.uv.index]]"
    header_line: int
    last_stmt_end: int  # offset just after the line of the last key/value statement

    def __init__(
        self,
        path: KeyPath,
        is_array: bool,
        header_start: int,
        header_end: int,
        header_text: str,
        header_line: int,
        last_stmt_end: int,
    ) -> None:
        self.path = path
        self.is_array = is_array
        self.header_start = header_start
        self.header_end = header_end
        self.header_text = header_text
        self.header_line = header_line
        self.last_stmt_end = last_stmt_end


class TomlScan(Record):
    """What the scanner found in one document."""

    __slots__ = ("text", "strings", "tables", "comments", "_newlines")
    text: str
    strings: list[TomlString]
    tables: list[TableInfo]
    comments: dict[int, tuple[int, int]]  # line -> span of "#..."
    _newlines: array[int] | None  # line index, built on first use (_lines)

    def __init__(
        self,
        text: str,
        strings: list[TomlString] | None = None,
        tables: list[TableInfo] | None = None,
        comments: dict[int, tuple[int, int]] | None = None,
        _newlines: array[int] | None = None,
    ) -> None:
        self.text = text
        self.strings = [] if strings is None else strings
        self.tables = [] if tables is None else tables
        self.comments = {} if comments is None else comments
        self._newlines = _newlines

    def _lines(self) -> array[int]:
        if self._newlines is None:  # a compact index: a large uv.lock has 10^5 lines
            self._newlines = array("q", (m.start() for m in _NL_RE.finditer(self.text)))
        return self._newlines

    def line_of(self, offset: int) -> int:
        """1-based line number of an offset."""
        return bisect_right(self._lines(), offset - 1) + 1

    def line_span(self, line: int) -> tuple[int, int]:
        """(start, end) offsets of a line's content, without its line ending."""
        newlines = self._lines()
        start = 0 if line == 1 else newlines[line - 2] + 1
        end = newlines[line - 1] if line - 1 < len(newlines) else len(self.text)
        if end > start and self.text[end - 1] == "\r":
            end -= 1
        return start, end


_NL_RE = re.compile(r"\n")
_WS_RE = re.compile(r"[ \t]*")
_WSNL_RE = re.compile(r"[ \t\r\n]*")
# TOML allows no control character but tab (and newlines between lines and in multi-line
# strings): the patterns stop at one, and error() then names it.
_CTL = r"\x00-\x08\x0a-\x1f\x7f"
_CTL_ML = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")
_COMMENT_RE = re.compile(rf"#[^{_CTL}]*")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_\-]+")
_BASIC_RE = re.compile(rf'"((?:[^"\\{_CTL}]|\\.)*)"')
_LITERAL_RE = re.compile(rf"'([^'{_CTL}]*)'")
# the patterns without _RE are compiled on first use (_compiled): most files never need them
_ML_BASIC = rf'"""((?:[^"\\{_CTL_ML}]|\\[\s\S]|"(?!""))*)"""("{{0,2}})'
_ML_LITERAL = rf"'''((?:[^'{_CTL_ML}]|'(?!''))*)'''('{{0,2}})"
_SCALAR_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?"
    r"|[A-Za-z0-9_+\-.:]+"
)
_SCALAR_VALID = (
    r"(?:true|false"
    r"|[+-]?(?:inf|nan)"
    r"|0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*|0o[0-7](?:_?[0-7])*|0b[01](?:_?[01])*"
    r"|[+-]?(?:0|[1-9](?:_?\d)*)(?:\.\d(?:_?\d)*)?(?:[eE][+-]?\d(?:_?\d)*)?"
    r"|\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?"
    r"|\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\Z"
)
_SIMPLE_LINE_RE = re.compile(
    r"(?P<key>[A-Za-z0-9_\-]+)[ \t]*=[ \t]*"
    rf"(?:\"(?P<basic>[^\"\\{_CTL}]*)\"(?!\")|'(?P<literal>[^'{_CTL}]*)'(?!')"
    r"|true|false|[+-]?(?:0|[1-9][0-9]*))"
    rf"[ \t]*(?P<comment>#[^{_CTL}]*)?(?:\r?\n|\Z)"
)
_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "e": "\x1b",
}
_ESCAPE = r"(?s)\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|(.))"
_LINE_END_BACKSLASH = r"\\[ \t]*\r?\n[ \t\r\n]*"


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled on first use: start-up compiles only what every scan needs."""
    return re.compile(pattern)


def keep_all(path: KeyPath, value: str) -> bool:
    """Keep every string."""
    return True


MAX_NESTING = 100  # arrays and inline tables inside each other; real files use 3 or 4


class _Scanner:
    def __init__(self, text: str, keep: Keep, tables: bool, duplicates: bool) -> None:
        self.t = text
        self.n = len(text)
        self.keep = keep
        self.record_tables = tables
        self.check_duplicates = duplicates
        self.scan = TomlScan(text)
        self.aot_counts: dict[KeyPath, int] = {}
        self.root = TableInfo((), False, 0, 0, "", 0, 0)
        self.current = self.root
        self.depth = 0  # arrays and inline tables open around the current value
        # keys and [tables] defined so far (duplicates are errors)
        self.defined: set[KeyPath] = set()

    # -- errors -------------------------------------------------------------------------

    def error(self, message: str, offset: int) -> TomlSyntaxError:
        # A control character stops every pattern: name it rather than what it interrupted.
        line_end = self.t.find("\n", offset)
        m = _CONTROL_RE.search(self.t, offset, self.n if line_end < 0 else line_end)
        if m is None and "multi-line" in message:
            m = _CONTROL_RE.search(self.t, offset)
        if m is not None:
            offset = m.start()
            message = f"control character U+{ord(self.t[offset]):04X} is not allowed in TOML"
        line = self.scan.line_of(offset)
        start, _ = self.scan.line_span(line)
        return TomlSyntaxError(message, line, offset - start + 1)

    # -- whitespace and comments ----------------------------------------------------------

    def skip_ws(self, i: int) -> int:
        m = _WS_RE.match(self.t, i)
        return m.end() if m else i

    def comment(self, i: int) -> int:
        m = _COMMENT_RE.match(self.t, i)
        assert m is not None
        self.scan.comments[self.scan.line_of(i)] = (i, m.end())
        return m.end()

    def skip_blank(self, i: int) -> int:
        """Whitespace, newlines and comments."""
        t = self.t
        while True:
            m = _WSNL_RE.match(t, i)
            i = m.end() if m else i
            if i < self.n and t[i] == "#":
                i = self.comment(i)
                continue
            return i

    def end_of_line(self, i: int) -> int:
        """After a statement: optional comment, then a newline or the end of the text."""
        i = self.skip_ws(i)
        if i < self.n and self.t[i] == "#":
            i = self.comment(i)
        if i >= self.n:
            return i
        if self.t[i] == "\n":
            return i + 1
        if self.t.startswith("\r\n", i):
            return i + 2
        raise self.error("expected the end of the line", i)

    # -- keys ---------------------------------------------------------------------------

    def key(self, i: int) -> tuple[list[str], int]:
        parts: list[str] = []
        t = self.t
        while True:
            i = self.skip_ws(i)
            if i >= self.n:
                raise self.error("expected a key", i)
            c = t[i]
            if c == '"':
                m = _BASIC_RE.match(t, i)
                if m is None:
                    raise self.error("unterminated quoted key", i)
                parts.append(self.unescape(m.group(1), i))
                i = m.end()
            elif c == "'":
                m = _LITERAL_RE.match(t, i)
                if m is None:
                    raise self.error("unterminated quoted key", i)
                parts.append(m.group(1))
                i = m.end()
            else:
                m = _BARE_KEY_RE.match(t, i)
                if m is None:
                    raise self.error("expected a key", i)
                parts.append(m.group(0))
                i = m.end()
            i = self.skip_ws(i)
            if i < self.n and t[i] == ".":
                i += 1
                continue
            return parts, i

    # -- values -------------------------------------------------------------------------

    def unescape(self, content: str, offset: int) -> str:
        if "\\" not in content:
            return content

        def sub(m: re.Match[str]) -> str:
            hex_code = m.group(1) or m.group(2) or m.group(3)
            if hex_code:
                code = int(hex_code, 16)
                if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                    raise self.error("invalid unicode escape", offset)
                return chr(code)
            char = m.group(4)
            if char in _ESCAPES:
                return _ESCAPES[char]
            raise self.error(f"invalid escape sequence '\\{char}'", offset)

        return _compiled(_ESCAPE).sub(sub, content)

    def string(self, i: int, path: KeyPath) -> int:
        t = self.t
        if t.startswith('"""', i):
            m = _compiled(_ML_BASIC).match(t, i)
            if m is None:
                raise self.error("unterminated multi-line string", i)
            quote = '"""'
            end = m.end()
            raw = m.group(1) + m.group(2)
            if self.keep(path, raw):  # undecoded: decoding only what is kept
                if raw.startswith("\r\n"):
                    raw = raw[2:]
                elif raw.startswith("\n"):
                    raw = raw[1:]
                raw = _compiled(_LINE_END_BACKSLASH).sub("", raw)
                self.add_string(path, self.unescape(raw, i), i, end, quote)
            return end
        if t.startswith("'''", i):
            m = _compiled(_ML_LITERAL).match(t, i)
            if m is None:
                raise self.error("unterminated multi-line string", i)
            raw = m.group(1) + m.group(2)
            if raw.startswith("\r\n"):
                raw = raw[2:]
            elif raw.startswith("\n"):
                raw = raw[1:]
            self.add_string(path, raw, i, m.end(), "'''")
            return m.end()
        if t[i] == '"':
            m = _BASIC_RE.match(t, i)
            if m is None:
                raise self.error("unterminated string", i)
            self.add_string(path, m.group(1), i, m.end(), '"', escaped=True)
            return m.end()
        m = _LITERAL_RE.match(t, i)
        if m is None:
            raise self.error("unterminated string", i)
        self.add_string(path, m.group(1), i, m.end(), "'")
        return m.end()

    def add_string(
        self, path: KeyPath, value: str, start: int, end: int, quote: str, escaped: bool = False
    ) -> None:
        if escaped and "\\" in value:
            value = self.unescape(value, start)
        if self.keep(path, value):
            self.scan.strings.append(
                TomlString(path, value, start, end, quote, self.scan.line_of(start))
            )

    def value(self, i: int, path: KeyPath) -> int:
        if i >= self.n:
            raise self.error("expected a value", i)
        c = self.t[i]
        if c in "\"'":
            return self.string(i, path)
        if c in "[{":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(
                    f"nested too deeply (over {MAX_NESTING} arrays or inline tables)", i
                )
            end = self.array(i, path) if c == "[" else self.inline_table(i, path)
            self.depth -= 1
            return end
        m = _SCALAR_RE.match(self.t, i)
        if m is None or _compiled(_SCALAR_VALID).match(m.group(0)) is None:
            raise self.error("invalid value", i)
        return m.end()

    def array(self, i: int, path: KeyPath) -> int:
        i += 1
        index = 0
        t = self.t
        while True:
            i = self.skip_blank(i)
            if i >= self.n:
                raise self.error("unterminated array", i)
            if t[i] == "]":
                return i + 1
            i = self.value(i, (*path, index))
            index += 1
            i = self.skip_blank(i)
            if i >= self.n:
                raise self.error("unterminated array", i)
            if t[i] == ",":
                i += 1
            elif t[i] != "]":
                raise self.error("expected ',' or ']' in array", i)

    def inline_table(self, i: int, path: KeyPath) -> int:
        i += 1
        t = self.t
        keys_here: set[KeyPath] = set()  # keys and dotted-key prefixes defined in this table
        while True:
            i = self.skip_blank(i)
            if i >= self.n:
                raise self.error("unterminated inline table", i)
            if t[i] == "}":
                return i + 1
            key_start = i
            keys, i = self.key(i)
            if i >= self.n or t[i] != "=":
                raise self.error("expected '=' after a key", i)
            full = tuple(keys)
            if full in keys_here or any(full[:n] in keys_here for n in range(1, len(full))):
                raise self.error(f"duplicate key '{'.'.join(keys)}' in an inline table", key_start)
            keys_here.update(full[:n] for n in range(1, len(full)))  # dotted: tables
            keys_here.add(full)
            i = self.skip_ws(i + 1)
            i = self.value(i, (*path, *keys))
            i = self.skip_blank(i)
            if i >= self.n:
                raise self.error("unterminated inline table", i)
            if t[i] == ",":
                i += 1
            elif t[i] != "}":
                raise self.error("expected ',' or '}' in inline table", i)

    # -- statements ---------------------------------------------------------------------

    def define(self, path: KeyPath) -> bool:
        """Record a key or [table] path; False when it is defined already (a key, a table or an
        array of tables)."""
        if path in self.defined or path in self.aot_counts:
            return False
        self.defined.add(path)
        return True

    def resolve(self, logical: list[str]) -> KeyPath:
        cur: KeyPath = ()
        for part in logical:
            cur = (*cur, part)
            count = self.aot_counts.get(cur)
            if count is not None:
                cur = (*cur, count - 1)
        return cur

    def header(self, start: int) -> int:
        t = self.t
        is_array = t.startswith("[[", start)
        i = start + (2 if is_array else 1)
        keys, i = self.key(i)
        close = "]]" if is_array else "]"
        if not t.startswith(close, i):
            raise self.error(f"expected '{close}' to close the table header", i)
        i += len(close)
        header_text = t[start:i]
        if is_array:
            parent = self.resolve(keys[:-1])
            arr: KeyPath = (*parent, keys[-1])
            if self.check_duplicates and arr in self.defined:
                raise self.error(
                    f"[[{'.'.join(keys)}]]: '{keys[-1]}' is already defined as a key or table",
                    start,
                )
            index = self.aot_counts.get(arr, 0)
            self.aot_counts[arr] = index + 1
            path: KeyPath = (*arr, index)
        else:
            path = self.resolve(keys)
            if self.check_duplicates and not self.define(path):
                raise self.error(f"table [{'.'.join(keys)}] is defined twice", start)
        end = self.end_of_line(i)
        if not self.record_tables:
            self.current = TableInfo(path, is_array, 0, 0, "", 0, end)
            return end
        line = self.scan.line_of(start)
        line_start, _ = self.scan.line_span(line)
        info = TableInfo(path, is_array, line_start, end, header_text, line, end)
        self.scan.tables.append(info)
        self.current = info
        return end

    def simple_line(self, m: re.Match[str]) -> int:
        """``bare-key = "string" | 'string' | true | false | integer  [# comment]`` + newline."""
        path = (*self.current.path, m.group("key"))
        if self.check_duplicates and not self.define(path):
            raise self.error(f"duplicate key '{m.group('key')}'", m.start("key"))
        if m.group("basic") is not None:
            self.add_string(path, m.group("basic"), m.start("basic") - 1, m.end("basic") + 1, '"')
        elif m.group("literal") is not None:
            self.add_string(
                path, m.group("literal"), m.start("literal") - 1, m.end("literal") + 1, "'"
            )
        if m.group("comment") is not None:
            self.scan.comments[self.scan.line_of(m.start("comment"))] = m.span("comment")
        end = m.end()
        self.current.last_stmt_end = end
        return end

    def run(self) -> TomlScan:
        t = self.t
        i = 1 if t.startswith("\ufeff") else 0
        while True:
            i = self.skip_blank(i)
            if i >= self.n:
                return self.scan
            if t[i] == "[":
                i = self.header(i)
                continue
            simple = _SIMPLE_LINE_RE.match(t, i)
            if simple is not None:  # the common line, in one match; any other takes the long way
                i = self.simple_line(simple)
                continue
            key_start = i
            keys, i = self.key(i)
            if i >= self.n or t[i] != "=":
                raise self.error("expected '=' after a key", i)
            path = (*self.current.path, *keys)
            if self.check_duplicates and not self.define(path):
                raise self.error(f"duplicate key '{'.'.join(keys)}'", key_start)
            i = self.skip_ws(i + 1)
            i = self.value(i, path)
            i = self.end_of_line(i)
            self.current.last_stmt_end = i


def scan_toml(
    text: str, keep: Keep = keep_all, *, tables: bool = True, duplicates: bool = True
) -> TomlScan:
    """Scan a TOML document. ``keep(path, value)`` selects which strings are recorded
    (for a multi-line basic string it is called with the undecoded text first, to skip decoding
    the strings it does not want).
    ``tables=False`` records no table headers, ``duplicates=False`` skips the duplicate-key
    check: both save memory on a large, machine-written uv.lock.

    Raises TomlSyntaxError on malformed input.
    """
    try:
        return _Scanner(text, keep, tables, duplicates).run()
    except RecursionError:
        raise TomlSyntaxError("the document is nested too deeply", 1, 1) from None
