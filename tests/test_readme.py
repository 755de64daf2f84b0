"""The README is the manual: its command reference must match --help, command by command."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _sync() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sync_readme", ROOT / "scripts" / "sync_readme.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["sync_readme"] = module
    spec.loader.exec_module(module)
    return module


def test_every_command_has_a_help_block() -> None:
    sync = _sync()
    _, missing = sync.render(sync.README.read_text(encoding="utf-8"))
    assert missing == [], f"add a help block to README.md for: {missing}"


def test_help_blocks_match_help_output() -> None:
    sync = _sync()
    text = sync.README.read_text(encoding="utf-8")
    new, _ = sync.render(text)
    assert new == text, (
        "README.md's command reference is stale: run 'uv run python scripts/sync_readme.py'"
    )


def test_readme_gives_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "uv run python scripts/demo.py" in text
    assert "uv run pytest" in text
