#!/usr/bin/env python3
"""Crash safety of ``azfeeds rewrite``: SIGKILL and SIGINT at random moments of a 200-file run.

    uv run python scripts/crash_test.py [--trials N] [--sigint-trials N] [--seed S]
        [--replace-trials N] [--sigint-replace-trials N] [--json FILE] [--workdir DIR] [--keep]

The script builds a 200-file tree that ``azfeeds rewrite --recursive --map M`` rewrites (member
``pyproject.toml`` files with ``[[tool.uv.index]]`` entries in name form, ``requirements*.txt``
with ``--index-url`` / ``--extra-index-url``, ``uv.toml``, ``pip.conf`` with a multi-line
``extra-index-url``, a root ``pyproject.toml`` with its ``uv.lock``, a few CRLF files, a BOM file,
a few files with nothing to change, a few unusual permission bits), and the map file with the
organizations, projects, feeds, views and UUIDs it uses. A normal run on a copy gives every
file's NEW bytes; the OLD bytes are the originals.

SIGKILL trials (``--trials``, default 100): copy the tree, start
``python -m azfeeds rewrite --recursive --map M .``, sleep a delay drawn uniformly in
[0, 1.2 x the median duration of a normal run], send SIGKILL, wait. Then every file must be
wholly OLD or wholly NEW, keep its permission bits, and parse (TOML with tomllib, pip.conf with
configparser, requirements line by line). A file that is neither is an *interrupted write*: there
must be none. Temporary files (``.<name>.azfeeds-<pid>-<n>.tmp``) may be left (SIGKILL cannot
clean up) and are counted; a following normal run must then succeed, write exactly the NEW bytes
everywhere and leave no temporary file (the Transaction removes those of dead processes).

The replace loop (``os.replace`` of every file) lasts a few milliseconds of a ~0.5 s run, so
uniform delays seldom land in it. ``--replace-trials`` (default 20) more SIGKILL trials aim there:
each watches one rewritten file drawn at random and sends the signal the moment its inode changes.

SIGINT trials (``--sigint-trials``, default 30, uniform delays; ``--sigint-replace-trials``,
default 10, in the replace loop): the exit status must be 130 (or 0 if the run ended first),
stderr must hold no traceback, no temporary file may be left, and the changed files must be all
OLD or all NEW (SIGINT is held while files are replaced: in the replace loop, all NEW). Exit
statuses are judged as a shell shows them: a process ended by SIGINT (Popen's -2) is 130. Under
``python -m``, CPython ends the process by SIGINT instead of exiting 130 when the
KeyboardInterrupt passed through code run by ``exec`` of a string (dataclasses build their
methods so) even though azfeeds caught it and printed "interrupted".
A SIGINT in the first ~15 ms can land in CPython's own start-up, before any azfeeds code runs
(no handler yet; or the import of ``site``/``runpy``: "Could not import runpy module", exit 1).
Those trials are counted apart as ``python-start-up``; they must leave every file OLD. A
traceback from the module level of ``azfeeds/__init__.py`` (runpy imports the package before
``__main__.main`` can catch anything) is azfeeds code, and counts as a traceback.

Delays come from ``random.Random(seed)``: a seed replays the same schedule (the machine's timing
still varies). The script prints a summary table, writes the figures and every trial as JSON with
``--json``, and exits 1 if any invariant is broken (the trees of failed trials are kept under the
work directory, whose path is printed). POSIX only: on Windows it says so and exits 0.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib

    def parse_toml(text: str) -> None:
        """Raise if ``text`` is not valid TOML."""
        tomllib.loads(text)

else:  # pragma: no cover - Python 3.10
    import tomlkit

    def parse_toml(text: str) -> None:
        """Raise if ``text`` is not valid TOML."""
        tomlkit.parse(text)


ROOT = Path(__file__).resolve().parent.parent
TEMP_RE = re.compile(r"^\.(?P<target>.+)\.azfeeds-(?P<pid>\d+)-(?P<n>\d+)\.tmp$")
TREE_FILES = 200
DELAY_FACTOR = 1.2
NORMAL_RUNS = 5
START_UP_SPAN = 0.04  # seconds: the start-up sweep's delays span [0, this]
KILL_WAIT = 60.0  # seconds to wait for a signalled process before calling it hung
RUN_TIMEOUT = 300.0

Log = Callable[[str], None]


# -- the tree -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    org: str
    project: str | None  # the project's name (None: an organization-scoped feed)
    written: str | None  # the project as the URL writes it (%20 for a space)
    name: str
    views: tuple[str, ...]


FEEDS = (
    Feed("orgA", "ProjectX", "ProjectX", "feedx", ("Release", "Prerelease")),
    Feed("orgA", "Data Platform", "Data%20Platform", "ml-wheels", ()),
    Feed("orgA", None, None, "shared", ("Release",)),
    Feed("orgB", "Project Y", "Project%20Y", "feedy", ("Release",)),
    Feed("orgB", "Core", "Core", "corelibs", ()),
    Feed("contoso-eng", "Infra", "Infra", "wheels", ("Local",)),
)


def index_url(feed: Feed, view: str | None = None, kind: str = "simple") -> str:
    """The name-form URL of a feed (optionally through a view)."""
    project = f"{feed.written}/" if feed.written else ""
    at = f"@{view}" if view else ""
    return f"https://pkgs.dev.azure.com/{feed.org}/{project}_packaging/{feed.name}{at}/pypi/{kind}/"


def index_name(feed: Feed, view: str | None = None) -> str:
    """A uv index name for a feed."""
    name = f"{feed.org}-{feed.name}".lower()
    return f"{name}-{view.lower()}" if view else name


def map_document(rng: random.Random) -> dict[str, Any]:
    """The map file for FEEDS, with UUIDs drawn from ``rng``."""

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    projects: dict[tuple[str, str], str] = {}
    orgs: dict[str, list[dict[str, Any]]] = {}
    for feed in FEEDS:
        project: dict[str, str] | None = None
        if feed.project is not None:
            pid = projects.setdefault((feed.org, feed.project), new_id())
            project = {"id": pid, "name": feed.project}
        entry = {
            "id": new_id(),
            "name": feed.name,
            "project": project,
            "views": [{"id": new_id(), "name": v} for v in feed.views],
        }
        orgs.setdefault(feed.org, []).append(entry)
    return {
        "schema_version": 1,
        "organizations": [
            {"name": org, "url": f"https://pkgs.dev.azure.com/{org}", "feeds": feeds}
            for org, feeds in orgs.items()
        ],
    }


def _pick(rng: random.Random) -> tuple[Feed, str | None]:
    feed = rng.choice(FEEDS)
    view = rng.choice((None, None, *feed.views)) if feed.views else None
    return feed, view


def _member_pyproject(rng: random.Random, i: int) -> str:
    picks: list[tuple[Feed, str | None]] = []
    count = rng.randint(1, 3)
    while len(picks) < count:
        pick = _pick(rng)
        if index_name(*pick) not in {index_name(*p) for p in picks}:
            picks.append(pick)
    deps = [f"dep{n}" for n in rng.sample(range(40), len(picks))]
    lines = [
        "[project]",
        f'name = "member-{i:03d}"',
        'version = "0.1.0"',
        'requires-python = ">=3.10"',
        f"dependencies = [{', '.join(json.dumps(d) for d in sorted(set(deps)))}]",
        "",
    ]
    for n, (feed, view) in enumerate(picks):
        lines += ["[[tool.uv.index]]", f'name = "{index_name(feed, view)}"']
        comment = "  # team feed" if rng.random() < 0.2 else ""
        lines.append(f'url = "{index_url(feed, view)}"{comment}')
        if n == 0 and view is None and rng.random() < 0.3:
            lines.append(f'publish-url = "{index_url(feed, None, "upload")}"')
        lines += ["explicit = true", ""]
    lines.append("[tool.uv.sources]")
    for dep, (feed, view) in zip(deps, picks, strict=True):
        lines.append(f'{dep} = {{ index = "{index_name(feed, view)}" }}')
    return "\n".join(lines) + "\n"


def _plain_pyproject(i: int) -> str:
    return (
        f'[project]\nname = "plain-{i}"\nversion = "1.0.0"\ndependencies = ["requests"]\n\n'
        '[[tool.uv.index]]\nname = "pypi-mirror"\nurl = "https://pypi.org/simple/"\n'
    )


def _requirements(rng: random.Random, i: int) -> str:
    first, view = _pick(rng)
    lines = [f"# service {i}: installed by pip", f"--index-url {index_url(first, view)}"]
    for _ in range(rng.randint(0, 2)):
        feed, v = _pick(rng)
        sep = rng.choice((" ", "="))
        lines.append(f"--extra-index-url{sep}{index_url(feed, v)}")
    lines.append("--extra-index-url https://pypi.org/simple/")
    lines += [f"pkg{rng.randint(0, 99)}>=1.{n}" for n in range(rng.randint(1, 6))]
    return "\n".join(lines) + "\n"


def _uv_toml(rng: random.Random, i: int) -> str:
    feed, view = _pick(rng)
    other, oview = _pick(rng)
    return (
        f"# uv.toml for tool {i}\n"
        f'extra-index-url = ["{index_url(other, oview)}"]\n\n'
        f'[[index]]\nname = "{index_name(feed, view)}"\nurl = "{index_url(feed, view)}"\n\n'
        f'[pip]\nindex-url = "{index_url(feed, view)}"\n'
    )


def _pip_conf(rng: random.Random, i: int) -> str:
    feed, view = _pick(rng)
    other, oview = _pick(rng)
    return (
        f"; pip configuration of environment {i}\n[global]\ntimeout = 60\n"
        f"index-url = {index_url(feed, view)}\n"
        "extra-index-url =\n"
        "    https://pypi.org/simple/\n"
        f"    {index_url(other, oview)}\n\n"
        "[install]\ntrusted-host = pypi.org\n"
    )


def _root_pyproject() -> str:
    feedx, shared = FEEDS[0], FEEDS[2]
    return (
        '[project]\nname = "monorepo"\nversion = "0.1.0"\nrequires-python = ">=3.10"\n'
        'dependencies = ["alpha", "beta", "idna"]\n\n'
        '[tool.uv.workspace]\nmembers = ["packages/*"]\n\n'
        f'[[tool.uv.index]]\nname = "orga-feedx"\nurl = "{index_url(feedx)}"\nexplicit = true\n\n'
        f'[[tool.uv.index]]\nname = "orga-shared"\nurl = "{index_url(shared)}"\nexplicit = true\n\n'
        '[tool.uv.sources]\nalpha = { index = "orga-feedx" }\nbeta = { index = "orga-shared" }\n'
    )


def _root_lock() -> str:
    registry = {"alpha": index_url(FEEDS[0]), "beta": index_url(FEEDS[2])}
    parts = ['version = 1\nrevision = 3\nrequires-python = ">=3.10"\n']
    for n, (name, url) in enumerate(registry.items(), start=1):
        parts.append(
            f'\n[[package]]\nname = "{name}"\nversion = "1.{n}.0"\n'
            f'source = {{ registry = "{url}" }}\n'
            f'sdist = {{ url = "https://example.invalid/{name}-1.{n}.0.tar.gz", '
            f'hash = "sha256:{n:064x}" }}\n'
        )
    parts.append(
        '\n[[package]]\nname = "idna"\nversion = "3.10"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        '\n[[package]]\nname = "monorepo"\nversion = "0.1.0"\nsource = { virtual = "." }\n'
        'dependencies = [\n    { name = "alpha" },\n    { name = "beta" },\n    { name = "idna" },\n]\n'
        "\n[package.metadata]\nrequires-dist = [\n"
        f'    {{ name = "alpha", index = "{registry["alpha"]}" }},\n'
        f'    {{ name = "beta", index = "{registry["beta"]}" }},\n'
        '    { name = "idna" },\n]\n'
    )
    return "".join(parts)


CRLF_FILES = frozenset(
    {
        "packages/member-003/pyproject.toml",
        "packages/member-050/pyproject.toml",
        "packages/member-101/pyproject.toml",
        "services/svc-06/requirements.txt",
        "tools/tool-04/uv.toml",
        "envs/env-2/pip.conf",
    }
)
BOM_FILE = "packages/member-005/pyproject.toml"


def tree_files(seed: int) -> dict[str, tuple[bytes, int]]:
    """The 200 files of the tree: relative path -> (bytes, permission bits)."""
    rng = random.Random(f"azfeeds-crash-tree-{seed}")
    texts: dict[str, str] = {
        "pyproject.toml": _root_pyproject(),
        "uv.lock": _root_lock(),
    }
    for i in range(120):
        texts[f"packages/member-{i:03d}/pyproject.toml"] = _member_pyproject(rng, i)
    for i in range(8):
        texts[f"libs/plain-{i}/pyproject.toml"] = _plain_pyproject(i)
    for i in range(40):
        name = ("requirements.txt", "requirements-dev.txt", "requirements-test.txt")[i % 3]
        texts[f"services/svc-{i:02d}/{name}"] = _requirements(rng, i)
    for i in range(20):
        texts[f"tools/tool-{i:02d}/uv.toml"] = _uv_toml(rng, i)
    for i in range(10):
        texts[f"envs/env-{i}/pip.conf"] = _pip_conf(rng, i)
    assert len(texts) == TREE_FILES, len(texts)
    assert texts.keys() >= CRLF_FILES, CRLF_FILES - texts.keys()
    modes = {"tools/tool-01/uv.toml": 0o664, "packages/member-010/pyproject.toml": 0o640}
    assert modes.keys() <= texts.keys()
    files: dict[str, tuple[bytes, int]] = {}
    for rel, text in texts.items():
        data = (text.replace("\n", "\r\n") if rel in CRLF_FILES else text).encode("utf-8")
        if rel == BOM_FILE:
            data = b"\xef\xbb\xbf" + data  # a UTF-8 BOM
        mode = modes.get(rel, 0o600 if rel.endswith("pip.conf") else 0o644)
        files[rel] = (data, mode)
    return files


def write_tree(root: Path, files: dict[str, tuple[bytes, int]]) -> None:
    """Create the tree under ``root``."""
    for rel, (data, mode) in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)


# -- checking a tree ----------------------------------------------------------------------------


_REQ_OPTION = re.compile(r"^(-i|--index-url|--extra-index-url)(\s+|=)\S+$")
_REQ_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*([<>=!~]=?\s*[^\s;#]+\s*)*$")


def parse_check(rel: str, data: bytes) -> str | None:
    """None if the file parses as what it is, else the reason."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return f"not UTF-8: {exc}"
    name = rel.rsplit("/", 1)[-1]
    try:
        if name.endswith((".toml", ".lock")):
            parse_toml(text)
        elif name == "pip.conf":
            parser = configparser.RawConfigParser()
            parser.read_string(text, source=rel)
            if not parser.get("global", "index-url", fallback=""):
                return "pip.conf: [global] index-url is missing"
        else:
            for number, raw in enumerate(text.splitlines(), start=1):
                line = re.sub(r"(^|\s)#.*$", "", raw).strip()
                if line and not (_REQ_OPTION.match(line) or _REQ_LINE.match(line)):
                    return f"requirements line {number} unreadable: {raw!r}"
    except (ValueError, configparser.Error) as exc:  # TOMLDecodeError is a ValueError
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # tomlkit's ParseError on Python 3.10
        return f"{type(exc).__name__}: {exc}"
    return None


