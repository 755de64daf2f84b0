"""The fuzzer of scripts/fuzz.py under the project's hypothesis profile.

``AZFEEDS_HYPOTHESIS_PROFILE`` picks the profile (tests/conftest.py): "default" runs 150 examples
(what CI runs), "deep" 5000. ``uv run python scripts/fuzz.py --examples N`` runs the same property at
any depth and reports the count. Generated trees: random bytes and mutated fixtures (see the
script's docstring for the property).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings

ROOT = Path(__file__).resolve().parent.parent


def _load_fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location("azfeeds_fuzz", ROOT / "scripts" / "fuzz.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz()


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fuzz.trees())
def test_cli_on_generated_files(files: dict[str, bytes]) -> None:
    fuzz.counted_check(files)


def test_the_fuzzer_counts_its_examples() -> None:
    before = fuzz.Counter.examples
    fuzz.counted_check({"pyproject.toml": b"[tool.uv]\nindex-url = 'x'\n"})
    assert fuzz.Counter.examples == before + 1


def test_the_property_catches_a_partial_write(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that writes and then fails must be caught (the property is not vacuous)."""
    real = fuzz.run_cli

    def writes_then_fails(args: list[str], cwd: Path) -> object:
        result = real(args, cwd)
        if "--check" not in args:
            (cwd / "pyproject.toml").write_bytes(b"# half written\n")
            return fuzz.Outcome(6, result.stdout, "azfeeds: error: x: cannot replace\n")
        return result

    monkeypatch.setattr(fuzz, "run_cli", writes_then_fails)
    with pytest.raises(AssertionError, match="files changed"):
        fuzz.check_tree({"pyproject.toml": b"[tool.uv]\nindex-url = 'x'\n"})


def test_the_script_reports_its_example_count(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz.py"), "--examples", "10", "--seed", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "fuzz: 10 examples run (asked for 10)" in proc.stdout
    assert "fuzz: no failure" in proc.stdout
