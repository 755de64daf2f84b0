"""pip.conf / pip.ini: ``index-url`` and ``extra-index-url`` in any section. The readable name is
a comment line just above the line that holds the URL (an inline ``#`` would become part of the
value there). The new text must give pip the same values, URLs apart."""

from __future__ import annotations

import configparser
import re

from ..errors import FileError
from ..urls import looks_like_azure
from .base import (
    Annotation,
    Edit,
    FileKind,
    FilePlan,
    Kind,
    Role,
    Site,
    SourceFile,
    azure_or_problem,
    bug,
    entries,
    format_annotation,
    lines,
)

_INI_ANNOT_RE = re.compile(r"[ \t]*[#;][ \t]*azfeeds:[ \t]*([^\r\n]*?)[ \t]*\Z")
_INI_SECTION_RE = re.compile(r"\[(?P<name>[^\]]+)\]")
_INI_OPTION_RE = re.compile(r"(?P<key>[^=:\s][^=:]*?)\s*[=:]\s*(?P<value>.*)\Z")
# pip reads a key as the long option of that name (``_`` as ``-``), aliases included:
# --index-url is also --pypi-url
_INDEX_KEYS = {
    "index-url",
    "extra-index-url",
    "pypi-url",
    "index_url",
    "extra_index_url",
    "pypi_url",
}
_TOKEN_RE = re.compile(r"\S+")
LITERAL_SPACE = "the URL holds a literal space (write it as %20)"


class PipConf(Kind):
    """pip.conf and pip.ini."""

    kind = FileKind.PIP_CONF

    def scan(self, source: SourceFile, pinned: tuple[str, ...]) -> None:
        text = source.text
        section: str | None = None
        option: str | None = None
        option_indent = 0
        previous: tuple[int, int, str] | None = None
        sections: set[str] = set()  # pip reads the file strictly: no section or key twice
        keys: set[str] = set()
        for number, start, content in lines(text):
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
                    if section in sections:
                        raise FileError(
                            f"is not a valid pip configuration file: section [{section}] "
                            "appears twice, and pip refuses such a file",
                            path=source.path,
                            line=number,
                            hint=f"merge the two [{section}] sections into one",
                        )
                    sections.add(section)
                    keys = set()
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
                if option in keys:
                    raise FileError(
                        f"is not a valid pip configuration file: '{option}' appears twice in "
                        f"[{section}], and pip refuses such a file",
                        path=source.path,
                        line=number,
                        hint=f"keep one '{option}' in [{section}]",
                    )
                keys.add(option)
                option_indent = indent
                value_part, value_at = m_opt.group("value"), indent + m_opt.start("value")
            if option in _INDEX_KEYS and value_part is not None:
                tokens = list(_TOKEN_RE.finditer(value_part))
                skip_to = -1
                for n, token in enumerate(tokens):
                    if n <= skip_to:
                        continue
                    url = token.group(0)
                    azure, problem, is_azure = azure_or_problem(url, pinned)
                    end_at = token.end()
                    if not is_azure:
                        # a literal space cuts an URL into tokens: the rest holds the Azure shape
                        for m, later in enumerate(tokens[n + 1 :], start=n + 1):
                            if "://" in later.group(0):
                                break
                            if looks_like_azure(value_part[token.start() : later.end()]):
                                url = value_part[token.start() : later.end()]
                                azure, problem, is_azure = None, LITERAL_SPACE, True
                                end_at, skip_to = later.end(), m
                                break
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
                            end=at + (end_at - token.start()),
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
                            number, previous[1], end, entries(m_ann.group(1))
                        )
            previous = (number, start, content)

    def place_readable(
        self, source: SourceFile, line: int, ann: Annotation | None, names: list[str]
    ) -> list[Edit]:
        if ann is not None:
            if not names:
                return [Edit(ann.start, ann.end, "")]
            indent = _indent_of(source.text, ann.start)
            ending = _line_end(source.text, ann.end)
            return [Edit(ann.start, ann.end, indent + format_annotation(names) + ending)]
        if names:
            start, _ = source.line_span(line)
            indent = _indent_of(source.text, start)
            return [Edit(start, start, indent + format_annotation(names) + source.newline)]
        return []

    def verify(self, fp: FilePlan, new: str, pinned: tuple[str, ...]) -> None:
        super().verify(fp, new, pinned)
        try:
            before = _ini_values(fp.source.text)
        except configparser.Error as exc:
            raise FileError(
                f"is not a valid pip configuration file: {str(exc).splitlines()[0]}",
                path=fp.source.path,
            ) from None
        changes = fp.url_changes
        for values in before.values():
            for key, value in values.items():
                values[key] = _TOKEN_RE.sub(lambda m: changes.get(m.group(0), m.group(0)), value)
        try:
            after = _ini_values(new)
        except configparser.Error:
            raise bug(fp, "the rewritten file is not valid for pip") from None
        if before != after:
            raise bug(fp, "the rewritten file gives pip other values than planned")


def _ini_values(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser(interpolation=None)  # strict, as pip reads it
    parser.read_string(text.lstrip("\ufeff"))
    return {s: dict(parser.items(s)) for s in parser.sections()}


def _indent_of(text: str, line_start: int) -> str:
    end = line_start
    while end < len(text) and text[end] in " \t":
        end += 1
    return text[line_start:end]


def _line_end(text: str, end: int) -> str:
    if text[max(0, end - 2) : end] == "\r\n":
        return "\r\n"
    if text[max(0, end - 1) : end] == "\n":
        return "\n"
    return ""


KIND = PipConf()