@dataclass
class TreeState:
    """What a tree holds after a run, compared with the OLD and NEW contents."""

    old: list[str] = field(default_factory=list)  # changed files still OLD
    new: list[str] = field(default_factory=list)  # changed files now NEW
    unchanged_ok: int = 0  # files a run leaves alone (OLD == NEW), found intact
    torn: list[str] = field(default_factory=list)  # neither OLD nor NEW (or missing)
    unparsable: list[str] = field(default_factory=list)
    mode_changes: list[str] = field(default_factory=list)
    temps: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """all-old, all-new, mixed, or torn."""
        if self.torn:
            return "torn"
        if self.old and self.new:
            return "mixed"
        return "all-new" if self.new else "all-old"


def scan(root: Path, old: dict[str, tuple[bytes, int]], new: dict[str, bytes]) -> TreeState:
    """Compare every file of the tree with its OLD and NEW bytes; find temporary files."""
    state = TreeState()
    present: set[str] = set()
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            rel = Path(dirpath, name).relative_to(root).as_posix()
            if rel in old:
                present.add(rel)
            elif TEMP_RE.match(name):
                state.temps.append(rel)
            else:
                state.unexpected.append(rel)
    for rel, (old_data, mode) in old.items():
        if rel not in present:
            state.torn.append(f"{rel}: missing")
            continue
        path = root / rel
        data = path.read_bytes()
        new_data = new[rel]
        if data == old_data == new_data:
            state.unchanged_ok += 1
        elif data == old_data:
            state.old.append(rel)
        elif data == new_data:
            state.new.append(rel)
        else:
            state.torn.append(f"{rel}: {len(data)} bytes, neither old ({len(old_data)}) nor new")
            continue
        reason = parse_check(rel, data)
        if reason:
            state.unparsable.append(f"{rel}: {reason}")
        actual = path.stat().st_mode & 0o7777
        if actual != mode:
            state.mode_changes.append(f"{rel}: mode {actual:o}, expected {mode:o}")
    state.temps.sort()
    state.unexpected.sort()
    return state


