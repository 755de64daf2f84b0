"""The TOML scanner agrees with a real TOML parser on every string, and knows its exact span."""

from __future__ import annotations

from typing import Any

import pytest
import tomlkit
from hypothesis import given
from hypothesis import strategies as st

from azfeeds.tomlscan import TomlSyntaxError, scan_toml

tomllib = pytest.importorskip("tomllib")

SAMPLES = [
    'a = "x"\n',
    "a = 'lit\\eral'\n",
    'a = """\nline one\nline two \\\n   joined"""\n',
    "a = '''\nraw ' text ''\n'''\n",
    'a = "esc \\" \\\\ \\u00e9 \\t"\n',
    'a.b . "c d" = "dotted"\n',
    '[t]\nx = ["a", [ "b", "c" ], {k = "d"}]\n',
    '[t]\nx = [\n  "a", # comment\n  # another\n  "b",\n]\n',
    '[[p]]\nn = "1"\n[p.m]\nr = ["x"]\n[[p]]\nn = "2"\n[[p.w]]\nu = "w1"\n[[p.w]]\nu = "w2"\n',
    'd = 1979-05-27 07:32:00Z\ne = 1979-05-27\nf = 07:32:00\ng = 1_000\nh = -inf\ni = 0xdead_beef\nj = true\ns = "after"\n',
    "\ufeff# bom\nk = 'v'\r\n[x]\r\ny = \"z\"\r\n",
    '[a."b.c".d]\ne = "f"\n',
    'x = { a = "1", b = { c = "2" } }\n',
    '[[tool.uv.index]]\nname = "n"\nurl = \'u\'\n\n[[tool.uv.index]]\nname = "m"\n',
]


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [item for k, v in value.items() for item in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _leaves(v, (*path, i))]
    return []


def _check(text: str) -> None:
    expected = sorted(_leaves(tomllib.loads(text.lstrip("\ufeff"))), key=repr)
    scan = scan_toml(text)
    got = sorted(((s.path, s.value) for s in scan.strings), key=repr)
    assert got == expected
    for s in scan.strings:
        token = text[s.start : s.end]
        assert token.startswith(s.quote) and token.endswith(s.quote)
        assert scan.line_of(s.start) == s.line


@pytest.mark.parametrize("text", SAMPLES)
def test_samples_agree_with_tomllib(text: str) -> None:
    _check(text)


def test_tables_and_comments() -> None:
    text = '[[tool.uv.index]]  # first\nname = "a"\nurl = "u"  # mine\n\n# between\n[[tool.uv.index]]\nname = "b"\n'
    scan = scan_toml(text)
    first, second = scan.tables
    assert first.path == ("tool", "uv", "index", 0) and first.is_array
    assert second.path == ("tool", "uv", "index", 1)
    assert text[first.last_stmt_end :].startswith("\n# between")
    assert text[slice(*scan.comments[3])] == "# mine"
    assert first.header_text == "[[tool.uv.index]]"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('a = "unterminated\n', 1),
        ("a = \n", 1),
        ('x = 1\ny = "a" "b"\n', 2),
        ("[t\n", 1),
        ("a = [1, 2\n", 2),
        ("a = { b = 1\n", 2),
        ("= 1\n", 1),
        ('a = "bad \\q escape"\n', 1),
        ("a = nope\n", 1),
        ("a = 1\nb = 2\na = 3\n", 3),
        ("[t]\nx = 1\n[u]\n[t]\n", 4),
        ("[t]\nx.y = 1\nx.y = 2\n", 3),
    ],
)
def test_syntax_errors_have_lines(text: str, line: int) -> None:
    with pytest.raises(TomlSyntaxError) as info:
        scan_toml(text)
    assert info.value.line == line


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(TomlSyntaxError):
        scan_toml("a = " + "[" * 5000 + "]" * 5000 + "\n")


_keys = st.text(alphabet="abcxyz-_.é ", min_size=1, max_size=6)
_strings = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_scalars = st.one_of(_strings, st.integers(-1000, 1000), st.booleans())
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=3)),
    max_leaves=12,
)
_documents = st.dictionaries(_keys, _values, max_size=6)


@given(_documents)
def test_random_documents_agree_with_tomllib(doc: dict[str, Any]) -> None:
    _check(tomlkit.dumps(doc))
