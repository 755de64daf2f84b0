"""Run azfeeds the way users do: in-process for speed, or as a real process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from azfeeds.cli import run

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    """Exit code and both streams."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


# The keys of the JSON envelope every reporting command prints with --json (the README's contract).
JSON_KEYS = {
    "schema_version",
    "azfeeds_version",
    "command",
    "status",
    "exit_code",
    "result",
    "warnings",
    "error",
}


def run_cli(args: Sequence[str], cwd: Path | None = None, stdin: str = "") -> Result:
    """Run the CLI in this process (``cwd`` is entered for the call)."""
    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        if cwd is not None:
            os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            code = run(list(args))
    finally:
        os.chdir(old_cwd)
        sys.stdin = old_stdin
    return Result(code, out.getvalue(), err.getvalue())


def run_proc(
    args: Sequence[str],
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str = "",
    timeout: float = 120,
) -> Result:
    """Run ``python -m azfeeds`` as a separate process."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "azfeeds", *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write_fake_az(bin_dir: Path, source: str) -> Path:
    """A stand-in Azure CLI in ``bin_dir`` that runs the Python ``source`` with this interpreter.

    POSIX: an executable ``az`` with a shebang. Windows: ``az.py`` and an ``az.cmd`` launcher,
    which is how the real Azure CLI is installed there (``shutil.which("az")`` finds it via
    PATHEXT).
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    if source.startswith("#!"):
        source = source.split("\n", 1)[1]
    if os.name == "nt":
        script = bin_dir / "az.py"
        script.write_text(source)
        launcher = bin_dir / "az.cmd"
        launcher.write_text(f'@"{sys.executable}" "%~dp0az.py" %*\r\n')
        return launcher
    az = bin_dir / "az"
    az.write_text(f"#!{sys.executable}\n{source}")
    az.chmod(0o755)
    return az


def run_uv(
    args: Sequence[str], cwd: Path, env: Mapping[str, str], cache_dir: Path
) -> subprocess.CompletedProcess[str]:
    """Run the real uv (the pinned dev dependency) as a test would: none of the caller's
    ``UV_*`` or virtualenv settings, ``env`` on top, a fresh cache, this interpreter, no
    downloads of Python, no progress bars or colour."""
    from uv import find_uv_bin

    full = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    full.update(env)
    full.update(
        {
            "UV_CACHE_DIR": str(cache_dir),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_PYTHON": sys.executable,
            "UV_NO_PROGRESS": "1",
            "NO_COLOR": "1",
        }
    )
    return subprocess.run(
        [str(find_uv_bin()), *args],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
    )