# -- running azfeeds ----------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for azfeeds: this one without azfeeds' own settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AZFEEDS_")}


def rewrite_cmd(map_file: Path) -> list[str]:
    """The command every run uses (in the tree's directory)."""
    return [sys.executable, "-m", "azfeeds", "rewrite", "--recursive", "--map", str(map_file), "."]


@dataclass
class Finished:
    code: int
    seconds: float
    stderr: str


def run_rewrite(tree: Path, map_file: Path) -> Finished:
    """A normal, uninterrupted run."""
    start = time.perf_counter()
    proc = subprocess.run(
        rewrite_cmd(map_file),
        cwd=tree,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    elapsed = time.perf_counter() - start
    return Finished(proc.returncode, elapsed, proc.stderr.decode("utf-8", "replace"))


@dataclass
class Signalled:
    code: int | None  # None: did not exit within KILL_WAIT after the signal
    delay: float  # seconds from start to the signal
    sent: bool  # False: the run had already exited, no signal was sent
    triggered: bool  # the trigger file was seen replaced (targeted trials only)
    stderr: str


def run_and_signal(
    cmd: list[str], cwd: Path, delay: float, signum: int, trigger: Path | None = None
) -> Signalled:
    """Start a run, send ``signum`` after ``delay`` seconds, wait for it to end.

    With ``trigger``, the delay counts from the moment that file is seen replaced (its inode
    changes): the signal lands inside the run's replace loop.
    """
    inode = os.stat(trigger).st_ino if trigger is not None else 0
    triggered = False
    with tempfile.TemporaryFile(prefix="azfeeds-crash-stderr-") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL, stderr=err
        )
        try:
            origin = start
            if trigger is not None:
                while proc.poll() is None and time.perf_counter() - start < RUN_TIMEOUT:
                    try:
                        if os.stat(trigger).st_ino != inode:
                            triggered = True
                            break
                    except FileNotFoundError:  # pragma: no cover - replace is atomic
                        continue
                origin = time.perf_counter()
            remaining = delay - (time.perf_counter() - origin)
            if remaining > 0:
                time.sleep(remaining)
            sent_at = time.perf_counter() - start
            sent = proc.poll() is None
            if sent:
                proc.send_signal(signum)
            try:
                code: int | None = proc.wait(timeout=KILL_WAIT)
            except subprocess.TimeoutExpired:
                code = None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return Signalled(code, sent_at, sent, triggered, stderr)


