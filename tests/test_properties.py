"""Property tests of the rewrite engine on generated files.

- names(uuid(x)) == x and names(add(x)) == x, byte for byte;
- a second run changes nothing (idempotence);
- bytes outside the rewritten URLs and azfeeds' readable-name comments never change.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from azfeeds.engine import RewriteOptions, rewrite
from azfeeds.planner import Mode

MAP = Path(__file__).parent / "fixtures" / "map.json"

AZURE = [
    "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/",
    "https://pkgs.dev.azure.com/orgA/projectx/_packaging/FEEDX/pypi/simple",
    "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx@Release/pypi/simple/",
    "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx%40Local/pypi/simple/",
    "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/",
    "https://pkgs.dev.azure.com/orgA/_packaging/shared@Release/pypi/upload/",
    "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/",
    "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy%40Release/pypi/simple/",
    "https://orgA.pkgs.visualstudio.com/ProjectX/_packaging/feedx/pypi/simple/",
    "https://tfs.example.com/tfs/DefaultCollection/Tools/_packaging/onprem/pypi/simple/",
    "https://${USER}:${PAT}@pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/",
    "https://build:secret-value@pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/",
]
OTHER = [
    "https://pypi.org/simple/",
    "https://mirror.example.com/simple",
    "https://example.com/_packaging/x/",
]
_URL_RE = re.compile(r"https?://[^\s\"']+")
_INLINE_ANNOTATION_RE = re.compile(r"  # azfeeds: [^\r\n]*")

urls = st.sampled_from(AZURE + OTHER)
newlines = st.sampled_from(["\n", "\r\n"])
spacing = st.sampled_from([" = ", "=", "   =\t"])
comments = st.sampled_from(
    [
        "",
        "  # mine",
        " #x",
        "\t# tab",
        "  # url = 'https://pkgs.dev.azure.com/o/_packaging/f/pypi/simple/'",
    ]
)


@st.composite
def pyprojects(draw: st.DrawFn) -> str:
    nl = draw(newlines)
    parts = [f'[project]{nl}name = "generated"{nl}version = "0.1.0"{nl}']
    for i in range(draw(st.integers(1, 4))):
        quote = draw(st.sampled_from(['"', "'"]))
        sep = draw(spacing)
        blank = draw(st.sampled_from(["", nl, nl + "# about the next index" + nl]))
        parts.append(
            f"{blank}[[tool.uv.index]]{nl}name{sep}{quote}index-{i}{quote}{nl}"
            f"url{sep}{quote}{draw(urls)}{quote}{draw(comments)}{nl}"
        )
        if draw(st.booleans()):
            parts.append(f"explicit = true{nl}")
    extra = draw(st.lists(urls, max_size=3))
    if extra:
        if draw(st.booleans()):
            items = ", ".join(f'"{u}"' for u in extra)
            parts.append(f"{nl}[tool.uv]{nl}extra-index-url = [{items}]{draw(comments)}{nl}")
        else:
            items = "".join(f'    "{u}",{draw(comments)}{nl}' for u in extra)
            parts.append(f"{nl}[tool.uv]{nl}extra-index-url = [{nl}{items}]{nl}")
    text = "".join(parts)
    if draw(st.booleans()):
        text = "\ufeff" + text
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text


@st.composite
def requirements(draw: st.DrawFn) -> str:
    nl = draw(newlines)
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        option = draw(
            st.sampled_from(
                [
                    "-i ",
                    "--index-url ",
                    "--index-url=",
                    "--extra-index-url ",
                    "  --extra-index-url=",
                ]
            )
        )
        lines.append(f"{option}{draw(urls)}{draw(comments)}")
        lines.append(
            draw(
                st.sampled_from(
                    ["alpha>=1", "# a comment", "", "beta==2.0 ; python_version >= '3.10'"]
                )
            )
        )
    return nl.join(lines) + draw(st.sampled_from(["", nl]))


@st.composite
def pip_confs(draw: st.DrawFn) -> str:
    nl = draw(newlines)
    lines = ["[global]", f"timeout = {draw(st.integers(1, 99))}"]
    lines.append(f"index-url = {draw(urls)}")
    extra = draw(st.lists(urls, min_size=1, max_size=3))
    if draw(st.booleans()):
        lines.append("extra-index-url =")
        lines.extend(f"    {u}" for u in extra)
    else:
        lines.append("extra-index-url = " + " ".join(extra))
    return nl.join(lines) + nl


def _outside(text: str) -> str:
    """Everything but URLs and azfeeds' readable names."""
    text = re.sub(r"(?m)^[ \t]*# azfeeds: [^\r\n]*\r?\n", "", text)
    text = _INLINE_ANNOTATION_RE.sub("", text)
    return _URL_RE.sub("<url>", text)


def _cycle(name: str, text: str, mode: Mode) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        original = text.encode("utf-8")
        path.write_bytes(original)
        rewrite([path], RewriteOptions(mode=mode, map_files=(MAP,)))
        once = path.read_bytes()
        assert _outside(once.decode("utf-8")) == _outside(text), "bytes outside URLs changed"
        again = rewrite([path], RewriteOptions(mode=mode, map_files=(MAP,)))
        assert not again.plan.would_change and path.read_bytes() == once, "not idempotent"
        rewrite([path], RewriteOptions(mode=Mode.NAMES, map_files=(MAP,)))
        assert path.read_bytes() == original, "names did not restore the original bytes"


@given(pyprojects(), st.sampled_from([Mode.UUID, Mode.ADD]))
def test_pyproject_round_trip(text: str, mode: Mode) -> None:
    if mode is Mode.ADD:
        # add then names is exact; bytes outside differ by the twin tables, checked below
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pyproject.toml"
            path.write_bytes(text.encode("utf-8"))
            rewrite([path], RewriteOptions(mode=mode, map_files=(MAP,)))
            once = path.read_bytes()
            again = rewrite([path], RewriteOptions(mode=mode, map_files=(MAP,)))
            assert not again.plan.would_change and path.read_bytes() == once
            rewrite([path], RewriteOptions(mode=Mode.NAMES, map_files=(MAP,)))
            assert path.read_bytes() == text.encode("utf-8")
        return
    _cycle("pyproject.toml", text, mode)


@given(requirements())
def test_requirements_round_trip(text: str) -> None:
    _cycle("requirements.txt", text, Mode.UUID)


@given(pip_confs())
def test_pip_conf_round_trip(text: str) -> None:
    _cycle("pip.conf", text, Mode.UUID)
