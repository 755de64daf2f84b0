"""Error hints seen by a new user: each must name a fix that works, never one that was just refused."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config
from helpers import run_cli

CANARY = "canary-hint-" + secrets.token_hex(6)


def test_no_credential_hint_behind_api_url_does_not_offer_the_refused_pat(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AZFEEDS_PAT is refused for an http --api-url: the hint must not say 'set AZFEEDS_PAT'."""
    emu: Emulator = emulator_factory(sample_config())
    monkeypatch.setenv("AZFEEDS_PAT", CANARY)
    result = run_cli(["map", "--org", "orgA", "--api-url", emu.url], cwd=tmp_path)
    assert result.code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("azfeeds: warning: not sending AZFEEDS_PAT to 127.0.0.1")
    hint = next(line for line in lines if line.startswith("azfeeds: hint: "))
    assert "set AZFEEDS_PAT" not in hint and "azfeeds login" not in hint, hint
    assert "--pat-file FILE" in hint, hint
    assert [r["credential"] for r in emu.log() if r["route"] == "feeds"] == [None]
    assert CANARY not in result.output

    # and the fix the hint names works
    pat = tmp_path / "pat"
    pat.write_text("pat-a\n")
    fixed = run_cli(
        ["map", "--org", "orgA", "--api-url", emu.url, "--pat-file", str(pat)], cwd=tmp_path
    )
    assert fixed.code == 0, fixed.output