def compile_bytecode(log: Log) -> None:
    """Compile azfeeds first (an installed tool has its bytecode), so the kill window is
    dominated by real work rather than by compiling."""
    import azfeeds

    package = Path(azfeeds.__file__).resolve().parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
    log(f"compiled {package}")


# -- the experiment ----------------------------------------------------------------------------


@dataclass
class KillSummary:
    trials: int = 0
    finished_before_signal: int = 0  # exit 0 before SIGKILL could be sent
    killed_before_any_write: int = 0  # all OLD, no temporary file
    killed_while_writing_temps: int = 0  # all OLD, temporary files left
    killed_mid_run: int = 0  # some changed files NEW, some OLD (each one whole)
    killed_after_replacing: int = 0  # all NEW, killed before exiting
    interrupted_writes: int = 0  # files neither OLD nor NEW (must be 0)
    unparsable_files: int = 0
    mode_changes: int = 0
    unexpected_files: int = 0
    leftover_temp_files: int = 0  # total after SIGKILL (allowed)
    trials_with_leftover_temps: int = 0
    recovery_runs: int = 0
    recovery_failures: int = 0
    recovery_temp_files: int = 0

    @property
    def completed(self) -> int:
        """Trials whose run replaced every file (exited, or killed just after)."""
        return self.finished_before_signal + self.killed_after_replacing


@dataclass
class SigintSummary:
    trials: int = 0
    exit_codes: dict[str, int] = field(default_factory=dict)  # as Popen reports them
    landings: dict[str, int] = field(default_factory=dict)  # see sigint_landing()
    all_old: int = 0
    all_new: int = 0
    not_all_or_nothing: int = 0  # some changed files OLD, some NEW (must be 0)
    interrupted_writes: int = 0
    unparsable_files: int = 0
    mode_changes: int = 0
    unexpected_files: int = 0
    leftover_temp_files: int = 0  # must be 0
    tracebacks: int = 0  # from azfeeds' own run (must be 0)
    hangs: int = 0  # did not exit after SIGINT (must be 0)
    bad_exit_codes: int = 0  # must be 0


@dataclass
class CrashReport:
    seed: int
    files: int
    files_changed: int
    files_unchanged: int
    normal_run_seconds: float
    normal_runs_seconds: list[float]
    max_delay_seconds: float
    kill: KillSummary
    kill_in_replace_loop: KillSummary
    sigint: SigintSummary
    sigint_in_replace_loop: SigintSummary
    start_up: StartUpSummary
    violations: list[str]
    elapsed_seconds: float
    workdir: str | None  # kept (failures, or --keep), else None
    trials: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        """Every invariant held."""
        return not self.violations

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        doc = asdict(self)
        doc["kill"]["completed"] = self.kill.completed
        doc["kill_in_replace_loop"]["completed"] = self.kill_in_replace_loop.completed
        doc["ok"] = self.ok
        return doc


@dataclass
class _Context:
    old: dict[str, tuple[bytes, int]]
    new: dict[str, bytes]
    template: Path
    map_file: Path
    trials_dir: Path
    failures_dir: Path
    violations: list[str]
    records: list[dict[str, Any]]


def _fresh_copy(ctx: _Context, name: str) -> Path:
    tree = ctx.trials_dir / name
    shutil.copytree(ctx.template, tree)
    return tree


def _keep(ctx: _Context, tree: Path) -> None:
    ctx.failures_dir.mkdir(exist_ok=True)
    shutil.move(str(tree), str(ctx.failures_dir / tree.name))


def _common_problems(name: str, state: TreeState) -> list[str]:
    problems = [f"{name}: interrupted write: {t}" for t in state.torn]
    problems += [f"{name}: does not parse: {u}" for u in state.unparsable]
    problems += [f"{name}: {m}" for m in state.mode_changes]
    problems += [f"{name}: unexpected file {u}" for u in state.unexpected]
    return problems


def _tally(summary: KillSummary | SigintSummary, name: str, state: TreeState) -> list[str]:
    """Count one trial's tree into ``summary``; the problems every kind of trial shares."""
    summary.trials += 1
    summary.interrupted_writes += len(state.torn)
    summary.unparsable_files += len(state.unparsable)
    summary.mode_changes += len(state.mode_changes)
    summary.unexpected_files += len(state.unexpected)
    summary.leftover_temp_files += len(state.temps)
    return _common_problems(name, state)


