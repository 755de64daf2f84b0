"""requirements / constraints files: ``-i``, ``--index-url`` and ``--extra-index-url`` lines.
The readable name is a trailing comment on the URL's line."""

from __future__ import annotations

import re

from .base import (
    Annotation,
    FileKind,
    Kind,
    Role,
    Site,
    SourceFile,
    annotation_start,
    azure_or_problem,
    entries,
    lines,
)

_REQ_OPTION_RE = re.compile(
    r"(?P<opt>-i|--index-url|--extra-index-url)(?:[ \t]*=[ \t]*|[ \t]+)(?P<url>[^\s#]\S*)"
)
_REQ_ANNOT_RE = re.compile(r"[ \t]#[ \t]*azfeeds:[ \t]*([^#\r\n]*?)[ \t]*\Z")


class Requirements(Kind):
    """requirements*.txt, constraints*.txt (and any .txt/.in named on the command line)."""

    kind = FileKind.REQUIREMENTS

    def scan(self, source: SourceFile, pinned: tuple[str, ...]) -> None:
        for number, start, content in lines(source.text):
            offset = 1 if number == 1 and content.startswith("\ufeff") else 0
            body = content[offset:]
            lead = len(body) - len(body.lstrip())
            m = _REQ_OPTION_RE.match(body, lead)
            if m is None:
                continue
            if m.group("opt") == "-i" and "=" in body[m.end("opt") : m.start("url")]:
                continue
            url = m.group("url")
            azure, problem, is_azure = azure_or_problem(url, pinned)
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
                    annotation_start(source.text, hash_at),
                    start + len(content),
                    entries(m_ann.group(1)),
                )


KIND = Requirements()
