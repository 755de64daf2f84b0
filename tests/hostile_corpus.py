"""Hostile and odd input: handcrafted files, special files and map files, with what azfeeds must do.

Each ``Case`` is a tree of files to create (relative path -> content), the command to run in it,
and the expected outcome: an exit code and a substring of the one-line error, or for a correct
result the exact new bytes of the files that change (every other file must stay byte-identical,
mtime included). ``tests/test_hostile_input.py`` runs every case.

Big inputs (50 MB files, 10,000 levels of nesting, a 20 MB map) are generated at test time by
``Big`` contents, never committed. Offsets and line numbers below are those of the generated text.

A case with ``defect`` set exposes a known defect of azfeeds: it still asserts the correct
behaviour, and runs as a strict xfail, so it fails loudly (XPASS) once the defect is fixed and the
marker must go.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# -- contents -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Big:
    """Bytes generated at test time (large inputs are never committed)."""

    make: Callable[[], bytes]
    label: str

    def __repr__(self) -> str:
        return f"Big({self.label})"


@dataclass(frozen=True)
class Sparse:
    """A sparse file of ``size`` bytes that starts with ``head`` (costs no disk, no memory)."""

    size: int
    head: bytes = b""


@dataclass(frozen=True)
class Link:
    """A symbolic link; ``target`` is written as it is (relative to the link's directory)."""

    target: str


@dataclass(frozen=True)
class ReadOnly:
    """A regular file with mode 0444."""

    data: bytes


@dataclass(frozen=True)
class Unreadable:
    """A regular file with mode 0000 (simulated when the tests run as root)."""

    data: bytes


@dataclass(frozen=True)
class Directory:
    """An empty directory (under a file's name, such as ``pyproject.toml``)."""


@dataclass(frozen=True)
class Locked:
    """A directory with mode 0000: its entries (other paths under it) cannot be listed or read.
    Simulated when the tests run as root."""


@dataclass(frozen=True)
class Fifo:
    """A named pipe (POSIX). Opening it for reading would block: azfeeds must never do it."""


Content = bytes | Big | Sparse | Link | ReadOnly | Unreadable | Directory | Locked | Fifo

REWRITE = ("rewrite", "--map", "{map}", "--recursive")


@dataclass(frozen=True)
class Case:
    """One hostile input and the outcome azfeeds owes it."""

    name: str
    files: Mapping[str, Content]
    args: tuple[str, ...] = REWRITE  # "{map}" is the map file: map_file, else the fixture map
    code: int = 0
    error: str | None = None  # a substring of the one ``azfeeds: error:`` line (code >= 2)
    # the exact new bytes of the files that change; every other file must stay as it was
    result: Mapping[str, bytes | Big] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # substrings expected on stderr (skipped URLs, summaries)
    warnings: tuple[str, ...] = ()  # every ``azfeeds: warning:`` line must match one of these
    stdout: tuple[str, ...] = ()  # substrings expected on stdout
    secrets: tuple[str, ...] = ()  # never printed, never copied into more places in the files
    outside: Mapping[str, bytes] = field(default_factory=dict)  # beside the tree: link targets
    map_file: bytes | Big | Sparse | Directory | None = None  # a hostile map file
    posix: bool = False  # needs symbolic links, FIFOs or permissions
    slow: bool = False  # for a case over 5 s (none is: the 50 MB ones take 0.3 to 2 s)
    defect: str | None = None  # a known defect: strict xfail with this reason
    defect_only_as_root: bool = False


# -- URLs and the map's UUIDs (tests/fixtures/map.json) ---------------------------------------------

P_X = "a1a1a1a1-0000-4000-8000-00000000b001"  # orgA / ProjectX
F_X = "a1a1a1a1-0000-4000-8000-00000000f001"  # orgA / ProjectX / feedx
V_X_REL = "a1a1a1a1-0000-4000-8000-00000000c002"  # feedx@Release
F_SH = "a1a1a1a1-0000-4000-8000-00000000f002"  # orgA / shared (organization-scoped)
V_SH_REL = "a1a1a1a1-0000-4000-8000-00000000c003"  # shared@Release
P_Y = "b2b2b2b2-0000-4000-8000-00000000b001"  # orgB / "Project Y"
F_Y = "b2b2b2b2-0000-4000-8000-00000000f001"  # orgB / Project Y / feedy
P_T = "c3c3c3c3-0000-4000-8000-00000000b001"  # server collection / Tools
F_O = "c3c3c3c3-0000-4000-8000-00000000f001"  # server collection / Tools / onprem

CLOUD = "https://pkgs.dev.azure.com"
X = f"{CLOUD}/orgA/ProjectX/_packaging/feedx/pypi/simple/"
X_ID = f"{CLOUD}/orgA/{P_X}/_packaging/{F_X}/pypi/simple/"
SH = f"{CLOUD}/orgA/_packaging/shared/pypi/simple/"
SH_ID = f"{CLOUD}/orgA/_packaging/{F_SH}/pypi/simple/"
Y = f"{CLOUD}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"
Y_ID = f"{CLOUD}/orgB/{P_Y}/_packaging/{F_Y}/pypi/simple/"
ANN_X = "  # azfeeds: ProjectX/feedx"
SECRET = "hunter2-canary-PAT"  # a credential that must never be printed


def b(text: str) -> bytes:
    """UTF-8 bytes of a text."""
    return text.encode("utf-8")


def uv_index(url: str, name: str = "orga", nl: str = "\n", quote: str = '"') -> str:
    """One ``[[tool.uv.index]]`` table."""
    return f"[[tool.uv.index]]{nl}name = {quote}{name}{quote}{nl}url = {quote}{url}{quote}{nl}"


def uv_index_done(url: str, note: str = ANN_X, name: str = "orga", nl: str = "\n") -> str:
    """The same table after a rewrite: the URL in UUID form with its readable name."""
    return f'[[tool.uv.index]]{nl}name = "{name}"{nl}url = "{url}"{note}{nl}'


X_ESCAPED_SLASHES = X.replace("//", "\\/\\/", 1)  # '\/' is not a TOML escape
X_ESCAPED_FEED = X.replace("feedx", "feed\\u0078")  # a valid escape: the value is X
SH_WITH_ESC = SH.replace("shared", "no\x1b[31mpe")  # a raw ESC: a colour escape sequence
PYPROJECT_X = b(uv_index(X))
PYPROJECT_X_DONE = b(uv_index_done(X_ID))


def map_doc(**changes: object) -> bytes:
    """A map file of orgA/ProjectX/feedx, with top-level keys replaced by ``changes``."""
    doc: dict[str, object] = {
        "schema_version": 1,
        "organizations": [
            {
                "name": "orgA",
                "url": "https://pkgs.dev.azure.com/orgA",
                "feeds": [
                    {
                        "id": F_X,
                        "name": "feedx",
                        "project": {"id": P_X, "name": "ProjectX"},
                        "views": [{"id": V_X_REL, "name": "Release"}],
                    }
                ],
            }
        ],
    }
    doc.update(changes)
    return b(json.dumps(doc))


def org(
    feeds: object, name: object = "orgA", url: object = "https://pkgs.dev.azure.com/orgA"
) -> dict[str, object]:
    """An organization entry of a map file (hostile values welcome)."""
    return {"name": name, "url": url, "feeds": feeds}


def feed(**changes: object) -> dict[str, object]:
    """The feedx entry of a map file with ``changes``."""
    entry: dict[str, object] = {
        "id": F_X,
        "name": "feedx",
        "project": {"id": P_X, "name": "ProjectX"},
        "views": [{"id": V_X_REL, "name": "Release"}],
    }
    entry.update(changes)
    return entry


# -- big inputs, generated at test time -----------------------------------------------------------

MB = 1024 * 1024
_COMMENT_LINE = b"# " + b"x" * 97 + b"\n"  # 100 bytes
_COMMENT_LINES = 500_000  # 50 MB
_DEEP = 10_000


def _comments() -> bytes:
    return _COMMENT_LINE * _COMMENT_LINES


def _big_no_azure() -> bytes:
    return b"[project]\nname = 'big'\n" + _comments()


def _big_pyproject() -> bytes:
    return PYPROJECT_X + _comments()


def _big_pyproject_bad_end() -> bytes:
    return PYPROJECT_X + _comments() + b"this is not toml\n"


def _big_pyproject_latin1_end() -> bytes:
    return PYPROJECT_X + _comments() + b"# caf\xe9\n"


def _big_pyproject_nul_end() -> bytes:
    return PYPROJECT_X + _comments() + b"\x00"


_PIN_LINE = b"package-" + b"x" * 84 + b"==1.0.0\n"  # 100 bytes


def _big_requirements() -> bytes:
    return b(f"--index-url {X}\n") + _PIN_LINE * 500_000


def _big_requirements_done() -> bytes:
    return b(f"--index-url {X_ID}{ANN_X}\n") + _PIN_LINE * 500_000


def _deep_array() -> bytes:
    return PYPROJECT_X + b"deep = " + b"[" * _DEEP + b"]" * _DEEP + b"\n"


def _deep_inline_table() -> bytes:
    return PYPROJECT_X + b"deep = " + b"{a = " * _DEEP + b"1" + b"}" * _DEEP + b"\n"


def _deep_dotted_key() -> bytes:
    return PYPROJECT_X + b"\n[" + b".".join([b"a"] * _DEEP) + b"]\n"


def _deep_json() -> bytes:
    return b'{"schema_version": 1, "organizations": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _map_20mb() -> bytes:
    """orgA with feedx and 50,000 generated feeds (about 20 MB)."""
    feeds = [feed()]
    for i in range(50_000):
        feeds.append(
            {
                "id": f"00000000-0000-4000-8000-{i:012d}",
                "name": f"generated-feed-{i}",
                "project": {"id": f"00000000-0000-4000-9000-{i:012d}", "name": f"Project {i}"},
                "views": [{"id": f"00000000-0000-4000-a000-{i:012d}", "name": "Release"}],
                "description": "d" * 160,
            }
        )
    return b(json.dumps({"schema_version": 1, "organizations": [org(feeds)]}))


# -- the corpus -----------------------------------------------------------------------------------

X_LOCK = b(
    'version = 1\nrevision = 3\n\n[[package]]\nname = "alpha"\nversion = "1.0.0"\n'
    f'source = {{ registry = "{X}" }}\n'
)
TOML_ERROR = "is not valid TOML"

CASES: list[Case] = [
    # --- invalid TOML: exit 6 naming file:line, nothing written -----------------------------------
    Case(
        "toml-bare-line",
        {"pyproject.toml": b(f'[project]\nname = "x"\nbad line\n[tool.uv]\nindex-url = "{X}"\n')},
        code=6,
        error=f"pyproject.toml:3: {TOML_ERROR}",
    ),
    Case(
        "toml-unterminated-string",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "{X}\n')},
        code=6,
        error=f"pyproject.toml:2: {TOML_ERROR}: unterminated string",
    ),
    Case(
        "toml-junk-after-value",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "{X}" "{SH}"\n')},
        code=6,
        error=f"pyproject.toml:2: {TOML_ERROR}",
    ),
    Case(
        "toml-duplicate-key",
        {"pyproject.toml": b(f'[[tool.uv.index]]\nname = "a"\nname = "b"\nurl = "{X}"\n')},
        code=6,
        error=f"pyproject.toml:3: {TOML_ERROR}: duplicate key 'name'",
    ),
    Case(
        "toml-duplicate-url-key",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "{X}"\nindex-url = "{SH}"\n')},
        code=6,
        error=f"pyproject.toml:3: {TOML_ERROR}: duplicate key 'index-url'",
    ),
    Case(
        "toml-table-defined-twice",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "{X}"\n\n[tool.uv]\nnative-tls = true\n')},
        code=6,
        error=f"pyproject.toml:4: {TOML_ERROR}: table [tool.uv] is defined twice",
    ),
    Case(
        "toml-dotted-key-redefines-table",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "{X}"\n[tool]\nuv.index-url = "{SH}"\n')},
        code=6,
        error=f"pyproject.toml:4: {TOML_ERROR}: duplicate key",
    ),
    Case(
        "toml-invalid-escape-in-url",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "{X_ESCAPED_SLASHES}"\n')},
        code=6,
        error=f"pyproject.toml:2: {TOML_ERROR}: invalid escape sequence",
    ),
    Case(
        "toml-bare-cr-line-ending",
        {"pyproject.toml": b("[project]\rname = 'x'\n" + uv_index(X))},
        code=6,
        error=f"pyproject.toml:1: {TOML_ERROR}",
    ),
    Case(
        "uv-toml-unclosed-header",
        {"uv.toml": b(f'index-url = "{X}"\n\n[[index]\nname = "x"\n')},
        code=6,
        error=f"uv.toml:3: {TOML_ERROR}",
    ),
    Case(
        "uv-lock-invalid-beside-a-valid-pyproject",
        {"pyproject.toml": PYPROJECT_X, "uv.lock": X_LOCK + b"[[package]\n"},
        code=6,
        error=f"uv.lock:8: {TOML_ERROR}",
    ),
    Case(
        "toml-invalid-in-one-file-nothing-written-in-the-other",
        {
            "a/pyproject.toml": PYPROJECT_X,
            "b/pyproject.toml": b(f'[tool.uv]\nindex-url = "{SH}"\n= oops\n'),
        },
        code=6,
        error=f"pyproject.toml:3: {TOML_ERROR}",
    ),
    Case(
        "toml-duplicate-key-in-an-inline-table",
        {"pyproject.toml": b(f'x = {{ a = 1, a = 2 }}\n[tool.uv]\nindex-url = "{X}"\n')},
        code=6,
        error=f"pyproject.toml:1: {TOML_ERROR}",
    ),
    Case(
        "toml-duplicate-key-in-an-inline-table-check",
        {"pyproject.toml": b(f'[tool.uv]\nindex = [{{ url = "x", url = "{X}" }}]\n')},
        args=("rewrite", "--check", "--map", "{map}"),
        code=6,
        error=f"pyproject.toml:2: {TOML_ERROR}",
    ),
    Case(
        "toml-array-of-tables-after-a-static-array",
        {"pyproject.toml": b(f'[tool.uv]\nindex = []\n\n[[tool.uv.index]]\nurl = "{X}"\n')},
        code=6,
        error=f"pyproject.toml:4: {TOML_ERROR}",
    ),
    Case(
        "toml-deep-array-10k-levels",
        {"pyproject.toml": Big(_deep_array, "10,000 nested arrays")},
        code=6,
        error="nested too deeply",
    ),
    Case(
        "toml-deep-inline-tables-10k-levels",
        {"pyproject.toml": Big(_deep_inline_table, "10,000 nested inline tables")},
        code=6,
        error="nested too deeply",
    ),
    Case(
        "toml-deep-nesting-names-its-line",
        {"pyproject.toml": Big(_deep_array, "10,000 nested arrays on line 4")},
        code=6,
        error=f"pyproject.toml:4: {TOML_ERROR}",
    ),
    Case(
        "toml-dotted-header-10k-levels",
        {"pyproject.toml": Big(_deep_dotted_key, "a header of 10,000 dotted keys")},
        code=6,
        error=f"pyproject.toml:5: {TOML_ERROR}",
    ),
    Case(
        "toml-huge-integer",
        {"pyproject.toml": b("big = " + "1" * 5000 + "\n" + uv_index(X))},
        code=6,
        error=f"pyproject.toml:1: {TOML_ERROR}",
    ),
    # --- TOML edge syntax that is valid: rewritten exactly, or skipped with the reason -----------
    Case(
        "toml-dotted-keys",
        {"pyproject.toml": b(f'tool.uv.index-url = "{X}"\ntool.uv.native-tls = true\n')},
        result={
            "pyproject.toml": b(f'tool.uv.index-url = "{X_ID}"{ANN_X}\ntool.uv.native-tls = true\n')
        },
    ),
    Case(
        "toml-inline-table-holding-two-urls",
        {
            "pyproject.toml": b(
                f'[tool]\nuv = {{ index-url = "{X}", extra-index-url = ["{SH}"] }}\n'
            )
        },
        result={
            "pyproject.toml": b(
                f'[tool]\nuv = {{ index-url = "{X_ID}", extra-index-url = ["{SH_ID}"] }}'
                "  # azfeeds: ProjectX/feedx, shared\n"
            )
        },
    ),
    Case(
        "toml-literal-string",
        {"pyproject.toml": b(uv_index(X, quote="'"))},
        result={"pyproject.toml": b(f"[[tool.uv.index]]\nname = 'orga'\nurl = '{X_ID}'{ANN_X}\n")},
    ),
    Case(
        "toml-multiline-literal-string-is-skipped",
        {"pyproject.toml": b(f"[tool.uv]\nindex-url = '''{X}'''\n")},
        notes=("skipped pyproject.toml:2 tool.uv.index-url: the URL is a multi-line string",),
    ),
    Case(
        "toml-multiline-basic-string-is-skipped",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = """\n{X}"""\n')},
        notes=("skipped pyproject.toml:2 tool.uv.index-url: the URL is a multi-line string",),
    ),
    Case(
        "toml-escape-in-url-is-skipped",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "{X_ESCAPED_FEED}"\n')},
        notes=("tool.uv.index-url: the URL string uses escape sequences; rewrite it by hand",),
    ),
    Case(
        "toml-arrays-of-tables-spaced-oddly",
        {
            "pyproject.toml": b(
                f'[[ tool . uv . index ]]\n  name  =  "a"\n\turl\t=\t"{X}"\t# mine \t\n  \n'
                f"[[ tool.\"uv\".'index' ]]\nname='b'\nurl='{SH}'   \n"
            )
        },
        result={
            "pyproject.toml": b(
                f'[[ tool . uv . index ]]\n  name  =  "a"\n\turl\t=\t"{X_ID}"\t# mine \t{ANN_X}\n  \n'
                f"[[ tool.\"uv\".'index' ]]\nname='b'\nurl='{SH_ID}'     # azfeeds: shared\n"
            )
        },
    ),
    Case(
        "toml-comments-everywhere-and-a-commented-out-url",
        {
            "pyproject.toml": b(
                f"# top {X}\n[tool.uv] # table\n"
                f'extra-index-url = [ # open\n  # "{SH}",\n  "{X}", # first\n'
                f'\t"https://pypi.org/simple/",\t# not azure\n] # close\n'
            )
        },
        result={
            "pyproject.toml": b(
                f"# top {X}\n[tool.uv] # table\n"
                f'extra-index-url = [ # open\n  # "{SH}",\n  "{X_ID}", # first{ANN_X}\n'
                f'\t"https://pypi.org/simple/",\t# not azure\n] # close\n'
            )
        },
    ),
    Case(
        "toml-crlf",
        {"pyproject.toml": b(uv_index(X, nl="\r\n"))},
        result={"pyproject.toml": b(uv_index_done(X_ID, nl="\r\n"))},
    ),
    Case(
        "toml-mixed-line-endings",
        {
            "pyproject.toml": b(
                f"[project]\r\nname = 'x'\n[tool.uv]\r\nindex-url = '{X}'\r\n# end\n"
            )
        },
        result={
            "pyproject.toml": b(
                f"[project]\r\nname = 'x'\n[tool.uv]\r\nindex-url = '{X_ID}'{ANN_X}\r\n# end\n"
            )
        },
    ),
    Case(
        "toml-crlf-with-uv-lock",
        {"pyproject.toml": b(uv_index(X, nl="\r\n")), "uv.lock": X_LOCK.replace(b"\n", b"\r\n")},
        result={
            "pyproject.toml": b(uv_index_done(X_ID, nl="\r\n")),
            "uv.lock": X_LOCK.replace(b(X), b(X_ID)).replace(b"\n", b"\r\n"),
        },
    ),
    Case(
        "toml-bom",
        {"pyproject.toml": b"\xef\xbb\xbf" + PYPROJECT_X},
        result={"pyproject.toml": b"\xef\xbb\xbf" + PYPROJECT_X_DONE},
    ),
    Case(
        "toml-two-boms",
        {"pyproject.toml": b"\xef\xbb\xbf\xef\xbb\xbf" + PYPROJECT_X},
        code=6,
        error=f"pyproject.toml:1: {TOML_ERROR}",
    ),
    Case(
        "toml-no-newline-at-end",
        {"pyproject.toml": PYPROJECT_X.rstrip(b"\n")},
        result={"pyproject.toml": PYPROJECT_X_DONE.rstrip(b"\n")},
    ),
    # --- encodings and binary content -------------------------------------------------------------
    Case(
        "non-utf8-latin1-comment",
        {"pyproject.toml": b"[tool.uv]\n# caf\xe9\n" + b(f'index-url = "{X}"\n')},
        code=6,
        error="pyproject.toml:2: is not valid UTF-8 (byte 0xe9)",
    ),
    Case(
        "non-utf8-truncated-bom",
        {"pyproject.toml": b"\xef\xbb" + PYPROJECT_X},
        code=6,
        error="pyproject.toml:1: is not valid UTF-8",
    ),
    Case(
        "non-utf8-requirements",
        {"requirements.txt": b(f"--index-url {X}\n") + b"caf\xe9==1\n"},
        code=6,
        error="requirements.txt:2: is not valid UTF-8",
    ),
    Case(
        "nul-byte-in-pyproject",
        {"pyproject.toml": b"# \x00\n" + PYPROJECT_X},
        code=6,
        error="pyproject.toml: contains NUL bytes",
    ),
    Case(
        "nul-byte-in-pip-conf",
        {"pip.conf": b(f"[global]\nindex-url = {X}\n") + b"\x00"},
        code=6,
        error="pip.conf: contains NUL bytes",
    ),
    Case(
        "nul-byte-in-one-file-nothing-written-in-the-other",
        {"a/pyproject.toml": PYPROJECT_X, "b/requirements.txt": b(f"-i {SH}\n\x00\n")},
        code=6,
        error="requirements.txt: contains NUL bytes",
    ),
    # --- huge files (50 MB), generated --------------------------------------------------------------
    Case(
        "huge-50mb-without-azure-urls",
        {"pyproject.toml": Big(_big_no_azure, "50 MB of comments")},
        notes=("nothing to change (1 file scanned)",),
    ),
    Case(
        "huge-50mb-pyproject-check",
        {"pyproject.toml": Big(_big_pyproject, "an index and 50 MB of comments")},
        args=("rewrite", "--check", "--map", "{map}"),
        code=1,
        stdout=("ProjectX/feedx",),
    ),
    Case(
        "huge-50mb-invalid-toml-at-the-end",
        {"pyproject.toml": Big(_big_pyproject_bad_end, "50 MB, then a bad line")},
        code=6,
        error=f"pyproject.toml:500004: {TOML_ERROR}",
    ),
    Case(
        "huge-50mb-non-utf8-at-the-end",
        {"pyproject.toml": Big(_big_pyproject_latin1_end, "50 MB, then latin-1")},
        code=6,
        error="pyproject.toml:500004: is not valid UTF-8 (byte 0xe9)",
    ),
    Case(
        "huge-50mb-nul-at-the-end",
        {"pyproject.toml": Big(_big_pyproject_nul_end, "50 MB, then NUL")},
        code=6,
        error="NUL bytes",
    ),
    Case(
        "huge-50mb-requirements-rewrite",
        {"requirements.txt": Big(_big_requirements, "an index and 50 MB of pins")},
        result={"requirements.txt": Big(_big_requirements_done, "the index rewritten")},
    ),
    # --- pip.conf / pip.ini oddities ------------------------------------------------------------------
    Case(
        "pip-conf-no-section",
        {"pip.conf": b(f"index-url = {X}\n")},
        code=6,
        error="pip.conf:1: is not a valid pip configuration file: a key comes before any [section]",
    ),
    Case(
        "pip-conf-section-twice-is-refused-as-pip-refuses-it",
        {"pip.conf": b(f"[global]\nindex-url = {X}\n[global]\ntimeout = 5\n")},
        code=6,
        error="pip.conf:3: is not a valid pip configuration file: section [global] appears twice",
    ),
    Case(
        "pip-conf-key-twice-in-a-section-is-refused-as-pip-refuses-it",
        {"pip.conf": b(f"[global]\nindex-url = {X}\nIndex-URL = {SH}\n")},
        code=6,
        error="pip.conf:3: is not a valid pip configuration file: 'index-url' appears twice",
    ),
    Case(
        "pip-conf-garbage-line",
        {"pip.conf": b(f"[global]\nindex-url = {X}\nthis is not an option\n")},
        code=6,
        error="pip.conf:3: is not a valid pip configuration file",
    ),
    Case(
        "pip-conf-semicolon-comments-colon-delimiter-underscore-key",
        {
            "pip.conf": b(
                f"; pip configuration\n[global]\n; {X}\nindex-url : {X}\n"
                f"[install]\nextra_index_url={SH}\n"
            )
        },
        result={
            "pip.conf": b(
                f"; pip configuration\n[global]\n; {X}\n# azfeeds: ProjectX/feedx\n"
                f"index-url : {X_ID}\n[install]\n# azfeeds: shared\nextra_index_url={SH_ID}\n"
            )
        },
    ),
    Case(
        "pip-conf-continuation-lines-with-comments-crlf",
        {
            "pip.conf": b(
                "[global]\r\nextra-index-url =\r\n    https://pypi.org/simple/\r\n"
                f"    # {SH}\r\n\t{Y}\r\n"
            )
        },
        result={
            "pip.conf": b(
                "[global]\r\nextra-index-url =\r\n    https://pypi.org/simple/\r\n"
                f"    # {SH}\r\n\t# azfeeds: Project%20Y/feedy\r\n\t{Y_ID}\r\n"
            )
        },
    ),
    Case(
        "pip-ini-with-bom",
        {"pip.ini": b"\xef\xbb\xbf" + b(f"[global]\nindex-url = {X}\n")},
        result={
            "pip.ini": b"\xef\xbb\xbf"
            + b(f"[global]\n# azfeeds: ProjectX/feedx\nindex-url = {X_ID}\n")
        },
    ),
    # --- requirements / constraints oddities --------------------------------------------------------
    Case(
        "requirements-short-option-with-equals-is-not-an-index",  # pip reads '-i=URL' as '=URL'
        {"requirements.txt": b(f"-i={SH}\nalpha\n")},
        notes=("nothing to change (1 file scanned)",),
    ),
    Case(
        "requirements-line-continuation-names-the-url-above",
        {"requirements.txt": b(f"--index-url {SH} \\\n    --trusted-host pkgs.dev.azure.com\n")},
        result={
            "requirements.txt": b(
                f"# azfeeds: shared\n--index-url {SH_ID} \\\n    --trusted-host pkgs.dev.azure.com\n"
            )
        },
    ),
    Case(
        "requirements-comments-and-commented-out-urls",
        {
            "requirements.txt": b(
                f"# --index-url {X}\n  #-i {SH}\n--index-url={X}\t# ours\nalpha  # {SH}\n"
            )
        },
        result={
            "requirements.txt": b(
                f"# --index-url {X}\n  #-i {SH}\n--index-url={X_ID}\t# ours{ANN_X}\nalpha  # {SH}\n"
            )
        },
    ),
    Case(
        "requirements-env-placeholders-in-userinfo",
        {"requirements.txt": b(f"-i https://${{USER}}:${{PAT}}@{SH[8:]}\nalpha\n")},
        result={
            "requirements.txt": b(
                f"-i https://${{USER}}:${{PAT}}@{SH_ID[8:]}  # azfeeds: shared\nalpha\n"
            )
        },
    ),
    Case(
        "constraints-crlf-bom-tab-separated",
        {"constraints-dev.txt": b"\xef\xbb\xbf" + b(f"--extra-index-url\t{Y}\r\nbeta<2\r\n")},
        result={
            "constraints-dev.txt": b"\xef\xbb\xbf"
            + b(f"--extra-index-url\t{Y_ID}  # azfeeds: Project%20Y/feedy\r\nbeta<2\r\n")
        },
    ),
    # --- URL oddities ---------------------------------------------------------------------------------
    Case(
        "url-missing-organization-is-skipped",
        {"pyproject.toml": b(uv_index(f"{CLOUD}/_packaging/feedx/pypi/simple/"))},
        notes=("the organization is missing",),
    ),
    Case(
        "url-pypi-download-is-not-an-index",
        {"pyproject.toml": b(uv_index(f"{CLOUD}/orgA/ProjectX/_packaging/feedx/pypi/download/x/"))},
        notes=("'pypi/download' is not an index URL",),
    ),
    Case(
        "url-empty-segment-and-empty-view-are-skipped",
        {
            "requirements.txt": b(
                f"-i {CLOUD}/orgA//_packaging/feedx/pypi/simple/\n"
                f"--extra-index-url {CLOUD}/orgA/ProjectX/_packaging/feedx@/pypi/simple/\n"
            )
        },
        notes=("the path has an empty segment", "the view after '@' is empty"),
    ),
    Case(
        "url-view-spelled-at-and-percent-40",
        {
            "pyproject.toml": b(
                f'[tool.uv]\nindex-url = "{X.replace("feedx", "feedx%40Release")}"\n'
                f'extra-index-url = ["{SH.replace("shared", "shared@release")}"]\n'
            )
        },
        result={
            "pyproject.toml": b(
                f'[tool.uv]\nindex-url = "{X_ID.replace(F_X, F_X + "%40" + V_X_REL)}"'
                "  # azfeeds: ProjectX/feedx%40Release\n"
                f'extra-index-url = ["{SH_ID.replace(F_SH, F_SH + "@" + V_SH_REL)}"]'
                "  # azfeeds: shared@release\n"
            )
        },
    ),
    Case(
        "url-unknown-view",
        {"pyproject.toml": b(uv_index(X.replace("feedx", "feedx@Nope")))},
        code=5,
        error="pyproject.toml:3: https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx@Nope/"
        "pypi/simple/: unknown view 'Nope'",
    ),
    Case(
        "url-upper-case-host-scheme-and-segments",
        {
            "pyproject.toml": b(
                uv_index("HTTPS://PKGS.DEV.AZURE.COM/ORGA/projectx/_PACKAGING/FEEDX/PYPI/SIMPLE")
            )
        },
        result={
            "pyproject.toml": b(
                uv_index_done(
                    f"HTTPS://PKGS.DEV.AZURE.COM/ORGA/{P_X}/_PACKAGING/{F_X}/PYPI/SIMPLE",
                    "  # azfeeds: projectx/FEEDX",
                )
            )
        },
    ),
    Case(
        "url-query-fragment-and-port",
        {
            "requirements.txt": b(
                "-i https://pkgs.dev.azure.com:443/orgA/_packaging/shared/pypi/simple/?a=1&b=%40#top\n"
            )
        },
        result={
            "requirements.txt": b(
                f"-i https://pkgs.dev.azure.com:443/orgA/_packaging/{F_SH}/pypi/simple/?a=1&b=%40#top"
                "  # azfeeds: shared\n"
            )
        },
    ),
    Case(
        "url-server-collection-and-legacy-host",
        {
            "uv.toml": b(
                '[[index]]\nname = "tools"\n'
                'url = "https://tfs.example.com/tfs/DefaultCollection/Tools/_packaging/onprem/pypi/simple/"\n'
                '[pip]\nindex-url = "https://orgA.pkgs.visualstudio.com/ProjectX/_packaging/feedx/pypi/simple/"\n'
            )
        },
        result={
            "uv.toml": b(
                '[[index]]\nname = "tools"\n'
                f'url = "https://tfs.example.com/tfs/DefaultCollection/{P_T}/_packaging/{F_O}/pypi/simple/"'
                "  # azfeeds: Tools/onprem\n"
                f'[pip]\nindex-url = "https://orgA.pkgs.visualstudio.com/{P_X}/_packaging/{F_X}/pypi/simple/"'
                f"{ANN_X}\n"
            )
        },
    ),
    Case(
        "url-ipv6-loopback-server-not-in-the-map",
        {
            "pyproject.toml": b(
                uv_index("http://[::1]:8080/DefaultCollection/Tools/_packaging/onprem/pypi/simple/")
            )
        },
        code=5,
        error="pyproject.toml:3: http://[::1]:8080/DefaultCollection/Tools/_packaging/onprem/pypi/"
        "simple/: organization 'DefaultCollection' is not in the feed table",
    ),
    Case(
        "url-percent-encoded-newline-forges-a-line",
        {"requirements.txt": b(f"-i {SH.replace('shared', 'nope%0aazfeeds:%20all%20good')}\n")},
        code=5,
        error="unknown feed 'nope%0Aazfeeds: all good'",
    ),
    Case(
        "url-percent-encoded-terminal-escapes",
        {"requirements.txt": b(f"-i {SH.replace('shared', 'x%1b]0;pwned%07%1b[2J')}\n")},
        code=5,
        error="unknown feed 'x%1B]0;pwned%07%1B[2J'",
    ),
    Case(
        "url-raw-escape-in-a-requirements-line",
        {"requirements.txt": b(f"-i {SH_WITH_ESC}\n")},
        code=5,
        error="_packaging/no\\x1b[31mpe/pypi/simple/: unknown feed 'no%1B[31mpe'",
    ),
    Case(
        "toml-raw-escape-in-a-url-string",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "{SH_WITH_ESC}"\n')},
        code=6,
        error=f"pyproject.toml:2: {TOML_ERROR}: control character U+001B is not allowed in TOML",
    ),
    Case(
        "url-with-a-literal-space-is-not-a-url",
        {"pyproject.toml": b(uv_index(f"{CLOUD}/orgB/Project Y/_packaging/feedy/pypi/simple/"))},
        notes=("nothing to change (1 file scanned)",),
    ),
    Case(
        "url-uuid-form-feed-that-exists-nowhere",
        {"pyproject.toml": b(uv_index(X_ID.replace(F_X, F_X[:-1] + "9")))},
        code=5,
        error="pyproject.toml:3: ",
        notes=("exists nowhere in organization 'orgA'",),
    ),
    Case(
        "url-unknown-feed-nothing-written-anywhere",
        {
            "a/pyproject.toml": PYPROJECT_X,
            "b/requirements.txt": b(f"-i {SH.replace('shared', 'missing')}\n"),
        },
        code=5,
        error="requirements.txt:1: ",
        notes=("unknown feed 'missing' in organization 'orgA'",),
    ),
    # --- credentials in URLs: never printed, never copied ------------------------------------------
    Case(
        "credentials-are-kept-in-place-and-never-printed",
        {"pyproject.toml": b(uv_index(f"https://build:{SECRET}@{X[8:]}"))},
        result={"pyproject.toml": b(uv_index_done(f"https://build:{SECRET}@{X_ID[8:]}"))},
        warnings=(
            "pyproject.toml:3: the URL carries credentials (https://***@pkgs.dev.azure.com/",
        ),
        secrets=(SECRET,),
    ),
    Case(
        "credentials-in-diff",
        {"pyproject.toml": b(uv_index(f"https://build:{SECRET}@{X[8:]}"))},
        args=("rewrite", "--diff", "--map", "{map}"),
        warnings=("the URL carries credentials",),
        stdout=('-url = "https://***@pkgs.dev.azure.com/orgA/ProjectX/',),
        secrets=(SECRET,),
    ),
    Case(
        "credentials-in-json",
        {"requirements.txt": b(f"--index-url https://{SECRET}@{SH[8:]}\n")},
        args=("rewrite", "--json", "--map", "{map}"),
        result={
            "requirements.txt": b(f"--index-url https://{SECRET}@{SH_ID[8:]}  # azfeeds: shared\n")
        },
        stdout=('"old": "https://***@pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"',),
        secrets=(SECRET,),
    ),
    Case(
        "credentials-percent-encoded-at-in-userinfo",
        {"pip.conf": b(f"[global]\nindex-url = https://me%40corp.example:{SECRET}%40x@{SH[8:]}\n")},
        result={
            "pip.conf": b(
                f"[global]\n# azfeeds: shared\nindex-url = https://me%40corp.example:{SECRET}%40x@{SH_ID[8:]}\n"
            )
        },
        warnings=("pip.conf:2: the URL carries credentials",),
        secrets=(SECRET, "me%40corp.example"),
    ),
    Case(
        "credentials-are-not-copied-into-a-twin",
        {"pyproject.toml": b(uv_index(f"https://build:{SECRET}@{X[8:]}"))},
        args=("rewrite", "--mode", "add", "--map", "{map}"),
        result={
            "pyproject.toml": b(
                uv_index(f"https://build:{SECRET}@{X[8:]}")
                + '\n[[tool.uv.index]]  # azfeeds: twin of "orga"\nname = "orga-uuid"\n'
                f'url = "{X_ID}"{ANN_X}\nexplicit = true\n'
            )
        },
        warnings=("the URL carries credentials",),
        stdout=("UV_INDEX_ORGA_UUID_USERNAME",),
        secrets=(SECRET,),
    ),
    Case(
        "credentials-stripped",
        {"requirements.txt": b(f"-i https://build:{SECRET}@{X[8:]}\n")},
        args=("rewrite", "--strip-credentials", "--map", "{map}"),
        # the password goes; the user name stays (DESIGN.md section 3: a keyring hint)
        result={"requirements.txt": b(f"-i https://build@{X_ID[8:]}{ANN_X}\n")},
        secrets=(SECRET,),
    ),
    Case(
        "credentials-in-an-error",
        {
            "pyproject.toml": b(
                uv_index(f"https://build:{SECRET}@{SH[8:].replace('shared', 'nope')}")
            )
        },
        code=5,
        error="pyproject.toml:3: https://***@pkgs.dev.azure.com/orgA/_packaging/nope/pypi/simple/: "
        "unknown feed 'nope'",
        secrets=(SECRET,),
    ),
    Case(
        "credentials-in-a-skipped-url",
        {
            "requirements.txt": b(
                f"-i https://build:{SECRET}@pkgs.dev.azure.com/_packaging/x/pypi/simple/\n"
            )
        },
        notes=("skipped requirements.txt:1 -i: the organization is missing",),
        secrets=(SECRET,),
    ),
    Case(
        "credentials-beside-a-toml-error",
        {"pyproject.toml": b(f'[tool.uv]\nindex-url = "https://build:{SECRET}@{X[8:]}" oops\n')},
        code=6,
        error=f"pyproject.toml:2: {TOML_ERROR}",
        secrets=(SECRET,),
    ),
    Case(
        "credentials-doctor-offline",
        {"pyproject.toml": b(uv_index(f"https://build:{SECRET}@{X[8:]}"))},
        args=("doctor", "--offline"),
        code=1,
        stdout=("the URL carries credentials",),
        secrets=(SECRET,),
    ),
    Case(
        "credentials-env",
        {"pyproject.toml": b(uv_index(f"https://build:{SECRET}@{X[8:]}"))},
        args=("env", "--json"),
        stdout=('"password_variable": "UV_INDEX_ORGA_PASSWORD"',),
        secrets=(SECRET,),
    ),
    # --- look-alike hosts: servers, unknown to the map ----------------------------------------------
    Case(
        "look-alike-host-suffix",
        {
            "pyproject.toml": b(
                uv_index(X.replace("pkgs.dev.azure.com", "pkgs.dev.azure.com.evil.example"))
            )
        },
        code=5,
        error="pyproject.toml:3: https://pkgs.dev.azure.com.evil.example/orgA/ProjectX/_packaging/"
        "feedx/pypi/simple/: organization 'orgA' is not in the feed table",
    ),
    Case(
        "look-alike-host-prefix",
        {"requirements.txt": b(f"alpha\n--index-url {SH.replace('pkgs.dev', 'evilpkgs.dev')}\n")},
        code=5,
        error="requirements.txt:2: https://evilpkgs.dev.azure.com/orgA/_packaging/shared/",
    ),
    Case(
        "look-alike-legacy-host",
        {
            "pip.conf": b(
                "[global]\nindex-url = https://orgA.pkgs.visualstudio.com.evil.example/ProjectX/_packaging/feedx/pypi/simple/\n"
            )
        },
        code=5,
        error="pip.conf:2: https://orgA.pkgs.visualstudio.com.evil.example/",
    ),
    Case(
        "look-alike-host-with-credentials",
        {
            "pyproject.toml": b(
                uv_index(
                    f"https://u:{SECRET}@pkgs.dev.azure.com.evil.example/orgA/_packaging/shared/pypi/simple/"
                )
            )
        },
        code=5,
        error="pyproject.toml:3: https://***@pkgs.dev.azure.com.evil.example/",
        secrets=(SECRET,),
    ),
    Case(
        "look-alike-hosts-check-offline-count-as-changes",
        {
            "pyproject.toml": b(
                uv_index(X.replace("pkgs.dev.azure.com", "pkgs.dev.azure.com.evil.example"))
            ),
            "requirements.txt": b(f"-i {SH.replace('pkgs.dev', 'evilpkgs.dev')}\n"),
        },
        args=("rewrite", "--check", "--offline", "--recursive"),
        code=1,
        stdout=("(UUID form: not resolved offline)",),
        notes=("would make 2 changes in 2 files",),
        warnings=("imitates Azure DevOps (pkgs.dev.azure.com) but is not it",),
    ),
    # --- hostile map files ------------------------------------------------------------------------------
    Case(
        "map-not-json",
        {"pyproject.toml": PYPROJECT_X},
        map_file=b"hello",
        code=6,
        error="map file is not valid JSON",
    ),
    Case(
        "map-empty",
        {"pyproject.toml": PYPROJECT_X},
        map_file=b"",
        code=6,
        error="map file is not valid JSON",
    ),
    Case(
        "map-json-array",
        {"pyproject.toml": PYPROJECT_X},
        map_file=b"[]",
        code=6,
        error="invalid map file: document: expected an object, got an array",
    ),
    Case(
        "map-schema-version-99",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(schema_version=99),
        code=6,
        error="map file schema_version 99 is not supported (this azfeeds reads version 1)",
    ),
    Case(
        "map-schema-version-string",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(schema_version="1"),
        code=6,
        error="schema_version: expected an integer, got a string",
    ),
    Case(
        "map-schema-version-negative",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(schema_version=-1),
        code=6,
        error="schema_version -1 is not supported",
    ),
    Case(
        "map-schema-version-boolean",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(schema_version=True),
        code=6,
        error="schema_version: expected an integer, got a boolean",
    ),
    Case(
        "map-schema-version-missing",
        {"pyproject.toml": PYPROJECT_X},
        map_file=b'{"organizations": []}',
        code=6,
        error="schema_version: expected an integer, got null",
    ),
    Case(
        "map-organizations-object",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations={}),
        code=6,
        error="organizations: expected an array, got an object",
    ),
    Case(
        "map-organization-is-a-string",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=["orgA"]),
        code=6,
        error="organizations[0]: expected an object, got a string",
    ),
    Case(
        "map-organization-name-number",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([], name=3)]),
        code=6,
        error="organizations[0].name: expected a non-empty string, got a number",
    ),
    Case(
        "map-organization-url-not-http",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([], url="file:///etc/passwd")]),
        code=6,
        error="organizations[0].url: expected an http(s) URL",
    ),
    Case(
        "map-feeds-null",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org(None)]),
        code=6,
        error="organizations[0].feeds: expected an array, got null",
    ),
    Case(
        "map-feed-is-an-array",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([[]])]),
        code=6,
        error="organizations[0].feeds[0]: expected an object, got an array",
    ),
    Case(
        "map-feed-id-missing",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([feed(id=None)])]),
        code=6,
        error="organizations[0].feeds[0].id: expected a non-empty string, got null",
    ),
    Case(
        "map-feed-id-not-a-uuid",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([feed(id="1f682db7-3995-4f32-afeb-fa23a36322dZ")])]),
        code=6,
        error="organizations[0].feeds[0].id: expected a UUID",
    ),
    Case(
        "map-feed-name-blank",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([feed(name="  ")])]),
        code=6,
        error="organizations[0].feeds[0].name: expected a non-empty string",
    ),
    Case(
        "map-project-is-a-string",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([feed(project="ProjectX")])]),
        code=6,
        error="organizations[0].feeds[0].project: expected an object, got a string",
    ),
    Case(
        "map-project-id-bad-uuid",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([feed(project={"id": P_X[:-1], "name": "ProjectX"})])]),
        code=6,
        error="organizations[0].feeds[0].project.id: expected a UUID",
    ),
    Case(
        "map-views-object",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([feed(views={})])]),
        code=6,
        error="organizations[0].feeds[0].views: expected an array, got an object",
    ),
    Case(
        "map-view-without-id",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([feed(views=[{"name": "Release"}])])]),
        code=6,
        error="organizations[0].feeds[0].views[0].id: expected a non-empty string, got null",
    ),
    Case(
        "map-duplicate-feeds",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([feed(), feed(name="FEEDX")])]),
        code=6,
        error="organizations[0].feeds[1].name: duplicate feed name 'FEEDX'",
    ),
    Case(
        "map-duplicate-organizations",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(organizations=[org([]), org([], name="ORGA")]),
        code=6,
        error="organizations[1].url: organization 'ORGA' appears twice",
    ),
    Case(
        "map-nested-100k-levels",
        {"pyproject.toml": PYPROJECT_X},
        map_file=Big(_deep_json, "100,000 nested arrays"),
        code=6,
        error="map file is nested too deeply",
    ),
    Case(
        "map-not-utf8",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc().replace(b'"orgA"', b'"org\xe9"'),
        code=6,
        error="map file is not UTF-8",
    ),
    Case(
        "map-utf16",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc().decode().encode("utf-16"),
        code=6,
        error="map file is not UTF-8",
    ),
    Case(
        "utf16-pyproject-in-a-walk-is-skipped-with-a-warning",
        {"pyproject.toml": PYPROJECT_X.decode().encode("utf-16")},
        warnings=("pyproject.toml: skipped, UTF-16 or UTF-32 text",),
    ),
    Case(
        "utf16-pyproject-given-by-name",
        {"pyproject.toml": PYPROJECT_X.decode().encode("utf-16")},
        args=("rewrite", "--map", "{map}", "pyproject.toml"),
        code=6,
        error="pyproject.toml: is UTF-16 or UTF-32 text; azfeeds edits UTF-8 files only",
    ),
    Case(
        "map-huge-integer",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc().replace(b'"schema_version": 1', b'"schema_version": 1' + b"0" * 5000),
        code=6,
        error="map.json:1: map file holds a 5001-digit number",
    ),
    Case(
        "map-is-a-directory",
        {"pyproject.toml": PYPROJECT_X},
        map_file=Directory(),
        code=6,
        error="is a directory, not a map file",
    ),
    Case(
        "map-over-the-64mb-limit",
        {"pyproject.toml": PYPROJECT_X},
        map_file=Sparse(65 * MB, b'{"schema_version": 1, "organizations": []}'),
        code=6,
        error="map file is 68157440 bytes; the limit is 67108864",
    ),
    Case(
        "map-20mb",
        {"pyproject.toml": PYPROJECT_X},
        map_file=Big(_map_20mb, "50,000 feeds, about 20 MB"),
        result={"pyproject.toml": PYPROJECT_X_DONE},
    ),
    Case(
        "map-with-bom-and-extra-fields",
        {"pyproject.toml": PYPROJECT_X},
        map_file=b"\xef\xbb\xbf" + map_doc(generator={"name": "someone else", "n": [1, 2.5, None]}),
        result={"pyproject.toml": PYPROJECT_X_DONE},
    ),
    Case(
        "map-organization-on-a-look-alike-host",
        {"pyproject.toml": PYPROJECT_X},
        map_file=map_doc(
            organizations=[org([feed()], url="https://pkgs.dev.azure.com.evil.example/orgA")]
        ),
        code=5,
        error="pyproject.toml:3: https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/"
        "simple/: organization 'orgA' is not in the feed table",
    ),
    # --- directories, special files, symbolic links, permissions -----------------------------------
    Case(
        "directory-named-pyproject-toml",
        {"pyproject.toml": Directory(), "uv.lock": X_LOCK},
        notes=("nothing to change (1 file scanned)",),
    ),
    Case(
        "directory-named-pyproject-toml-given-by-name",
        {"pyproject.toml": Directory()},
        args=("rewrite", "--map", "{map}", "pyproject.toml"),
        notes=("nothing to change (0 files scanned)",),
        warnings=("found no file azfeeds handles",),
    ),
    Case(
        "fifo-named-pyproject-toml-is-never-opened",
        {"pyproject.toml": Fifo(), "sub/requirements.txt": b(f"-i {SH}\n")},
        result={"sub/requirements.txt": b(f"-i {SH_ID}  # azfeeds: shared\n")},
        posix=True,
    ),
    Case(
        "fifo-named-pyproject-toml-given-by-name",
        {"pyproject.toml": Fifo()},
        args=("rewrite", "--map", "{map}", "pyproject.toml"),
        code=6,
        error="pyproject.toml: is not a regular file",
        posix=True,
    ),
    Case(
        "fifo-named-pyproject-toml-doctor",
        {"pyproject.toml": Fifo()},
        args=("doctor", "--offline"),
        stdout=("No Azure Artifacts index found.",),
        posix=True,
    ),
    Case(
        "fifo-beside-a-uv-lock",
        {"pyproject.toml": Fifo(), "uv.lock": X_LOCK},
        notes=("nothing to change (1 file scanned)",),
        posix=True,
    ),
    Case(
        "symlink-out-of-the-tree",
        {"pyproject.toml": Link("../outside/pyproject.toml")},
        outside={"pyproject.toml": PYPROJECT_X},
        warnings=("pyproject.toml: skipped, a symbolic link that points out of the tree",),
        posix=True,
    ),
    Case(
        "symlinked-directory-out-of-the-tree",
        {"vendor": Link("../outside"), "requirements.txt": b"alpha\n"},
        outside={"pyproject.toml": PYPROJECT_X, "requirements.txt": b(f"-i {SH}\n")},
        notes=("nothing to change (1 file scanned)",),
        posix=True,
    ),
    Case(
        "symlink-chain-leaving-the-tree",
        {
            "a/pyproject.toml": Link("../b/pyproject.toml"),
            "b/pyproject.toml": Link("../../outside/pyproject.toml"),
        },
        outside={"pyproject.toml": PYPROJECT_X},
        warnings=("points out of the tree",),
        posix=True,
    ),
    Case(
        "symlink-out-of-the-tree-beside-a-uv-lock",
        {"pyproject.toml": Link("../outside/pyproject.toml"), "uv.lock": X_LOCK},
        outside={"pyproject.toml": PYPROJECT_X_DONE},
        warnings=("pyproject.toml: skipped, a symbolic link that points out of the tree",),
        notes=("nothing to change (1 file scanned)",),
        posix=True,
    ),
    Case(
        "symlink-inside-the-tree-is-followed-and-kept",
        {
            "app/pyproject.toml": Link("../configs/pyproject.toml"),
            "configs/pyproject.toml": PYPROJECT_X,
        },
        result={"configs/pyproject.toml": PYPROJECT_X_DONE},
        posix=True,
    ),
    Case(
        "symlink-loop",
        {
            "pyproject.toml": Link("pyproject.toml"),
            "sub/uv.toml": Link("../sub2/uv.toml"),
            "sub2/uv.toml": Link("../sub/uv.toml"),
            "sub/self": Link("."),
        },
        notes=("nothing to change (0 files scanned)",),
        warnings=("found no file azfeeds handles",),
        posix=True,
    ),
    Case(
        "symlink-loop-given-by-name",
        {"pyproject.toml": Link("pyproject.toml")},
        args=("rewrite", "--map", "{map}", "pyproject.toml"),
        code=6,
        error="pyproject.toml: cannot read",
        posix=True,
    ),
    Case(
        "symlink-dangling",
        {"requirements.txt": Link("nowhere/requirements.txt")},
        notes=("nothing to change (0 files scanned)",),
        warnings=("found no file azfeeds handles",),
        posix=True,
    ),
    Case(
        "read-only-file",
        {"pyproject.toml": ReadOnly(PYPROJECT_X)},
        code=6,
        error="pyproject.toml: is read-only",
        posix=True,
    ),
    Case(
        "read-only-file-and-a-writable-one-nothing-written",
        {"a/pyproject.toml": PYPROJECT_X, "b/pyproject.toml": ReadOnly(b(uv_index(SH)))},
        code=6,
        error="pyproject.toml: is read-only",
        posix=True,
    ),
    Case(
        "read-only-file-with-nothing-to-change",
        {"pyproject.toml": ReadOnly(PYPROJECT_X_DONE)},
        notes=("nothing to change (1 file scanned)",),
        posix=True,
    ),
    Case(
        "unreadable-file",
        {"pyproject.toml": Unreadable(PYPROJECT_X)},
        code=6,
        error="pyproject.toml: permission denied while reading",
        posix=True,
    ),
    Case(
        "unreadable-directory-is-skipped",
        {"locked": Locked(), "locked/pyproject.toml": PYPROJECT_X, "requirements.txt": b"alpha\n"},
        warnings=("locked: skipped, cannot list it",),
        posix=True,
    ),
    Case(
        "file-in-an-unreadable-directory-given-by-name",
        {"locked": Locked(), "locked/pyproject.toml": PYPROJECT_X},
        args=("rewrite", "--map", "{map}", "locked/pyproject.toml"),
        code=6,
        error="locked/pyproject.toml: permission denied: a directory on its path cannot be searched",
        posix=True,
    ),
    # --- other commands on hostile files ------------------------------------------------------------
    Case(
        "doctor-on-invalid-toml",
        {"pyproject.toml": b(f'[project]\nname = "x"\nbad line\n[tool.uv]\nindex-url = "{X}"\n')},
        args=("doctor", "--offline"),
        code=6,
        error=f"pyproject.toml:3: {TOML_ERROR}",
    ),
    Case(
        "env-on-non-utf8",
        {"pyproject.toml": b"# caf\xe9\n" + PYPROJECT_X},
        args=("env",),
        code=6,
        error="pyproject.toml:1: is not valid UTF-8",
    ),
    Case(
        "json-error-document",
        {"pyproject.toml": b(f"[tool.uv]\nindex-url = '{X}\n")},
        args=("rewrite", "--json", "--map", "{map}"),
        code=6,
        error=f"pyproject.toml:2: {TOML_ERROR}",
    ),
    Case(
        "diff-on-invalid-pip-conf",
        {"pip.conf": b(f"index-url = {X}\n")},
        args=("rewrite", "--diff", "--map", "{map}"),
        code=6,
        error="pip.conf:1: ",
    ),
    Case(
        "names-mode-uuid-url-without-readable-name",
        {"pyproject.toml": b(uv_index(f"{CLOUD}/orgZ/{P_X}/_packaging/{F_X}/pypi/simple/"))},
        args=("rewrite", "--mode", "names", "--map", "{map}"),
        code=5,
        error="no readable name is written beside this UUID URL",
    ),
    Case(
        "names-mode-restores-odd-bytes",
        {
            "pyproject.toml": b(
                f"[tool.uv]\r\nindex-url = '{X_ID}'\t# mine  # azfeeds: ProjectX/feedx\r\n"
            )
        },
        args=("rewrite", "--mode", "names", "--map", "{map}"),
        result={"pyproject.toml": b(f"[tool.uv]\r\nindex-url = '{X}'\t# mine\r\n")},
    ),
    Case(
        "renamed-project-is-idempotent",
        {"pyproject.toml": b(uv_index(X.replace("ProjectX", "ProjectZ")))},
        # The readable name written is the feed's current one, so the next run finds nothing
        # to rename (--mode names then gives the URL with the project's current name).
        result={"pyproject.toml": b(uv_index_done(X_ID, "  # azfeeds: ProjectX/feedx"))},
        warnings=("the URL names project 'ProjectZ', but feed 'feedx' is in project 'ProjectX'",),
    ),
]

BY_NAME = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"
