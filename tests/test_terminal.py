"""What a person sees on a terminal: the progress line appears on a real pseudo-terminal while
the API is slow, is wiped before the report, and never appears when stderr is piped, with
--quiet, NO_COLOR or TERM=dumb. The emulator runs as a real server with latency."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_client import Emulator, sample_config

pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX only")

PAT_A = "canary-term-a-9f1c2e"
PAT_B = "canary-term-b-4d7a0b"
WIPE = "\r\x1b[2K"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    cfg = sample_config()
    org_a, org_b = cfg["organizations"]
    org_a["pats"], org_b["pats"] = [PAT_A], [PAT_B]
    with Emulator.start(cfg, tmp_path_factory.mktemp("emulator")) as emulator:
        for org in ("orgA", "orgB"):
            emulator.set_latency(org, 400)
        yield emulator


def project(root: Path, base: str) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        "[[tool.uv.index]]\n"
        'name = "orga"\n'
        f'url = "{base}/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orgb"\n'
        f'url = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
    )
    return root


def run_on_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """Run azfeeds with stderr on a pseudo-terminal and stdout on a pipe."""
    full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM", "FORCE_COLOR")}
    full.update(
        {
            "TERM": "xterm-256color",
            "UV_INDEX_ORGA_USERNAME": "x",
            "UV_INDEX_ORGA_PASSWORD": PAT_A,
            "UV_INDEX_ORGB_USERNAME": "x",
            "UV_INDEX_ORGB_PASSWORD": PAT_B,
        }
    )
    full.update(env)
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "azfeeds", *args],
            cwd=cwd,
            env=full,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
        )
        os.close(slave)
        slave = -1
        chunks: list[bytes] = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        proc.stdout.close()
        code = proc.wait(timeout=60)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    return code, out, b"".join(chunks).decode().replace("\r\n", "\n")


def test_progress_line_on_a_terminal_is_wiped_before_the_report(
    emu: Emulator, tmp_path: Path
) -> None:
    root = project(tmp_path / "p", emu.root_url)
    code, out, err = run_on_terminal(["rewrite"], root, {})
    assert code == 0, err
    assert "fetching the feeds of 2 organizations" in err
    assert "fetched the feeds of 2 of 2 organizations" in err
    # Every progress frame starts by wiping the line, and the last thing drawn is a wipe.
    frames = err.split(WIPE)
    assert len(frames) >= 3
    assert "\u2026" not in err[err.rfind(WIPE) :], "the progress line is cleared at the end"
    assert "rewrote" in out or "pyproject.toml" in out
    assert PAT_A not in err + out and PAT_B not in err + out


@pytest.mark.parametrize(
    ("env", "args"),
    [
        ({"NO_COLOR": "1"}, ["rewrite", "--diff"]),
        ({"TERM": "dumb"}, ["rewrite", "--diff"]),
        ({}, ["rewrite", "--diff", "--quiet"]),
    ],
    ids=["NO_COLOR", "TERM=dumb", "--quiet"],
)
def test_no_moving_output_when_asked_not_to(
    emu: Emulator, tmp_path: Path, env: dict[str, str], args: list[str]
) -> None:
    root = project(tmp_path / "p", emu.root_url)
    code, _out, err = run_on_terminal(args, root, env)
    assert code == 0, err
    assert "\r" not in err and "\x1b" not in err and "fetching" not in err


def test_no_progress_when_stderr_is_piped(emu: Emulator, tmp_path: Path) -> None:
    root = project(tmp_path / "p", emu.root_url)
    env = dict(os.environ)
    env.update(
        {
            "TERM": "xterm-256color",
            "UV_INDEX_ORGA_USERNAME": "x",
            "UV_INDEX_ORGA_PASSWORD": PAT_A,
            "UV_INDEX_ORGB_USERNAME": "x",
            "UV_INDEX_ORGB_PASSWORD": PAT_B,
        }
    )
    env.pop("NO_COLOR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "azfeeds", "rewrite", "--diff"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    assert "fetching" not in proc.stderr


def test_doctor_shows_progress_on_a_terminal_and_clears_it(emu: Emulator, tmp_path: Path) -> None:
    root = project(tmp_path / "p", emu.root_url)
    code, out, err = run_on_terminal(["doctor"], root, {})
    assert "asking 2 organizations for their feeds" in err, (code, err)
    assert "\u2026" not in err[err.rfind(WIPE) :]
    assert out.strip(), "the report itself is on stdout"
