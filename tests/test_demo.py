"""The README's demo command runs, tells the story, and leaves nothing running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
def test_demo() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "401 Unauthorized" in out
    assert "+url = " in out and "# azfeeds: Platform/python-internal" in out
    assert "+ fabrikam-models==0.9.2" in out
    assert "emulator stopped (exit code 0)" in out
    pid = int(re.search(r"pid (\d+)", out).group(1))  # type: ignore[union-attr]
    if os.name == "posix":  # signal 0 probes on POSIX; on Windows os.kill would end the process
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
