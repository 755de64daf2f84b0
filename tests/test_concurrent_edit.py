"""A file changed by someone else between azfeeds' read and its write is not overwritten."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from emulator_client import sample_config


def test_concurrent_edit_fails_with_exit_6_and_the_other_edit_survives(
    tmp_path: Path, emulator_factory: Any
) -> None:
    emu = emulator_factory(sample_config())
    for org in ("orgA", "orgB"):
        emu.set_latency(org, 1500)  # azfeeds has read the files and waits for the feeds API
    project = tmp_path / "p"
    project.mkdir()
    other = project / "uv.toml"
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        f'[[tool.uv.index]]\nname = "orga"\nurl = "{emu.root_url}/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
    )
    other.write_text(
        f'[[index]]\nname = "orgb"\nurl = "{emu.root_url}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
    )
    before_other = other.read_bytes()
    env = {**os.environ, "UV_INDEX_ORGA_PASSWORD": "pat-a", "UV_INDEX_ORGB_PASSWORD": "pat-b"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "azfeeds", "rewrite"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not any(r["route"] == "feeds" for r in emu.log()):
        assert time.monotonic() < deadline, "azfeeds never reached the feeds API"
        time.sleep(0.02)
    edited = pyproject.read_text() + "# someone else's edit, made while azfeeds was waiting\n"
    pyproject.write_text(edited)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 6, err
    assert err.startswith(
        "azfeeds: error: pyproject.toml: changed on disk while azfeeds was running"
    )
    assert pyproject.read_text() == edited, "the other edit survives"
    assert other.read_bytes() == before_other, "no file is written when one of them changed"
    assert not [p for p in project.iterdir() if ".azfeeds-" in p.name], "no temporary file left"
