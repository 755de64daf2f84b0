#!/usr/bin/env python3
"""azfeeds benchmark: start-up, organizations in parallel, monorepo scale, and what uv gains.

    uv run python scripts/bench.py [--quick] [--json FILE] [--runs N]

Everything runs side by side in one run against the emulator on 127.0.0.1 (scripts/emulator.py),
so the ratios compare commands measured on the same machine at the same moment. Each figure is the
median of several runs, taken in interleaved order (A B C A B C ...) so that drift in the machine's
speed hits every command alike. It prints a table and writes the figures as JSON
(bench-results.json unless --json says otherwise). --quick uses small sizes and one or three runs:
a smoke test runs it so the script cannot rot.

Bytecode is compiled first (an installed tool has it), and ratios are medians of per-round
ratios: each round runs the compared commands back to back, so a slow spell of the machine hits
both sides of a ratio.

Targets (issues 5, 12): --version <= 1.15 x `import typer`; an offline rewrite of one pyproject
<= 1.3 x `import typer, tomlkit` (the libraries it cannot avoid); `map` of 20
organizations <= 1.5 x one, with one feeds request per organization; at 10,000 members `--check`
<= 3 x a script that only reads the files, 10,000 <= 11 x 1,000, peak RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EMULATOR = ROOT / "scripts" / "emulator.py"
PAT = "bench-pat-0f3c"


# -- running and timing ------------------------------------------------------------------------


def azfeeds_cmd() -> list[str]:
    """The installed console script (what users run), else ``python -m azfeeds``."""
    bindir = Path(sys.executable).parent
    for name in ("azfeeds", "azfeeds.exe"):
        if (bindir / name).exists():
            return [str(bindir / name)]
    return [sys.executable, "-m", "azfeeds"]


@dataclass
class Run:
    seconds: float
    code: int
    rss_mb: float | None


def run_once(cmd: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run a command; wall time, exit code and (on POSIX) the child's own peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    if hasattr(os, "wait4"):
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        scale = 1024 * 1024 if sys.platform == "darwin" else 1024
        return Run(elapsed, proc.returncode, usage.ru_maxrss / scale)
    code = proc.wait()
    return Run(time.perf_counter() - start, code, None)


@dataclass
class Measure:
    name: str
    runs: list[Run] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def rss(self) -> float | None:
        values = [r.rss_mb for r in self.runs if r.rss_mb is not None]
        return max(values) if values else None

    @property
    def codes(self) -> list[int]:
        return sorted({r.code for r in self.runs})

    def doc(self) -> dict[str, Any]:
        return {
            "median_s": round(self.median, 4),
            "runs_s": [round(r.seconds, 4) for r in self.runs],
            "exit_codes": self.codes,
            "peak_rss_mb": round(self.rss, 1) if self.rss is not None else None,
        }


def interleaved(
    commands: dict[
        str, tuple[Sequence[str], Path | None, dict[str, str] | None, Callable[[], None] | None]
    ],
    runs: int,
    warmup: bool = True,
    expect: dict[str, int] | None = None,
) -> dict[str, Measure]:
    """Median of ``runs`` runs of each command, taken in turn; ``setup`` runs untimed before each.

    Every run must exit with its expected code (0 unless ``expect`` says otherwise): a figure of
    a command that failed would be meaningless.
    """
    out = {name: Measure(name) for name in commands}
    if warmup:
        for cmd, cwd, env, setup in commands.values():
            if setup:
                setup()
            run_once(cmd, cwd, env)
    for _ in range(runs):
        for name, (cmd, cwd, env, setup) in commands.items():
            if setup:
                setup()
            run = run_once(cmd, cwd, env)
            wanted = (expect or {}).get(name, 0)
            if run.code != wanted:
                raise SystemExit(
                    f"bench: '{name}' exited {run.code}, expected {wanted}: {' '.join(cmd)}"
                )
            out[name].runs.append(run)
    return out


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZFEEDS_", "UV_INDEX_", "AZURE_", "SYSTEM_", "VIRTUAL_ENV", "UV_"))
        and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def compile_bytecode() -> float:
    """Compile azfeeds and the environment's packages to bytecode, as an installed tool has them.

    Without this, a machine with PYTHONDONTWRITEBYTECODE set (CI images often have it) would
    compile every module from source on every run, the baseline's and azfeeds' alike.
    """
    import compileall
    import sysconfig

    start = time.perf_counter()
    for directory in {
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
        str(ROOT / "azfeeds"),
    }:
        compileall.compile_dir(directory, quiet=2, workers=0)
    return time.perf_counter() - start


def paired_ratio(measures: dict[str, Measure], name: str, base: str) -> float:
    """Median over rounds of (name / base) measured back to back in the same round."""
    pairs = zip(measures[name].runs, measures[base].runs, strict=True)
    return round(statistics.median(a.seconds / b.seconds for a, b in pairs), 3)


# -- the emulator --------------------------------------------------------------------------------


class Emulator:
    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "emulator.log"
        path = workdir / "emulator.json"
        path.write_text(json.dumps(config))
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(EMULATOR),
                "--port",
                "0",
                "--config",
                str(path),
                "--log",
                str(self.log_path),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("bench: the emulator did not start")
        self.url = json.loads(line)["url"]

    def log(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]

    def clear(self) -> None:
        request = urllib.request.Request(
            f"{self.url}/_emulator/requests/clear", data=b"{}", method="POST"
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        opener.open(request, timeout=10).read()
        self.log_path.write_text("")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- 1. start-up -------------------------------------------------------------------------------

START_PYPROJECT = """\
[project]
name = "one"
version = "0.1.0"

