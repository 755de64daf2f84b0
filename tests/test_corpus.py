"""A real-world corpus (issue 12 item 10): files written the way real projects write them, with
their exact bytes after ``azfeeds rewrite`` pinned, and the ``names`` round trip for each.

``tests/corpus/<case>/before`` is a project tree (a uv workspace, a Windows checkout with CRLF, an
on-premises server, placeholders, a file with no Azure URL...). It is rewritten with
``tests/fixtures/map.json`` as a directory, the way a user runs azfeeds in it; the result must
equal ``after`` byte for byte (no ``after``: nothing changes). A second run changes nothing,
``--check`` is clean, and ``--mode names`` gives back ``before`` byte for byte, from the readable
names alone and with the map. To regenerate ``after`` after a deliberate change, run
``AZFEEDS_REGEN_CORPUS=1 uv run pytest tests/test_corpus.py`` and review the diff by eye.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from azfeeds.engine import RewriteOptions, rewrite
from azfeeds.planner import Mode

CORPUS = Path(__file__).parent / "corpus"
MAP = Path(__file__).parent / "fixtures" / "map.json"
CASES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
REGEN = os.environ.get("AZFEEDS_REGEN_CORPUS") == "1"
# what each case reports as skipped (file, line): nothing an Azure URL is passed over silently
SKIPPED = {"unhandled": {("pyproject.toml", 7), ("pyproject.toml", 11)}}


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_corpus_is_large_enough() -> None:
    scanned = sum(len(_tree(CORPUS / case / "before")) for case in CASES)
    assert scanned >= 30


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case: str, tmp_path: Path) -> None:
    before = CORPUS / case / "before"
    expected_dir = CORPUS / case / "after"
    work = tmp_path / case
    shutil.copytree(before, work)
    original = _tree(work)
    options = RewriteOptions(map_files=(MAP,))

    result = rewrite([work], options)
    actual = _tree(work)
    if REGEN:
        if expected_dir.exists():
            shutil.rmtree(expected_dir)
        changed = {k: v for k, v in actual.items() if original.get(k) != v}
        for name, data in changed.items():
            (expected_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / name).write_bytes(data)
    expected = {**original, **(_tree(expected_dir) if expected_dir.exists() else {})}
    assert actual == expected
    skipped = {(Path(s.path).relative_to(work).as_posix(), s.line) for s in result.plan.skipped}
    assert skipped == SKIPPED.get(case, set())

    assert not rewrite([work], options).plan.would_change, "a second run must be a no-op"
    assert not rewrite([work], RewriteOptions(map_files=(MAP,), check=True)).changed
    assert _tree(work) == expected

    rewrite([work], RewriteOptions(mode=Mode.NAMES, offline=True))
    assert _tree(work) == original, "names from the readable names alone restore the bytes"
    rewrite([work], options)
    rewrite([work], RewriteOptions(mode=Mode.NAMES, map_files=(MAP,)))
    assert _tree(work) == original, "names with the map restore the bytes"
