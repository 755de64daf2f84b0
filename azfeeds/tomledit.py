"""TOML edits through tomlkit: the only module that imports tomlkit.

azfeeds applies every planned change in place to a tomlkit document of the original file:
string values replaced at their key paths, twin ``[[tool.uv.index]]`` tables inserted after
their entries, removed twins deleted. tomlkit 0.15 normalises some layouts (for example it
re-spaces ``[[array]]`` headers), so the bytes written are the original text with exactly the
planned tokens replaced; that text must parse, with tomlkit, to the same document as the
in-place edit. Any difference stops the run before a single file is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError
from tomlkit.items import AoT, Array, Table

from .errors import FileError
from .kinds.base import TwinEdit, ValueEdit
from .tomlscan import KeyPath


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def parse_checked(text: str, path: Path) -> tomlkit.TOMLDocument:
    """Parse with tomlkit; exit 6 with the line and column on malformed TOML."""
    try:
        return tomlkit.parse(_strip_bom(text))
    except ParseError as exc:
        raise FileError(
            f"is not valid TOML: {_reason(exc)}",
            path=path,
            line=exc.line,
            hint="fix the TOML syntax, then run azfeeds again",
        ) from None
    except TOMLKitError as exc:  # KeyAlreadyPresent and kin: no position
        raise FileError(
            f"is not valid TOML: {exc}",
            path=path,
            hint="fix the TOML, then run azfeeds again",
        ) from None
    except RecursionError:
        raise FileError("is not valid TOML: nested too deeply", path=path) from None


def _reason(exc: TOMLKitError) -> str:
    text = str(exc)
    cut = text.rfind(" at line ")
    return text[:cut] if cut > 0 else text


def _container(doc: tomlkit.TOMLDocument, path: KeyPath) -> Any:
    node: Any = doc
    for part in path:
        node = node[part]
    return node


def apply_in_place(
    doc: tomlkit.TOMLDocument,
    values: Sequence[ValueEdit],
    twins: Sequence[TwinEdit],
    removed: Sequence[KeyPath],
) -> None:
    """Apply the planned edits to a tomlkit document, in place."""
    for edit in values:
        parent = _container(doc, edit.path[:-1])
        parent[edit.path[-1]] = edit.value
    for twin in sorted(twins, key=lambda t: _index(t.after), reverse=True):
        aot = _container(doc, twin.after[:-1])
        table = tomlkit.table()
        table.add("name", twin.name)
        table.add("url", twin.url)
        table.add("explicit", True)
        _insert(aot, _index(twin.after) + 1, table)
    for path in sorted(removed, key=_index, reverse=True):
        aot = _container(doc, path[:-1])
        del aot[_index(path)]


def _index(path: KeyPath) -> int:
    last = path[-1]
    assert isinstance(last, int)
    return last


def _insert(aot: Any, index: int, table: Table) -> None:
    if isinstance(aot, (AoT, Array)):
        aot.insert(index, table)
    else:  # pragma: no cover - the planner only inserts after array-of-tables entries
        raise TypeError("not an array of tables")


def verify_edit(
    path: Path,
    original: str,
    new: str,
    values: Sequence[ValueEdit],
    twins: Sequence[TwinEdit] = (),
    removed: Sequence[KeyPath] = (),
) -> None:
    """Check that ``new`` is ``original`` with exactly the planned edits (exit 6 otherwise)."""
    doc = parse_checked(original, path)
    apply_in_place(doc, values, twins, removed)
    expected = doc.unwrap()
    try:
        actual = tomlkit.parse(_strip_bom(new)).unwrap()
    except TOMLKitError as exc:
        raise FileError(
            f"the rewritten text would not be valid TOML ({_reason(exc)}); nothing was written",
            path=path,
            line=getattr(exc, "line", None),
            hint="this is a bug in azfeeds: please report it with the file's layout",
        ) from None
    if actual != expected:
        raise FileError(
            "the rewrite would change more than the planned values; nothing was written",
            path=path,
            hint="this is a bug in azfeeds: please report it with the file's layout",
        )