def _kill_trial(
    ctx: _Context, name: str, delay: float, summary: KillSummary, trigger: str | None = None
) -> None:
    tree = _fresh_copy(ctx, name)
    target = tree / trigger if trigger else None
    result = run_and_signal(rewrite_cmd(ctx.map_file), tree, delay, signal.SIGKILL, target)
    state = scan(tree, ctx.old, ctx.new)
    problems = _tally(summary, name, state)
    summary.trials_with_leftover_temps += bool(state.temps)
    outcome = state.outcome
    if result.code == 0:
        summary.finished_before_signal += 1
        if outcome != "all-new" or state.temps:
            problems.append(f"{name}: exit 0 but {outcome}, {len(state.temps)} temporary files")
    elif result.code == -signal.SIGKILL:
        if outcome == "all-old":
            if state.temps:
                summary.killed_while_writing_temps += 1
            else:
                summary.killed_before_any_write += 1
        elif outcome == "mixed":
            summary.killed_mid_run += 1
        elif outcome == "all-new":
            summary.killed_after_replacing += 1
    else:
        problems.append(f"{name}: exit {result.code} (expected 0 or SIGKILL): {result.stderr!r}")
    record: dict[str, Any] = {
        "trial": name,
        "kind": name.rsplit("-", 1)[0],
        "signal": "SIGKILL",
        "delay": round(result.delay, 4),
        "targeted": trigger is not None,
        "trigger": trigger,
        "triggered": result.triggered,
        "exit_code": result.code,
        "outcome": outcome,
        "old": len(state.old),
        "new": len(state.new),
        "temps": len(state.temps),
    }
    # recovery: a normal run must finish the job and sweep the stale temporary files
    recovery = run_rewrite(tree, ctx.map_file)
    after = scan(tree, ctx.old, ctx.new)
    summary.recovery_runs += 1
    summary.recovery_temp_files += len(after.temps)
    recovery_problems = _common_problems(f"{name} recovery", after)
    if recovery.code != 0:
        recovery_problems.append(
            f"{name} recovery: exit {recovery.code}: {recovery.stderr.strip()[-500:]!r}"
        )
    if after.old:
        recovery_problems.append(f"{name} recovery: {len(after.old)} files still OLD")
    if after.temps:
        recovery_problems.append(f"{name} recovery: temporary files left: {after.temps[:5]}")
    if "Traceback" in recovery.stderr:
        recovery_problems.append(f"{name} recovery: traceback on stderr")
    if recovery_problems:
        summary.recovery_failures += 1
    problems += recovery_problems
    record["recovery_exit_code"] = recovery.code
    record["recovery_seconds"] = round(recovery.seconds, 4)
    record["problems"] = problems
    ctx.records.append(record)
    ctx.violations.extend(problems)
    if problems:
        _keep(ctx, tree)
    else:
        shutil.rmtree(tree)


def shell_status(code: int) -> int:
    """The exit status as a shell reports it: 128 + N for a process ended by signal N."""
    return 128 - code if code < 0 else code


_STDLIB = os.path.join(sysconfig.get_path("stdlib"), "")


def _python_own(frame: str) -> bool:
    """A frame of CPython's own start-up code (frozen modules, the standard library)."""
    if frame.startswith(("<frozen ", "<string>")):
        return True
    return frame.startswith(_STDLIB) and "site-packages" not in frame


_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+, in (?P<func>\S+)', re.MULTILINE)
_PACKAGE_DIR = f"{os.sep}azfeeds{os.sep}"


def sigint_landing(code: int | None, stderr: str) -> str:
    """Where a SIGINT landed, judged from the exit status and the traceback on stderr.

    ``python-start-up``: before any azfeeds code ran. Python had not yet installed its SIGINT
    handler (the process ends by SIGINT, silently), or the KeyboardInterrupt hit the import of
    ``site`` or ``runpy``, or runpy's search for the package: CPython prints the traceback itself
    ("Fatal Python error: init_import_site", "Could not import runpy module") and every frame is
    CPython's own. ``import-lock``: the KeyboardInterrupt hit a weak-reference callback of
    CPython's import lock, which reports it as "Exception ignored" and drops it (the run goes
    on). ``azfeeds-import``: a traceback whose only azfeeds frames are the module level of
    ``azfeeds/__init__.py`` or ``__main__.py``: the signal came while runpy imported the package,
    before ``main()`` could catch it (azfeeds code: the traceback is a defect). ``azfeeds``:
    everything else, where azfeeds' own handling must show.
    """
    text = stderr.strip()
    if code == -signal.SIGINT and not text:
        return "python-start-up"
    if "Traceback" not in text:
        return "azfeeds"
    if "Exception ignored in: <function _get_module_lock" in text:
        return "import-lock"
    frames = [(m["file"], m["func"]) for m in _FRAME.finditer(text)]
    ours = [(f, fn) for f, fn in frames if _PACKAGE_DIR in f]
    if frames and not ours and all(_python_own(f) for f, _fn in frames):
        return "python-start-up"
    if ours and all(
        fn == "<module>" and f.endswith(("__init__.py", "__main__.py")) for f, fn in ours
    ):
        return "azfeeds-import"
    return "azfeeds"


