#!/usr/bin/env python3
"""The fault matrix: every fault against ``map``, ``rewrite``, ``rewrite --check`` and ``doctor``.

    uv run python scripts/fault_matrix.py            # run every cell, print the matrix
    uv run python scripts/fault_matrix.py --readme   # also rewrite the README's table

Each cell runs azfeeds as a real process against the emulator (or a dead port, an unresolvable
``.invalid`` host, a TLS server with an untrusted certificate) and checks:

- the documented exit code (``EXPECTED`` below: the same table is in the README);
- stderr: one ``azfeeds: error:`` line (plus at most a hint line), or only the summary line, and
  never a traceback;
- every file of the project byte-identical (the project is already in UUID form, so even a
  successful rewrite changes nothing);
- no canary secret in stdout, stderr or any file.

tests/test_fault_matrix.py runs the same cells in CI.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from emulator_client import Emulator, sample_config  # noqa: E402
from fake_entra import make_tls_files  # noqa: E402

PAT_A = "canary-matrix-pat-a-51e2"
PAT_B = "canary-matrix-pat-b-7c0d"
CANARIES = (PAT_A, PAT_B)
COMMANDS: dict[str, list[str]] = {
    "map": ["map"],
    "rewrite": ["rewrite"],
    "rewrite --check": ["rewrite", "--check"],
    "doctor": ["doctor"],
}
TIMEOUT = "1"


@dataclass
class Fault:
    """One row: how to break things, and the exit code each command must give."""

    name: str
    expected: dict[str, int]
    message: str  # what the rewrite's error line says (a substring), or "" for success
    emulator: list[dict[str, Any]] | None = None  # faults for orgB, set at run time
    latency_ms: int = 0
    setup: str = "uuid"  # how the project is prepared: uuid | deleted-feed | unknown-org | ...


ERR = {"map": 4, "rewrite": 4, "rewrite --check": 4, "doctor": 1}
AUTH = {"map": 3, "rewrite": 3, "rewrite --check": 3, "doctor": 1}
OK = {"map": 0, "rewrite": 0, "rewrite --check": 0, "doctor": 0}

FAULTS: list[Fault] = [
    Fault("none (control)", OK, ""),
    Fault("latency 200 ms", OK, "", latency_ms=200),
    Fault(
        "429, Retry-After past the 60 s budget",
        ERR,
        "rate limited",
        [{"kind": "429", "retry_after": 120}],
    ),
    Fault("429 once (Retry-After 1 s)", OK, "", [{"kind": "429", "retry_after": 1, "times": 1}]),
    Fault("500", ERR, "HTTP 500 after 3 retries", [{"kind": "500"}]),
    Fault("503", ERR, "HTTP 503 after 3 retries", [{"kind": "503"}]),
    Fault("500 twice, then fine", OK, "", [{"kind": "500", "times": 2}]),
    Fault("truncated JSON", ERR, "invalid JSON", [{"kind": "truncated"}]),
    Fault("non-JSON 200", ERR, "instead of JSON", [{"kind": "nonjson"}]),
    Fault("connection dropped mid-answer", ERR, "broke off in the middle", [{"kind": "drop"}]),
    Fault("401", AUTH, "authentication failed", [{"kind": "401"}]),
    Fault("203 HTML sign-in page", AUTH, "a sign-in page", [{"kind": "203"}]),
    Fault("403", AUTH, "access denied", [{"kind": "403"}]),
    Fault(
        "404 organization",
        {"map": 5, "rewrite": 5, "rewrite --check": 5, "doctor": 1},
        "not found (HTTP 404)",
        setup="unknown-org",
    ),
    Fault(
        "404 feed (deleted)",
        {"map": 0, "rewrite": 5, "rewrite --check": 5, "doctor": 1},
        "exists nowhere",
        setup="deleted-feed",
    ),
    Fault("read timeout", ERR, "did not answer in time", latency_ms=1500),
    Fault("connection refused", ERR, "refused", setup="refused"),
    Fault("DNS failure (.invalid host)", ERR, "cannot resolve host name", setup="dns"),
    Fault(
        "TLS failure (self-signed certificate)",
        ERR,
        "TLS certificate verification failed",
        setup="tls",
    ),
]


@dataclass
class Cell:
    fault: str
    command: str
    expected: int
    code: int
    problems: list[str] = field(default_factory=list)
    error_line: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def pyproject(base: str) -> str:
    return (
        '[project]\nname = "matrix"\nversion = "0.1.0"\n\n'
        f'[[tool.uv.index]]\nname = "orga"\nurl = "{base}/orgA/ProjectX/_packaging/feedx/pypi/simple/"\nexplicit = true\n\n'
        f'[[tool.uv.index]]\nname = "orgb"\nurl = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\nexplicit = true\n'
    )


def config() -> dict[str, Any]:
    cfg = sample_config()
    cfg["organizations"][0]["pats"] = [PAT_A]
    cfg["organizations"][1]["pats"] = [PAT_B]
    return cfg


def base_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "AZFEEDS_",
                "UV_INDEX_",
                "AZURE_",
                "SYSTEM_",
                "TF_BUILD",
                "REQUESTS_CA_BUNDLE",
                "CURL_CA_BUNDLE",
            )
        )
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    env.update(
        {
            "UV_INDEX_ORGA_USERNAME": "any",
            "UV_INDEX_ORGA_PASSWORD": PAT_A,
            "UV_INDEX_ORGB_USERNAME": "any",
            "UV_INDEX_ORGB_PASSWORD": PAT_B,
            "NO_PROXY": "127.0.0.1,localhost",
            "AZFEEDS_CACHE_DIR": tempfile.mkdtemp(prefix="azfeeds-matrix-cache-"),
        }
    )
    return env


def azfeeds(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azfeeds", *args, "--timeout", TIMEOUT],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def free_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def run_fault(fault: Fault, work: Path) -> list[Cell]:
    """Prepare a project in UUID form, break things, run the four commands."""
    env = base_env()
    work.mkdir(parents=True)
    emulators: list[Emulator] = []
    try:
        emu = Emulator.start(config(), work / "emulator")
        emulators.append(emu)
        project = work / "project"
        project.mkdir()
        (project / "pyproject.toml").write_text(pyproject(emu.root_url))
        prepared = azfeeds(["rewrite"], project, env)
        if prepared.returncode != 0:
            raise RuntimeError(f"preparing the project failed: {prepared.stderr}")
        if fault.setup == "deleted-feed":
            emu.delete_feed("orgB", "feedy")
        elif fault.setup == "unknown-org":
            text = (project / "pyproject.toml").read_text().replace("/orgB/", "/orgZ/")
            (project / "pyproject.toml").write_text(text)
        elif fault.setup == "refused":
            text = (
                (project / "pyproject.toml")
                .read_text()
                .replace(emu.root_url, f"http://127.0.0.1:{free_port()}")
            )
            (project / "pyproject.toml").write_text(text)
        elif fault.setup == "dns":
            text = (
                (project / "pyproject.toml")
                .read_text()
                .replace(emu.root_url, "https://azure-devops.invalid")
            )
            (project / "pyproject.toml").write_text(text)
        elif fault.setup == "tls":
            tls = make_tls_files(work)  # a certificate for 127.0.0.1 that no one trusts
            cert, key = tls.cert, tls.key
            tls = Emulator.start(
                config(), work / "tls-emulator", extra_args=["--cert", str(cert), "--key", str(key)]
            )
            emulators.append(tls)
            port = tls.root_url.rsplit(":", 1)[1]
            text = (
                (project / "pyproject.toml")
                .read_text()
                .replace(emu.root_url, f"https://127.0.0.1:{port}")
            )
            (project / "pyproject.toml").write_text(text)
        if fault.emulator is not None:
            emu.set_faults("orgB", [{"times": None, **f} for f in fault.emulator])
        if fault.latency_ms:
            for org in ("orgA", "orgB"):
                emu.set_latency(org, fault.latency_ms)
        before = snapshot(project)
        command_names = list(COMMANDS)

        def one(name: str) -> Cell:
            copy = work / f"copy-{command_names.index(name)}"
            shutil.copytree(project, copy)
            start = time.monotonic()
            proc = azfeeds(COMMANDS[name], copy, env)
            cell = Cell(
                fault.name,
                name,
                fault.expected[name],
                proc.returncode,
                seconds=time.monotonic() - start,
            )
            check(cell, proc, before, snapshot(copy), fault)
            return cell

        with ThreadPoolExecutor(max_workers=len(COMMANDS)) as pool:
            return list(pool.map(one, command_names))
    finally:
        for emulator in emulators:
            emulator.stop()
        shutil.rmtree(env["AZFEEDS_CACHE_DIR"], ignore_errors=True)


def check(
    cell: Cell,
    proc: subprocess.CompletedProcess[str],
    before: dict[str, bytes],
    after: dict[str, bytes],
    fault: Fault,
) -> None:
    if proc.returncode != cell.expected:
        cell.problems.append(
            f"exit {proc.returncode}, expected {cell.expected}: {proc.stderr.strip()[:300]}"
        )
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    if "Traceback" in proc.stderr:
        cell.problems.append("a traceback on stderr")
    errors = [line for line in lines if line.startswith("azfeeds: error: ")]
    hints = [line for line in lines if line.startswith("azfeeds: hint: ")]
    if errors:
        cell.error_line = errors[0]
        if len(errors) != 1 or len(lines) != len(errors) + len(hints) or len(hints) > 1:
            cell.problems.append(f"stderr is not one error line (plus a hint): {lines}")
        if cell.command.startswith("rewrite") and fault.message and fault.message not in errors[0]:
            cell.problems.append(f"the error line lacks {fault.message!r}: {errors[0]}")
    elif cell.expected not in (0, 1):
        cell.problems.append(f"no error line: {lines}")
    elif len([line for line in lines if not line.startswith("azfeeds: warning: ")]) > 1:
        cell.problems.append(f"more than one summary line: {lines}")
    if after != before:
        cell.problems.append("files changed")
    blob = proc.stdout + proc.stderr + "".join(v.decode("utf-8", "replace") for v in after.values())
    for canary in CANARIES:
        if canary in blob:
            cell.problems.append("a canary secret was printed or written")


def run_all(workers: int = 2) -> list[Cell]:
    with (
        tempfile.TemporaryDirectory(prefix="azfeeds-matrix-") as tmp,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        groups = pool.map(lambda f: run_fault(f, Path(tmp) / re.sub(r"\W+", "-", f.name)), FAULTS)
        return [cell for group in groups for cell in group]


def markdown(cells: list[Cell] | None = None) -> str:
    """The README table: expected codes (and, given cells, whether each one held)."""
    by = {(c.fault, c.command): c for c in cells or []}
    head = "| fault | " + " | ".join(f"`{c}`" for c in COMMANDS) + " | what `rewrite` says |"
    rows = [head, "|" + " --- |" * (len(COMMANDS) + 2)]
    for fault in FAULTS:
        cols = []
        for command in COMMANDS:
            code = fault.expected[command]
            cell = by.get((fault.name, command))
            mark = "" if cell is None else (" ✓" if cell.ok else " ✗")
            cols.append(f"{code}{mark}")
        said = f"`{fault.message}`" if fault.message else "(success)"
        rows.append(f"| {fault.name} | " + " | ".join(cols) + f" | {said} |")
    return "\n".join(rows) + "\n"


README_BEGIN = "<!-- fault-matrix -->\n"
README_END = "<!-- /fault-matrix -->"


def readme_block(text: str) -> str:
    start = text.index(README_BEGIN) + len(README_BEGIN)
    return text[start : text.index(README_END)]


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the fault matrix.")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args()
    started = time.monotonic()
    cells = run_all()
    bad = [c for c in cells if not c.ok]
    print(markdown(cells))
    for cell in bad:
        print(f"FAILED {cell.fault} / {cell.command}: {'; '.join(cell.problems)}", file=sys.stderr)
    print(
        f"{len(cells)} cells, {len(cells) - len(bad)} held, {len(bad)} failed, {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    if args.readme:
        readme = ROOT / "README.md"
        text = readme.read_text(encoding="utf-8")
        start = text.index(README_BEGIN) + len(README_BEGIN)
        end = text.index(README_END)
        readme.write_text(text[:start] + markdown() + text[end:], encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