[[tool.uv.index]]
name = "orga"
url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
explicit = true
"""

START_MAP = {
    "schema_version": 1,
    "organizations": [
        {
            "name": "orgA",
            "url": "https://pkgs.dev.azure.com/orgA",
            "feeds": [
                {
                    "id": "1f682db7-3995-4f32-afeb-fa23a36322da",
                    "name": "feedx",
                    "project": {"id": "5f438b59-28eb-43af-a876-2059441d943a", "name": "ProjectX"},
                }
            ],
        }
    ],
}


def bench_startup(work: Path, runs: int) -> dict[str, Any]:
    work.mkdir(parents=True)
    pyproject = work / "pyproject.toml"
    (work / "map.json").write_text(json.dumps(START_MAP))
    env = clean_env()

    def reset() -> None:
        pyproject.write_text(START_PYPROJECT)

    measures = interleaved(
        {
            "import typer": ([sys.executable, "-c", "import typer"], work, env, None),
            "import typer, tomlkit": (
                [sys.executable, "-c", "import typer, tomlkit"],
                work,
                env,
                None,
            ),
            "azfeeds --version": ([*azfeeds_cmd(), "--version"], work, env, None),
            "azfeeds rewrite --offline --map M": (
                [*azfeeds_cmd(), "rewrite", "--offline", "--map", "map.json", "pyproject.toml"],
                work,
                env,
                reset,
            ),
        },
        runs,
    )
    return {
        "runs": runs,
        "commands": {k: v.doc() for k, v in measures.items()},
        "ratio_version": paired_ratio(measures, "azfeeds --version", "import typer"),
        # the libraries an offline rewrite cannot avoid: Typer (the CLI) and tomlkit (the check)
        "ratio_rewrite": paired_ratio(
            measures, "azfeeds rewrite --offline --map M", "import typer, tomlkit"
        ),
        "targets": {"ratio_version": 1.15, "ratio_rewrite": 1.3},
    }


# -- 2. organizations in parallel ------------------------------------------------------------


def orgs_config(count: int, latency_ms: int) -> dict[str, Any]:
    return {
        "organizations": [
            {
                "name": f"org{i:02d}",
                "pats": [PAT],
                "latency_ms": latency_ms,
                "feeds": [
                    {
                        "name": f"feed{i:02d}",
                        "project": "Proj",
                        "packages": [{"name": "pkg", "version": "1.0.0"}],
                    },
                    {"name": f"shared{i:02d}"},
                ],
            }
            for i in range(1, count + 1)
        ]
    }


def bench_orgs(work: Path, sizes: Sequence[int], runs: int, latency_ms: int) -> dict[str, Any]:
    """``map`` of 1..N organizations. Two forms: Services organizations (``--org <name>``, the
    emulator standing in for the feeds API with ``--api-url``), all asked at once, which the
    target is about; and N collections of one server (``--org <collection URL>``), where the
    first request asks alone, since its answer may negotiate the API version for the others."""
    emu = Emulator(orgs_config(max(sizes), latency_ms), work / "emulator")
    pat_file = work / "pat.txt"
    pat_file.write_text(PAT + "\n")
    env = clean_env()
    result: dict[str, Any] = {"latency_ms": latency_ms, "runs": runs, "sizes": {}, "server": {}}
    have_shell = all(shutil.which(tool) for tool in ("bash", "curl", "jq"))
    try:
        for form in ("sizes", "server"):
            for size in sizes:
                orgs = [f"org{i:02d}" for i in range(1, size + 1)]
                cmd = [*azfeeds_cmd(), "map", "--pat-file", str(pat_file)]
                if form == "sizes":
                    cmd += ["--api-url", emu.url]
                for org in orgs:
                    cmd += ["--org", org if form == "sizes" else f"{emu.url}/{org}"]
                loop = (
                    f'for org in {" ".join(orgs)}; do curl -s -u ":{PAT}" '
                    f'"{emu.url}/$org/_apis/packaging/feeds?api-version=7.1" '
                    f"| jq -r '.value[] | [.name, .id] | @tsv'; done"
                )
                commands: dict[str, Any] = {"azfeeds map": (cmd, work, env, None)}
                if have_shell and form == "sizes":
                    commands["curl | jq loop"] = (["bash", "-c", loop], work, env, None)
                emu.clear()
                measures = interleaved(commands, runs, warmup=False)
                log = emu.log()
                feeds = [
                    r
                    for r in log
                    if r["route"] == "feeds" and r.get("user_agent", "").startswith("azfeeds/")
                ]
                per_run = len(feeds) / runs
                per_org = {org: sum(1 for r in feeds if r["org"] == org) / runs for org in orgs}
                entry = {k: v.doc() for k, v in measures.items()}
                entry["feeds_requests_per_run"] = per_run
                entry["feeds_requests_per_org"] = sorted(set(per_org.values()))
                result[form][str(size)] = entry
    finally:
        emu.stop()
    if not have_shell:
        result["baseline"] = "skipped: the curl | jq loop needs bash, curl and jq"
    first, last = str(sizes[0]), str(sizes[-1])
    for form, key in (("sizes", "ratio_last_to_first"), ("server", "server_ratio_last_to_first")):
        result[key] = round(
            result[form][last]["azfeeds map"]["median_s"]
            / result[form][first]["azfeeds map"]["median_s"],
            3,
        )
    if have_shell:
        result["loop_over_azfeeds_at_last"] = round(
            result["sizes"][last]["curl | jq loop"]["median_s"]
            / result["sizes"][last]["azfeeds map"]["median_s"],
            2,
        )
    result["target_ratio"] = 1.5
    return result


# -- 3. monorepo scale ---------------------------------------------------------------------------

MONO_ORGS = ("contoso", "fabrikam", "northwind")
MONO_FEED = "a1a1a1a1-0000-4000-8000-{:012x}"


def mono_map() -> dict[str, Any]:
    orgs = []
    for n, org in enumerate(MONO_ORGS):
        orgs.append(
            {
                "name": org,
                "url": f"https://pkgs.dev.azure.com/{org}",
                "feeds": [
                    {
                        "id": MONO_FEED.format(0xF00 + n),
                        "name": "python",
                        "project": {"id": MONO_FEED.format(0xB00 + n), "name": "Platform"},
                    }
                ],
            }
        )
    return {"schema_version": 1, "organizations": orgs}


def generate_monorepo(root: Path, members: int) -> int:
    """A uv workspace: ``members`` member pyproject files, 10% with Azure indexes, a uv.lock and
    requirements files. Returns the number of files azfeeds considers."""
    root.mkdir(parents=True)
    files = 0
    (root / "pyproject.toml").write_text(
        '[project]\nname = "monorepo"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n\n'
        '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
    )
    files += 1
    lock = ['version = 1\nrevision = 3\nrequires-python = ">=3.10"\n']
    for i in range(members):
        name = f"m{i:05d}"
        directory = root / "packages" / name
        directory.mkdir(parents=True)
        azure = i % 10 == 0
        org = MONO_ORGS[(i // 10) % len(MONO_ORGS)]
        url = f"https://pkgs.dev.azure.com/{org}/Platform/_packaging/python/pypi/simple/"
        body = (
            f'[project]\nname = "{name}"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
            f'dependencies = ["requests>=2", "dep-{i}"]\n\n[tool.ruff]\nline-length = 100\n'
        )
        if azure:
            body += (
                f'\n[[tool.uv.index]]\nname = "{org}"\nurl = "{url}"\nexplicit = true\n\n'
                f'[tool.uv.sources]\ndep-{i} = {{ index = "{org}" }}\n'
            )
            (directory / "requirements.txt").write_text(f"--index-url {url}\ndep-{i}==1.0\n")
            files += 1
        elif i % 10 == 5:
            (directory / "requirements-dev.txt").write_text("pytest>=8\nruff\n")
            files += 1
        (directory / "pyproject.toml").write_text(body)
        files += 1
        lock.append(
            f'\n[[package]]\nname = "{name}"\nversion = "0.1.0"\nsource = {{ editable = "packages/{name}" }}\n'
            f'dependencies = [\n    {{ name = "dep-{i}" }},\n    {{ name = "requests" }},\n]\n\n'
            f'[package.metadata]\nrequires-dist = [\n    {{ name = "dep-{i}"'
            + (f', index = "{url}"' if azure else "")
            + ' },\n    { name = "requests", specifier = ">=2" },\n]\n'
        )
        registry = url if azure else "https://pypi.org/simple"
        lock.append(
            f'\n[[package]]\nname = "dep-{i}"\nversion = "1.0"\nsource = {{ registry = "{registry}" }}\n'
            f'wheels = [\n    {{ url = "https://files.example/dep_{i}-1.0-py3-none-any.whl", '
            f'hash = "sha256:{i:064x}" }},\n]\n'
        )
    (root / "uv.lock").write_text("".join(lock))
    files += 1
    (root / "map.json").write_text(json.dumps(mono_map()))
    return files


FLOOR = r"""
import os, sys
names = ("pyproject.toml", "uv.toml", "uv.lock", "pip.conf", "pip.ini")
total = 0
stack = [sys.argv[1]]
while stack:
    d = stack.pop()
    for e in os.scandir(d):
        if e.is_dir(follow_symlinks=False):
            if not e.name.startswith("."):
                stack.append(e.path)
        elif e.name in names or (e.name.endswith(".txt") and e.name.startswith(("requirements", "constraints"))):
            with open(e.path, "rb") as fh:
                total += len(fh.read())