def _sigint_trial(
    ctx: _Context, name: str, delay: float, summary: SigintSummary, trigger: str | None = None
) -> None:
    tree = _fresh_copy(ctx, name)
    target = tree / trigger if trigger else None
    result = run_and_signal(rewrite_cmd(ctx.map_file), tree, delay, signal.SIGINT, target)
    state = scan(tree, ctx.old, ctx.new)
    problems = _tally(summary, name, state)
    key = "hung" if result.code is None else str(result.code)
    summary.exit_codes[key] = summary.exit_codes.get(key, 0) + 1
    outcome = state.outcome
    landing = sigint_landing(result.code, result.stderr)
    summary.landings[landing] = summary.landings.get(landing, 0) + 1
    if result.code is None:
        summary.hangs += 1
        problems.append(f"{name}: still running {KILL_WAIT:.0f} s after SIGINT")
    elif landing == "python-start-up":
        # nothing of azfeeds ran: nothing may have been written
        if outcome != "all-old":
            problems.append(f"{name}: SIGINT during Python's start-up, yet the tree is {outcome}")
    else:
        status = shell_status(result.code)
        if status not in (130, 0):
            summary.bad_exit_codes += 1
            problems.append(
                f"{name}: exit {result.code} after SIGINT (expected 130, or 0): "
                f"{result.stderr.strip()[-800:]!r}"
            )
        if "Traceback" in result.stderr and landing in ("azfeeds", "azfeeds-import"):
            summary.tracebacks += 1
            where = (
                "while the azfeeds package was imported, before main() could catch it"
                if landing == "azfeeds-import"
                else "in azfeeds"
            )
            problems.append(
                f"{name}: traceback on stderr after SIGINT {where} "
                f"(exit {result.code}): {result.stderr.strip()[-1200:]!r}"
            )
        if status == 0 and outcome != "all-new":
            problems.append(f"{name}: exit 0 but {outcome}")
    if state.temps:
        problems.append(f"{name}: temporary files left after SIGINT: {state.temps[:5]}")
    if outcome == "mixed":
        summary.not_all_or_nothing += 1
        problems.append(
            f"{name}: {len(state.old)} changed files OLD and {len(state.new)} NEW after SIGINT"
        )
    elif outcome == "all-old":
        summary.all_old += 1
    elif outcome == "all-new":
        summary.all_new += 1
    ctx.records.append(
        {
            "trial": name,
            "kind": name.rsplit("-", 1)[0],
            "signal": "SIGINT",
            "delay": round(result.delay, 4),
            "targeted": trigger is not None,
            "trigger": trigger,
            "triggered": result.triggered,
            "signal_sent": result.sent,
            "exit_code": result.code,
            "landing": landing,
            "outcome": outcome,
            "old": len(state.old),
            "new": len(state.new),
            "temps": len(state.temps),
            "stderr": result.stderr.strip()[-1500:],
            "problems": problems,
        }
    )
    ctx.violations.extend(problems)
    if problems:
        _keep(ctx, tree)
    else:
        shutil.rmtree(tree)


@dataclass
class StartUpSummary:
    probes: int = 0
    span_seconds: float = 0.0
    exit_codes: dict[str, int] = field(default_factory=dict)
    landings: dict[str, int] = field(default_factory=dict)
    tracebacks: int = 0  # from azfeeds code (must be 0)
    bad_exit_codes: int = 0  # must be 0
    hangs: int = 0  # must be 0


def start_up_probe(
    count: int, violations: list[str], records: list[dict[str, Any]], span: float = START_UP_SPAN
) -> StartUpSummary:
    """SIGINT ``python -m azfeeds --version`` at delays spread evenly over [0, span]: the
    start-up every command shares (interpreter, runpy, the package import, main()).

    Uniform delays over a whole run land in these first milliseconds only now and then; this
    sweep covers them on every run.
    """
    summary = StartUpSummary(span_seconds=span)
    cmd = [sys.executable, "-m", "azfeeds", "--version"]
    with tempfile.TemporaryDirectory(prefix="azfeeds-crash-start-up-") as cwd:
        for n in range(count):
            name = f"start-up-{n:03d}"
            result = run_and_signal(cmd, Path(cwd), span * n / max(count - 1, 1), signal.SIGINT)
            summary.probes += 1
            key = "hung" if result.code is None else str(result.code)
            summary.exit_codes[key] = summary.exit_codes.get(key, 0) + 1
            landing = sigint_landing(result.code, result.stderr)
            summary.landings[landing] = summary.landings.get(landing, 0) + 1
            problems: list[str] = []
            if result.code is None:
                summary.hangs += 1
                problems.append(f"{name}: still running {KILL_WAIT:.0f} s after SIGINT")
            elif landing != "python-start-up":
                if shell_status(result.code) not in (130, 0):
                    summary.bad_exit_codes += 1
                    problems.append(f"{name}: exit {result.code} after SIGINT")
                if "Traceback" in result.stderr and landing in ("azfeeds", "azfeeds-import"):
                    summary.tracebacks += 1
                    problems.append(
                        f"{name}: traceback on stderr after SIGINT {result.delay * 1000:.1f} ms "
                        f"after start ({landing}, exit {result.code}): "
                        f"{result.stderr.strip()[-1200:]!r}"
                    )
            records.append(
                {
                    "trial": name,
                    "kind": "start-up",
                    "signal": "SIGINT",
                    "command": "--version",
                    "delay": round(result.delay, 4),
                    "exit_code": result.code,
                    "landing": landing,
                    "stderr": result.stderr.strip()[-1500:],
                    "problems": problems,
                }
            )
            violations.extend(problems)
    return summary


