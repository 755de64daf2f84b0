#!/usr/bin/env python3
"""The azfeeds demo: the real uv against a local emulator of two Azure DevOps organizations.

    uv run python scripts/demo.py [--keep]

It starts the emulator (scripts/emulator.py) on 127.0.0.1, writes a sample project that installs
from a feed in each organization (each organization accepts only its own PAT, given the way uv
expects it: UV_INDEX_<NAME>_USERNAME/PASSWORD), then:

1. runs ``uv lock``, which fails with 401, as it does against Azure DevOps;
2. runs ``azfeeds rewrite`` and shows the diff;
3. runs ``uv lock`` and ``uv sync --locked``, which pass.

It stops the emulator and removes its temporary folder (``--keep`` keeps the folder). The exit
code is 0 when all of that happened as described.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = ROOT / "scripts" / "emulator.py"

CONFIG = {
    "organizations": [
        {
            "name": "contoso",
            "pats": ["demo-pat-contoso"],
            "feeds": [
                {
                    "name": "python-internal",
                    "project": "Platform",
                    "packages": [
                        {
                            "name": "contoso-auth",
                            "version": "1.4.0",
                            "requires": ["contoso-core>=2"],
                        },
                        {"name": "contoso-core", "version": "2.1.0"},
                    ],
                }
            ],
        },
        {
            "name": "fabrikam",
            "pats": ["demo-pat-fabrikam"],
            "feeds": [
                {
                    "name": "ml-wheels",
                    "project": "Data Science",
                    "packages": [{"name": "fabrikam-models", "version": "0.9.2"}],
                }
            ],
        },
    ]
}

PYPROJECT = """\
[project]
name = "demo-app"
version = "0.1.0"
requires-python = ">=3.8"
dependencies = ["contoso-auth", "contoso-core", "fabrikam-models"]

[[tool.uv.index]]
name = "contoso"
url = "{base}/contoso/Platform/_packaging/python-internal/pypi/simple/"
explicit = true

[[tool.uv.index]]
name = "fabrikam"
url = "{base}/fabrikam/Data%20Science/_packaging/ml-wheels/pypi/simple/"
explicit = true

[tool.uv.sources]
contoso-auth = {{ index = "contoso" }}
contoso-core = {{ index = "contoso" }}
fabrikam-models = {{ index = "fabrikam" }}
"""

CREDENTIALS = {
    "UV_INDEX_CONTOSO_USERNAME": "demo",
    "UV_INDEX_CONTOSO_PASSWORD": "demo-pat-contoso",
    "UV_INDEX_FABRIKAM_USERNAME": "demo",
    "UV_INDEX_FABRIKAM_PASSWORD": "demo-pat-fabrikam",
}


def say(text: str) -> None:
    print(text, flush=True)


def step(text: str) -> None:
    say(f"\n==> {text}")


def uv_binary() -> str:
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except ImportError:
        found = shutil.which("uv")
        if found is None:
            raise SystemExit(
                "demo: uv is not installed; run this with 'uv run python scripts/demo.py'"
            ) from None
        return found


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.project = workdir / "demo-app"
        self.calls = 0
        self.emulator: subprocess.Popen[str] | None = None
        self.base = ""

    def start_emulator(self) -> None:
        config = self.workdir / "emulator.json"
        config.write_text(json.dumps(CONFIG))
        self.emulator = subprocess.Popen(
            [
                sys.executable,
                str(EMULATOR),
                "--port",
                "0",
                "--config",
                str(config),
                "--log",
                str(self.workdir / "emulator.log"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.emulator.stdout is not None
        line = self.emulator.stdout.readline()
        if not line:
            raise SystemExit("demo: the emulator did not start")
        self.base = json.loads(line)["url"]
        say(
            f"emulator of two Azure DevOps organizations (contoso, fabrikam) at {self.base}, pid {self.emulator.pid}"
        )

    def stop_emulator(self) -> None:
        if self.emulator is None:
            return
        # The control API's shutdown gives exit 0 on every system (Windows has no SIGTERM).
        try:
            request = urllib.request.Request(
                f"{self.base}/_emulator/shutdown", data=b"{}", method="POST"
            )
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                request, timeout=5
            ).close()
            self.emulator.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.emulator.terminate()
        try:
            self.emulator.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.emulator.kill()
            self.emulator.wait()
        say(f"emulator stopped (exit code {self.emulator.returncode})")
        self.emulator = None

    def env(self) -> dict[str, str]:
        self.calls += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
        env.update(CREDENTIALS)
        env.update(
            {
                "UV_CACHE_DIR": str(self.workdir / f"uv-cache-{self.calls}"),
                "UV_PYTHON_DOWNLOADS": "never",
                "UV_PYTHON": sys.executable,
                "UV_NO_PROGRESS": "1",
                "XDG_CONFIG_HOME": str(self.workdir / "xdg"),
                "NO_COLOR": "1",
            }
        )
        return env

    def run(self, args: list[str], shown: str) -> subprocess.CompletedProcess[str]:
        say(f"$ {shown}")
        proc = subprocess.run(
            args, cwd=self.project, env=self.env(), capture_output=True, text=True, timeout=300
        )
        for stream in (proc.stdout, proc.stderr):
            for line in stream.splitlines():
                say(f"  {line}")
        say(f"  (exit code {proc.returncode})")
        return proc

    def uv(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run([uv_binary(), *args], "uv " + " ".join(args))

    def azfeeds(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run([sys.executable, "-m", "azfeeds", *args], "azfeeds " + " ".join(args))

    def story(self) -> bool:
        ok = True
        self.project.mkdir(parents=True)
        (self.project / "pyproject.toml").write_text(PYPROJECT.format(base=self.base))
        step("the project: one feed in each organization, credentials in UV_INDEX_* (one PAT each)")
        for line in (self.project / "pyproject.toml").read_text().splitlines():
            say(f"  {line}")

        step("1. uv lock fails with 401, as it does on pkgs.dev.azure.com")
        failed = self.uv("lock")
        if failed.returncode == 0 or "401" not in failed.stderr:
            say("demo: expected uv lock to fail with 401 here")
            ok = False

        step("2. azfeeds rewrite: index URLs into UUID form (the diff, then the rewrite)")
        self.azfeeds("rewrite", "--diff")
        if self.azfeeds("rewrite").returncode != 0:
            ok = False

        step("3. uv lock and uv sync --locked now pass")
        for args in (("lock",), ("sync", "--locked")):
            if self.uv(*args).returncode != 0:
                ok = False
        return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="azfeeds-demo-"))
    demo = Demo(workdir)
    started = time.monotonic()
    ok = False
    try:
        demo.start_emulator()
        ok = demo.story()
    finally:
        demo.stop_emulator()
        if args.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    step(f"{'done' if ok else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