print(total)
"""


def bench_monorepo(work: Path, sizes: Sequence[int], runs: int) -> dict[str, Any]:
    result: dict[str, Any] = {"runs": runs, "sizes": {}}
    env = clean_env()
    for size in sizes:
        template = work / f"template-{size}"
        files = generate_monorepo(template, size)
        lock_mb = (template / "uv.lock").stat().st_size / 1e6
        tree = work / f"tree-{size}"

        def fresh(template: Path = template, tree: Path = tree) -> None:
            if tree.exists():
                shutil.rmtree(tree)
            shutil.copytree(template, tree)

        fresh()
        mapfile = str(tree / "map.json")
        measures = interleaved(
            {
                "floor (read every file)": (
                    [sys.executable, "-c", FLOOR, str(tree)],
                    tree,
                    env,
                    None,
                ),
                "rewrite --check --recursive": (
                    [*azfeeds_cmd(), "rewrite", "--check", "--recursive", "--map", mapfile, "."],
                    tree,
                    env,
                    None,
                ),
            },
            runs,
            expect={"rewrite --check --recursive": 1},
        )
        rewrite = interleaved(
            {
                "rewrite --recursive": (
                    [*azfeeds_cmd(), "rewrite", "--recursive", "--map", mapfile, "."],
                    tree,
                    env,
                    fresh,
                )
            },
            runs,
            warmup=False,
        )
        # the tree is now rewritten: a check finds nothing, and the lock is already right
        noop = interleaved(
            {
                "rewrite --check --recursive (already right)": (
                    [*azfeeds_cmd(), "rewrite", "--check", "--recursive", "--map", mapfile, "."],
                    tree,
                    env,
                    None,
                )
            },
            runs,
            warmup=False,
        )
        measures.update(rewrite)
        measures.update(noop)
        floor = measures["floor (read every file)"].median
        entry: dict[str, Any] = {"files": files, "uv_lock_mb": round(lock_mb, 2)}
        entry.update({k: v.doc() for k, v in measures.items()})
        entry["check_over_floor"] = paired_ratio(
            measures, "rewrite --check --recursive", "floor (read every file)"
        )
        entry["rewrite_over_floor"] = round(measures["rewrite --recursive"].median / floor, 2)
        result["sizes"][str(size)] = entry
        shutil.rmtree(template)
        shutil.rmtree(tree)
    small, large = str(sizes[0]), str(sizes[-1])
    for key in ("rewrite --check --recursive", "rewrite --recursive"):
        result[f"growth {key} ({large}/{small})"] = round(
            result["sizes"][large][key]["median_s"] / result["sizes"][small][key]["median_s"], 2
        )
    result["targets"] = {
        "check_over_floor_at_10000": 3.0,
        "growth_10x": 11.0,
        "peak_rss_mb_at_10000": 150,
    }
    return result


# -- 4. what users gain in uv ----------------------------------------------------------------


def bench_uv(work: Path, packages: int, runs: int, latency_ms: int) -> dict[str, Any]:
    from uv import find_uv_bin

    uv = str(find_uv_bin())
    names = [f"pkg{i:02d}" for i in range(1, packages + 1)]
    config = {
        "organizations": [
            {
                "name": "solo",
                "pats": [PAT],
                "latency_ms": latency_ms,
                "feeds": [
                    {
                        "name": "python",
                        "project": "Platform",
                        "packages": [{"name": n, "version": "1.0.0"} for n in names],
                    }
                ],
            }
        ]
    }
    emu = Emulator(config, work / "emulator")
    result: dict[str, Any] = {"packages": packages, "latency_ms": latency_ms, "runs": runs}
    try:
        project = work / "project"
        project.mkdir(parents=True)
        deps = ", ".join(f'"{n}"' for n in names)
        (project / "pyproject.toml").write_text(
            f'[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.8"\ndependencies = [{deps}]\n\n'
            f'[[tool.uv.index]]\nname = "solo"\nurl = "{emu.url}/solo/Platform/_packaging/python/pypi/simple/"\n'
            "default = true\n"
        )
        calls = [0]

        def uv_env() -> dict[str, str]:
            calls[0] += 1
            return clean_env(
                {
                    "UV_INDEX_SOLO_USERNAME": "bench",
                    "UV_INDEX_SOLO_PASSWORD": PAT,
                    "UV_CACHE_DIR": str(work / f"uv-cache-{calls[0]}"),
                    "UV_PYTHON_DOWNLOADS": "never",
                    "UV_PYTHON": sys.executable,
                    "UV_NO_PROGRESS": "1",
                    "XDG_CONFIG_HOME": str(work / "xdg"),
                }
            )

        def cycle(label: str) -> dict[str, Any]:
            times: list[float] = []
            unauthorized: list[int] = []
            requests: list[int] = []
            for _ in range(runs):
                for leftover in (project / "uv.lock", project / ".venv"):
                    if leftover.is_dir():
                        shutil.rmtree(leftover)
                    elif leftover.exists():
                        leftover.unlink()
                emu.clear()
                start = time.perf_counter()
                lock = subprocess.run(
                    [uv, "lock"], cwd=project, env=uv_env(), capture_output=True, text=True
                )
                sync = subprocess.run(
                    [uv, "sync"], cwd=project, env=uv_env(), capture_output=True, text=True
                )
                times.append(time.perf_counter() - start)
                if lock.returncode or sync.returncode:
                    raise SystemExit(f"bench: uv failed in {label}:\n{lock.stderr}\n{sync.stderr}")
                log = [r for r in emu.log() if r["route"] != "control"]
                unauthorized.append(sum(1 for r in log if r["status"] == 401))
                requests.append(len(log))
            return {
                "median_s": round(statistics.median(times), 3),
                "runs_s": [round(t, 3) for t in times],
                "responses_401": unauthorized,
                "requests": requests,
            }

        result["name form"] = cycle("name form")
        rewrite = subprocess.run(
            [*azfeeds_cmd(), "rewrite"],
            cwd=project,
            env=clean_env({"UV_INDEX_SOLO_PASSWORD": PAT}),
            capture_output=True,
            text=True,
        )
        if rewrite.returncode:
            raise SystemExit(f"bench: azfeeds rewrite failed:\n{rewrite.stderr}")
        result["after azfeeds rewrite"] = cycle("UUID form")
        result["ratio_name_over_uuid"] = round(
            result["name form"]["median_s"] / result["after azfeeds rewrite"]["median_s"], 2
        )
    finally:
        emu.stop()
    return result


# -- report ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {
        "os": f"{platform.system()} {platform.release()}",
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "python": platform.python_version(),
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def render(doc: dict[str, Any]) -> str:
    out: list[str] = []
    m = doc["machine"]
    out.append(
        f"machine: {m['os']}, {m['cpu']}, {m['cores']} cores, {m['memory']}, Python {m['python']}"
    )
    if "startup" in doc:
        s = doc["startup"]
        out.append(f"\n1. start-up (median of {s['runs']})")
        for name, c in s["commands"].items():
            out.append(f"   {name:<40} {ms(c['median_s']):>9}")
        out.append(
            f"   ratio --version / import typer            {s['ratio_version']:>6}   (target <= 1.15)"
        )
        out.append(
            f"   ratio offline rewrite / typer, tomlkit    {s['ratio_rewrite']:>6}   (target <= 1.3)"
        )
    if "orgs" in doc:
        o = doc["orgs"]
        out.append(
            f"\n2. organizations in parallel ({o['latency_ms']} ms added latency per request, median of {o['runs']})"
        )
        out.append("   Services organizations (--api-url to the emulator)")
        for size, entry in o["sizes"].items():
            line = f"   {size:>3} orgs  azfeeds map {ms(entry['azfeeds map']['median_s']):>9}"
            if "curl | jq loop" in entry:
                line += f"   curl | jq loop {ms(entry['curl | jq loop']['median_s']):>9}"
            line += f"   feeds requests/run {entry['feeds_requests_per_run']:g} (per org {entry['feeds_requests_per_org']})"
            out.append(line)
        out.append(
            f"   ratio last / first size                   {o['ratio_last_to_first']:>6}   (target <= 1.5)"
        )
        if "loop_over_azfeeds_at_last" in o:
            out.append(
                f"   curl | jq loop / azfeeds at last size     {o['loop_over_azfeeds_at_last']:>6}"
            )
        out.append(
            "   collections of one server (the first asks alone: it may negotiate the version)"
        )
        for size, entry in o["server"].items():
            out.append(
                f"   {size:>3} colls azfeeds map {ms(entry['azfeeds map']['median_s']):>9}"
                f"   feeds requests/run {entry['feeds_requests_per_run']:g}"
            )
        out.append(
            f"   ratio last / first size                   {o['server_ratio_last_to_first']:>6}"
        )
    if "monorepo" in doc:
        mono = doc["monorepo"]
        out.append(
            f"\n3. monorepo (uv workspace, 10% of members with Azure indexes; median of {mono['runs']})"
        )
        for size, entry in mono["sizes"].items():
            out.append(
                f"   {size} members ({entry['files']} files, uv.lock {entry['uv_lock_mb']} MB)"
            )
            for key in (
                "floor (read every file)",
                "rewrite --check --recursive",
                "rewrite --recursive",
                "rewrite --check --recursive (already right)",
            ):
                c = entry[key]
                rss = (
                    f"  peak RSS {c['peak_rss_mb']:.0f} MB" if c["peak_rss_mb"] is not None else ""
                )
                out.append(f"     {key:<46} {ms(c['median_s']):>9}{rss}")
            out.append(
                f"     check / floor {entry['check_over_floor']}   rewrite / floor {entry['rewrite_over_floor']}"
            )
        for key, value in mono.items():
            if key.startswith("growth"):
                out.append(f"   {key}: {value}   (target <= 11)")
    if "uv" in doc:
        u = doc["uv"]
        out.append(
            f"\n4. what users gain in uv ({u['packages']} packages, {u['latency_ms']} ms latency, uv lock + uv sync, median of {u['runs']})"
        )
        for key in ("name form", "after azfeeds rewrite"):
            c = u[key]
            out.append(
                f"   {key:<24} {ms(c['median_s']):>9}   401 responses {c['responses_401']}   requests {c['requests']}"
            )
        out.append(f"   ratio name form / after rewrite           {u['ratio_name_over_uuid']:>6}")
    return "\n".join(out) + "\n"


SECTIONS = ("startup", "orgs", "monorepo", "uv")


def main() -> int:
    parser = argparse.ArgumentParser(description="azfeeds benchmark")
    parser.add_argument("--quick", action="store_true", help="small sizes, few runs (smoke test)")
    parser.add_argument(
        "--json", type=Path, default=Path("bench-results.json"), help="where to write the figures"
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per figure (default 15/5, 3 with --quick)"
    )
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        action="append",
        help="run only this section (repeatable; default: all)",
    )
    args = parser.parse_args()
    only = set(args.only or SECTIONS)
    quick = args.quick
    started = time.monotonic()
    doc: dict[str, Any] = {"machine": machine(), "quick": quick, "azfeeds": azfeeds_cmd()}
    doc["bytecode_compile_s"] = round(compile_bytecode(), 1)
    with tempfile.TemporaryDirectory(prefix="azfeeds-bench-") as tmp:
        work = Path(tmp)
        if "startup" in only:
            doc["startup"] = bench_startup(work / "startup", args.runs or (3 if quick else 15))
            print("start-up done", file=sys.stderr, flush=True)
        if "orgs" in only:
            doc["orgs"] = bench_orgs(
                work / "orgs",
                (1, 5) if quick else (1, 5, 20),
                args.runs or (1 if quick else 5),
                200,
            )
            print("organizations done", file=sys.stderr, flush=True)
        if "monorepo" in only:
            doc["monorepo"] = bench_monorepo(
                work / "mono",
                (100, 1000) if quick else (1000, 10000),
                args.runs or (1 if quick else 3),
            )
            print("monorepo done", file=sys.stderr, flush=True)
        if "uv" in only:
            doc["uv"] = bench_uv(work / "uv", 5 if quick else 30, 1 if quick else 3, 50)
    doc["wall_s"] = round(time.monotonic() - started, 1)
    text = render(doc)
    sys.stdout.write(text)
    print(f"total {doc['wall_s']} s; figures written to {args.json}", file=sys.stderr)
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