def run_crash_test(
    trials: int = 100,
    sigint_trials: int = 30,
    seed: int = 1,
    replace_trials: int = 20,
    sigint_replace_trials: int = 10,
    start_up_probes: int = 60,
    workdir: Path | None = None,
    keep: bool = False,
    log: Log | None = None,
) -> CrashReport:
    """Build the tree, learn OLD and NEW, then run the SIGKILL and SIGINT trials."""
    if sys.platform == "win32":  # pragma: no cover
        raise RuntimeError(
            "the crash test needs POSIX signals (SIGKILL); it does not run on Windows"
        )
    say: Log = log or (lambda _msg: None)
    began = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="azfeeds-crash-", dir=workdir))
    violations: list[str] = []
    try:
        compile_bytecode(say)
        old = tree_files(seed)
        map_file = base / "feeds.json"
        map_file.write_text(
            json.dumps(map_document(random.Random(f"azfeeds-crash-map-{seed}")), indent=2) + "\n",
            encoding="utf-8",
        )
        template = base / "template"
        write_tree(template, old)
        for rel, (data, _mode) in old.items():
            reason = parse_check(rel, data)
            if reason:
                raise RuntimeError(f"the generated tree is wrong: {rel}: {reason}")

        # NEW: one normal run on a copy (it also warms the file-system cache)
        expected = base / "expected"
        shutil.copytree(template, expected)
        first = run_rewrite(expected, map_file)
        if first.code != 0:
            raise RuntimeError(f"a normal run failed (exit {first.code}): {first.stderr}")
        new = {rel: (expected / rel).read_bytes() for rel in old}
        check = scan(expected, old, new)
        if check.temps or check.unexpected or check.mode_changes or check.unparsable:
            raise RuntimeError(f"a normal run left a wrong tree: {check}")
        changed = sum(new[rel] != old[rel][0] for rel in old)
        for rel in sorted(CRLF_FILES | {BOM_FILE}):  # the rewrite keeps line endings and BOM
            data = new[rel]
            if data == old[rel][0]:
                violations.append(f"baseline: {rel} was not rewritten")
            if rel in CRLF_FILES and data.count(b"\r\n") != data.count(b"\n"):
                violations.append(f"baseline: {rel} lost its CRLF line endings")
            if rel == BOM_FILE and not data.startswith(b"\xef\xbb\xbf"):
                violations.append(f"baseline: {rel} lost its BOM")
        if changed < TREE_FILES * 0.9:
            raise RuntimeError(f"a normal run changed only {changed} of {TREE_FILES} files")
        second = run_rewrite(expected, map_file)
        if second.code != 0 or scan(expected, old, new).old:
            raise RuntimeError(f"a second run did not keep the NEW tree: {second.stderr}")
        say(f"tree: {TREE_FILES} files, {changed} rewritten by a normal run")

        # how long a normal run takes: the delays span it
        durations: list[float] = []
        for n in range(NORMAL_RUNS):
            tree = base / f"normal-{n}"
            shutil.copytree(template, tree)
            run = run_rewrite(tree, map_file)
            if run.code != 0:
                raise RuntimeError(f"a normal run failed (exit {run.code}): {run.stderr}")
            durations.append(run.seconds)
            shutil.rmtree(tree)
        duration = statistics.median(durations)
        max_delay = DELAY_FACTOR * duration
        say(
            f"normal run: {duration * 1000:.0f} ms (median of {NORMAL_RUNS}); "
            f"delays drawn in [0, {max_delay * 1000:.0f} ms]"
        )

        ctx = _Context(
            old, new, template, map_file, base / "trials", base / "failures", violations, []
        )
        ctx.trials_dir.mkdir()
        # one seeded stream per kind of trial: changing one count does not move the others
        rng = random.Random(seed)
        rng_targeted = random.Random(f"{seed}:replace-loop")
        rng_sigint = random.Random(f"{seed}:sigint")
        kill = KillSummary()
        for n in range(trials):
            _kill_trial(ctx, f"kill-{n:03d}", rng.uniform(0.0, max_delay), kill)
            if (n + 1) % 10 == 0 or n + 1 == trials:
                say(f"SIGKILL trials: {n + 1}/{trials}, {len(ctx.violations)} violations")
        # targeted: the replace loop (os.replace of every file) lasts a few ms of the run, so
        # uniform delays seldom land in it; these trials watch a random one of the rewritten
        # files and signal the moment it is replaced
        rewritten = sorted(rel for rel in old if new[rel] != old[rel][0])
        targeted = KillSummary()
        for n in range(replace_trials):
            trigger = rng_targeted.choice(rewritten)
            _kill_trial(ctx, f"kill-replace-{n:03d}", 0.0, targeted, trigger)
            if (n + 1) % 10 == 0 or n + 1 == replace_trials:
                say(
                    f"SIGKILL trials in the replace loop: {n + 1}/{replace_trials}, "
                    f"{len(ctx.violations)} violations"
                )
        sigint = SigintSummary()
        for n in range(sigint_trials):
            _sigint_trial(ctx, f"sigint-{n:03d}", rng_sigint.uniform(0.0, max_delay), sigint)
            if (n + 1) % 10 == 0 or n + 1 == sigint_trials:
                say(f"SIGINT trials: {n + 1}/{sigint_trials}, {len(ctx.violations)} violations")
        # targeted: SIGINT inside the replace loop, where it must be held until the loop ends
        sigint_targeted = SigintSummary()
        for n in range(sigint_replace_trials):
            trigger = rng_targeted.choice(rewritten)
            _sigint_trial(ctx, f"sigint-replace-{n:03d}", 0.0, sigint_targeted, trigger)
            if (n + 1) % 10 == 0 or n + 1 == sigint_replace_trials:
                say(
                    f"SIGINT trials in the replace loop: {n + 1}/{sigint_replace_trials}, "
                    f"{len(ctx.violations)} violations"
                )
        start_up = start_up_probe(start_up_probes, violations, ctx.records)
        if start_up_probes:
            say(f"SIGINT start-up sweep: {start_up_probes} probes, {len(violations)} violations")
        report = CrashReport(
            seed=seed,
            files=TREE_FILES,
            files_changed=changed,
            files_unchanged=TREE_FILES - changed,
            normal_run_seconds=round(duration, 4),
            normal_runs_seconds=[round(d, 4) for d in durations],
            max_delay_seconds=round(max_delay, 4),
            kill=kill,
            kill_in_replace_loop=targeted,
            sigint=sigint,
            sigint_in_replace_loop=sigint_targeted,
            start_up=start_up,
            violations=violations,
            elapsed_seconds=0.0,
            workdir=None,
            trials=ctx.records,
        )
    finally:
        kept = keep or bool(violations) or sys.exc_info()[0] is not None
        if not kept:
            shutil.rmtree(base, ignore_errors=True)
        elif not keep:  # keep the map, the template and the failed trees only
            for leftover in ("expected", "trials"):
                shutil.rmtree(base / leftover, ignore_errors=True)
    report.workdir = str(base) if kept else None
    report.elapsed_seconds = round(time.perf_counter() - began, 2)
    return report


# -- output -------------------------------------------------------------------------------------


