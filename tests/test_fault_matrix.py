"""Every fault against map, rewrite, rewrite --check and doctor, as real processes (the README's
fault matrix is this table; a test keeps them in step)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _matrix() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fault_matrix", ROOT / "scripts" / "fault_matrix.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["fault_matrix"] = module
    spec.loader.exec_module(module)
    return module


matrix = _matrix()


@pytest.mark.parametrize("fault", matrix.FAULTS, ids=lambda f: f.name)
def test_fault(fault: object, tmp_path: Path) -> None:
    cells = matrix.run_fault(fault, tmp_path / "work")
    failed = [f"{c.command}: {'; '.join(c.problems)}" for c in cells if not c.ok]
    assert not failed, failed


def test_readme_shows_the_matrix() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert matrix.readme_block(text) == matrix.markdown(), (
        "README.md's fault matrix is stale: run 'uv run python scripts/fault_matrix.py --readme'"
    )
