"""Exact before/after fixtures for every file type and mode.

``tests/fixtures/rewrite/<case>/before`` is rewritten with ``tests/fixtures/map.json``; the result
must equal ``after-<mode>`` byte for byte (a missing ``after-<mode>`` means: nothing changes). Then
a second run must change nothing, and ``--mode names`` must give back ``before`` byte for byte.

To regenerate the expected files after a deliberate change, run
``AZFEEDS_REGEN_FIXTURES=1 uv run pytest tests/test_fixtures.py`` and review the diff by eye.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from azfeeds.engine import RewriteOptions, rewrite
from azfeeds.planner import Mode

FIXTURES = Path(__file__).parent / "fixtures"
MAP = FIXTURES / "map.json"
CASES = sorted(p.name for p in (FIXTURES / "rewrite").iterdir() if p.is_dir())
REGEN = os.environ.get("AZFEEDS_REGEN_FIXTURES") == "1"


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.mark.parametrize("mode", ["uuid", "add"])
@pytest.mark.parametrize("case", CASES)
def test_fixture(case: str, mode: str, tmp_path: Path) -> None:
    before = FIXTURES / "rewrite" / case / "before"
    expected_dir = FIXTURES / "rewrite" / case / f"after-{mode}"
    work = tmp_path / case
    shutil.copytree(before, work)
    original = _files(work)

    rewrite([work], RewriteOptions(mode=Mode(mode), map_files=(MAP,)))
    actual = _files(work)
    if REGEN:
        if expected_dir.exists():
            shutil.rmtree(expected_dir)
        if actual != original:
            expected_dir.mkdir()
            for name, data in actual.items():
                (expected_dir / name).write_bytes(data)
    expected = _files(expected_dir) if expected_dir.exists() else original
    assert actual == expected

    again = rewrite([work], RewriteOptions(mode=Mode(mode), map_files=(MAP,)))
    assert not again.plan.would_change, "a second run must be a no-op"
    assert _files(work) == expected

    rewrite([work], RewriteOptions(mode=Mode.NAMES, map_files=(MAP,)))
    assert _files(work) == original, "--mode names must restore the original bytes"


@pytest.mark.parametrize("case", CASES)
def test_offline_names_needs_no_map(case: str, tmp_path: Path) -> None:
    """The readable names alone take a rewritten tree back to its original bytes."""
    work = tmp_path / case
    shutil.copytree(FIXTURES / "rewrite" / case / "before", work)
    original = _files(work)
    rewrite([work], RewriteOptions(map_files=(MAP,)))
    rewrite([work], RewriteOptions(mode=Mode.NAMES, offline=True))
    assert _files(work) == original
