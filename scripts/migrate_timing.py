#!/usr/bin/env python3
"""Time the migration campaign on the thirty generated repositories of tests/test_migrate.py.

    uv run python scripts/migrate_timing.py [--rounds N] [--json FILE]

Per round, on freshly reset repositories (the reset is not timed):

- campaign, one at a time: scripts/templates/migrate/multi-gitter-run.sh in each repository,
  as `multi-gitter run` does by default (--concurrent 1), reports included;
- campaign, four at a time: the same, as `multi-gitter run --concurrent 4`;
- 30 single runs: the bare `azfeeds rewrite --map map.json --offline --recursive` in each
  repository, one after the other (what the script wraps);
- with the emulator (scripts/emulator.py, --latency ms added to each request): making the map once
  (`azfeeds map --org orgA --org orgB --views`), against 30 single online runs that each ask the
  feeds API (`azfeeds rewrite --recursive`), with the number of API requests of each.

Prints the medians over the rounds. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from emulator_client import Emulator  # noqa: E402
from migrate_repos import (  # noqa: E402
    CAMPAIGN_PAT,
    MAP,
    emulator_config_from_map,
    git,
    specs,
    write_repo,
)

RUN = ROOT / "scripts" / "templates" / "migrate" / "multi-gitter-run.sh"


def clean_env(work: Path) -> dict[str, str]:
    drop = ("AZFEEDS_", "UV_", "AZURE_", "SYSTEM_", "DRY_RUN", "HTTP", "ALL_PROXY", "NO_PROXY")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(drop)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        AZFEEDS_MAP=str(MAP),
        AZFEEDS_REPORT_DIR=str(work / "reports"),
        AZFEEDS_PYTHON=sys.executable,
        TMPDIR=str(work),
        NO_PROXY="127.0.0.1",
    )
    return env


def azfeeds() -> str:
    script = Path(sys.executable).parent / "azfeeds"
    return str(script) if script.exists() else "azfeeds"


def timed(job: Callable[[Path], int], repos: list[Path], workers: int) -> tuple[float, list[int]]:
    start = time.perf_counter()
    if workers == 1:
        codes = [job(repo) for repo in repos]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            codes = list(pool.map(job, repos))
    return time.perf_counter() - start, codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--latency", type=int, default=100, help="ms per emulator request")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="azfeeds-migrate-timing-") as tmp:
        work = Path(tmp)
        repos = [write_repo(work / "repos", spec) for spec in specs()]
        env = clean_env(work)

        def script(repo: Path) -> int:
            return subprocess.run(
                [str(RUN)],
                cwd=repo,
                env={**env, "REPOSITORY": repo.name},
                capture_output=True,
                check=False,
                timeout=120,
            ).returncode

        def single(repo: Path) -> int:
            return subprocess.run(
                [azfeeds(), "rewrite", "--map", str(MAP), "--offline", "--recursive"],
                cwd=repo,
                env=env,
                capture_output=True,
                check=False,
                timeout=120,
            ).returncode

        def reset() -> None:
            for repo in repos:
                git(repo, "checkout", "--quiet", "--", ".")

        jobs = {
            "campaign, one at a time (multi-gitter-run.sh)": (script, 1),
            "campaign, four at a time (--concurrent 4)": (script, 4),
            "30 single runs of azfeeds rewrite": (single, 1),
        }
        # The figures count only if every repository ended as the tests expect.
        want = [spec.exit_code for spec in specs()]
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.rounds):
            for name, (job, workers) in jobs.items():
                reset()
                seconds, codes = timed(job, repos, workers)
                if codes != want:
                    raise SystemExit(f"{name}: exit codes {codes}, expected {want}")
                times[name].append(seconds)

        # The map made once, against every repository asking the feeds API itself.
        config = emulator_config_from_map()
        for org in config["organizations"]:
            org["latency_ms"] = args.latency
        emu = Emulator.start(config, work / "emulator")
        pat = work / "pat"
        pat.write_text(CAMPAIGN_PAT + "\n")
        online = ["--api-url", emu.root_url, "--pat-file", str(pat)]
        requests: dict[str, int] = {}
        try:

            def map_once(_: Path) -> int:
                cmd = [azfeeds(), "map", "--org", "orgA", "--org", "orgB", "--views", *online]
                out = ["--output", str(work / "map.json")]
                return subprocess.run(
                    [*cmd, *out], cwd=work, env=env, capture_output=True, check=False
                ).returncode

            def single_online(repo: Path) -> int:
                cmd = [azfeeds(), "rewrite", "--recursive", *online]
                alone = {k: v for k, v in env.items() if k != "AZFEEDS_MAP"}  # no map: the API
                return subprocess.run(
                    cmd, cwd=repo, env=alone, capture_output=True, check=False, timeout=120
                ).returncode

            online_jobs = {
                "the campaign's map, made once (2 organizations)": (map_once, [work], [0]),
                "30 single online runs of azfeeds rewrite": (single_online, repos, want),
            }
            for name in online_jobs:
                times[name] = []
            for _ in range(args.rounds):
                for name, (job, targets, expect) in online_jobs.items():
                    reset()
                    before = len(emu.log())
                    seconds, codes = timed(job, targets, 1)
                    if codes != expect:
                        raise SystemExit(f"{name}: exit codes {codes}, expected {expect}")
                    times[name].append(seconds)
                    requests[name] = len(emu.log()) - before
        finally:
            emu.stop()

    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"30 repositories, {args.rounds} round(s), {os.cpu_count()} CPU(s), "
        f"Python {platform.python_version()}: medians"
    )
    for name, seconds in medians.items():
        line = f"  {name:50} {seconds:6.2f} s"
        if name.startswith(("campaign", "30 single")):
            line += f"  ({seconds / 30 * 1000:4.0f} ms a repository)"
        if name in requests:
            line += f"  {requests[name]} API requests ({args.latency} ms each)"
        print(line)
    if args.json:
        doc = {"rounds": args.rounds, "latency_ms": args.latency, "seconds": times}
        doc.update(median=medians, api_requests=requests)
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