def _kill_rows(title: str, k: KillSummary) -> list[tuple[str, str, str]]:
    return [
        (title, str(k.trials), ""),
        ("  killed before any write", str(k.killed_before_any_write), ""),
        ("  killed while writing temporary files", str(k.killed_while_writing_temps), ""),
        ("  killed mid-run (some files new, some old)", str(k.killed_mid_run), ""),
        ("  completed (exited 0, or killed after replacing)", str(k.completed), ""),
        ("  interrupted writes (neither old nor new)", str(k.interrupted_writes), "0"),
        ("  unparsable files / mode changes", f"{k.unparsable_files} / {k.mode_changes}", "0 / 0"),
        (
            "  leftover temp files after SIGKILL",
            f"{k.leftover_temp_files} in {k.trials_with_leftover_temps} trials",
            "allowed",
        ),
        (
            "  recovery runs: failures / temp files left",
            f"{k.recovery_failures} / {k.recovery_temp_files} ({k.recovery_runs} runs)",
            "0 / 0",
        ),
    ]


def _sigint_rows(title: str, s: SigintSummary) -> list[tuple[str, str, str]]:
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(s.exit_codes.items())) or "-"
    by_status: dict[str, int] = {}
    for code, count in s.exit_codes.items():
        key = code if code == "hung" else str(shell_status(int(code)))
        by_status[key] = by_status.get(key, 0) + count
    shell = ", ".join(f"{code}: {count}" for code, count in sorted(by_status.items())) or "-"
    landings = ", ".join(f"{k}: {v}" for k, v in sorted(s.landings.items())) or "-"
    return [
        (title, str(s.trials), ""),
        ("  sigint exit codes seen (as a shell shows them)", shell, "130 or 0"),
        ("  sigint exit codes seen (Popen: -2 = ended by SIGINT)", codes, ""),
        ("  where the signal landed", landings, ""),
        ("  all old / all new", f"{s.all_old} / {s.all_new}", ""),
        ("  some old, some new", str(s.not_all_or_nothing), "0"),
        ("  interrupted writes", str(s.interrupted_writes), "0"),
        ("  sigint leftover temp files", str(s.leftover_temp_files), "0"),
        ("  azfeeds tracebacks / hangs", f"{s.tracebacks} / {s.hangs}", "0 / 0"),
    ]


def _start_up_rows(s: StartUpSummary) -> list[tuple[str, str, str]]:
    codes = ", ".join(f"{code}: {count}" for code, count in sorted(s.exit_codes.items())) or "-"
    landings = ", ".join(f"{k}: {v}" for k, v in sorted(s.landings.items())) or "-"
    title = f"SIGINT start-up sweep (azfeeds --version, 0-{s.span_seconds * 1000:.0f} ms)"
    return [
        (title, str(s.probes), ""),
        ("  exit codes (Popen)", codes, ""),
        ("  where the signal landed", landings, ""),
        ("  azfeeds tracebacks / bad exit codes", f"{s.tracebacks} / {s.bad_exit_codes}", "0 / 0"),
    ]


def summary_rows(report: CrashReport) -> list[tuple[str, str, str]]:
    """(what, figure, required) rows of the summary table."""
    ms = f"{report.max_delay_seconds * 1000:.0f} ms"
    loop = "signal as a random rewritten file is replaced"
    return [
        ("tree", f"{report.files} files ({report.files_changed} rewritten)", ""),
        ("normal run (median)", f"{report.normal_run_seconds * 1000:.0f} ms", ""),
        *_kill_rows(f"SIGKILL trials (delay 0-{ms})", report.kill),
        *_kill_rows(f"SIGKILL trials in the replace loop ({loop})", report.kill_in_replace_loop),
        *_sigint_rows(f"SIGINT trials (delay 0-{ms})", report.sigint),
        *_sigint_rows(f"SIGINT trials in the replace loop ({loop})", report.sigint_in_replace_loop),
        *_start_up_rows(report.start_up),
        ("invariant violations", str(len(report.violations)), "0"),
        ("elapsed", f"{report.elapsed_seconds:.1f} s", ""),
    ]


def print_summary(report: CrashReport) -> None:
    """The summary table on stdout."""
    rows = summary_rows(report)
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"azfeeds crash test (seed {report.seed})")
    print(f"{'what':<{width}}  {'figure':<{value_width}}  required")
    print(f"{'-' * width}  {'-' * value_width}  --------")
    for what, figure, required in rows:
        print(f"{what:<{width}}  {figure:<{value_width}}  {required}".rstrip())
    if report.violations:
        print("\nviolations:")
        for line in report.violations[:50]:
            print(f"  {line}")
        if len(report.violations) > 50:
            print(f"  ... and {len(report.violations) - 50} more")
    if report.workdir:
        print(f"\nwork directory kept: {report.workdir}")
    print("\nPASS" if report.ok else "\nFAIL")


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--trials", type=int, default=100, help="SIGKILL trials (default 100)")
    parser.add_argument("--sigint-trials", type=int, default=30, help="SIGINT trials (default 30)")
    parser.add_argument(
        "--replace-trials",
        type=int,
        default=20,
        help="extra SIGKILL trials aimed inside the replace loop (default 20)",
    )
    parser.add_argument(
        "--sigint-replace-trials",
        type=int,
        default=10,
        help="extra SIGINT trials aimed inside the replace loop (default 10)",
    )
    parser.add_argument(
        "--start-up-probes",
        type=int,
        default=60,
        help="SIGINTs spread over the first 40 ms of 'azfeeds --version' (default 60)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON here")
    parser.add_argument("--workdir", type=Path, help="where to make the temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if sys.platform == "win32":
        print("crash_test.py: skipped: it needs POSIX signals (SIGKILL), not available on Windows")
        return 0
    counts = (
        args.trials,
        args.sigint_trials,
        args.replace_trials,
        args.sigint_replace_trials,
        args.start_up_probes,
    )
    if min(counts) < 0:
        parser.error("trial counts must be >= 0")

    def log(message: str) -> None:
        print(f"[crash-test] {message}", file=sys.stderr, flush=True)

    report = run_crash_test(
        args.trials,
        args.sigint_trials,
        args.seed,
        replace_trials=args.replace_trials,
        sigint_replace_trials=args.sigint_replace_trials,
        start_up_probes=args.start_up_probes,
        workdir=args.workdir,
        keep=args.keep,
        log=log,
    )
    print_summary(report)
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
    sys.stdout.flush()
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
