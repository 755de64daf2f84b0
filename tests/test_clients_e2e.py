"""End to end with the real uv, pip, Poetry and PDM (dev dependencies) against the emulator.

Two organizations on one host, each accepting only its own PAT. For every client:

1. the project is locked in name form (uv cannot: 401) and installed, with that client's own
   credentials only (POETRY_HTTP_BASIC_*, PDM and pip ``${VAR}`` URLs, UV_INDEX_*);
2. ``azfeeds rewrite`` turns every index URL into UUID form, and keeps poetry.lock and pdm.lock
   true;
3. the client's own lock check passes (``poetry check --lock``, ``pdm lock --check``,
   ``uv lock --check``), and a fresh install from the lock, without re-locking, works;
4. ``azfeeds rewrite --mode names`` gives back every byte of every file, and the check passes again.

Every client runs with its caches and configuration in the test's temporary directory, and
every proxy variable points at a closed local port (``NO_PROXY`` lets the loopback emulator
through): a client that tried to reach PyPI would fail at once, so the test proves none does.
The emulator is shared by the whole module; each test has its own project directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config

pytestmark = pytest.mark.e2e

PAT_A = "clients-pat-a-71be"
PAT_B = "clients-pat-b-0c4d"
BIN = Path(sys.executable).parent
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, a connection fails at once
INDEX_ROUTES = ("simple_index", "simple_project", "download", "metadata")


def _clean_environ() -> dict[str, str]:
    """The machine's environment minus anything a client or azfeeds would take as config."""
    drop = (
        "AZFEEDS_",
        "AZURE_",
        "SYSTEM_",
        "UV_",
        "PIP_",
        "POETRY_",
        "PDM_",
        "VIRTUAL_ENV",
        "CONDA_",
        "PYTHONPATH",
        "NETRC",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        env.pop(proxy, None)
        env.pop(proxy.upper(), None)
    return env


@pytest.fixture(autouse=True)
def _dev_environment_untouched() -> Iterator[None]:
    """No client may install the emulator's packages into azfeeds' own environment."""
    yield
    leaked = [
        n for n in ("alpha", "beta", "delta") if (site_packages(Path(sys.prefix)) / n).exists()
    ]
    assert not leaked, f"installed into {sys.prefix}: {leaked}"


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    cfg = sample_config()
    cfg["organizations"][0]["pats"] = [PAT_A]
    cfg["organizations"][1]["pats"] = [PAT_B]
    with Emulator.start(cfg, tmp_path_factory.mktemp("clients-emulator")) as emulator:
        yield emulator


@dataclass
class Run:
    """One project directory and the environment every program in it runs with."""

    root: Path
    emu: Emulator
    env: dict[str, str] = field(default_factory=dict)
    calls: int = 0

    @property
    def a(self) -> str:
        return f"{self.emu.root_url}/orgA/ProjectX/_packaging/feedx/pypi/simple/"

    @property
    def b(self) -> str:
        return f"{self.emu.root_url}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"

    def base_env(self) -> dict[str, str]:
        home = self.root.parent / "home"
        env = _clean_environ()
        env.update(
            {
                "HOME": str(home),
                "USERPROFILE": str(home),
                "XDG_CONFIG_HOME": str(home / "config"),
                "XDG_CACHE_HOME": str(home / "cache"),
                "XDG_DATA_HOME": str(home / "data"),
                "XDG_STATE_HOME": str(home / "state"),
                "HTTP_PROXY": DEAD_PROXY,
                "HTTPS_PROXY": DEAD_PROXY,
                "ALL_PROXY": DEAD_PROXY,
                "NO_PROXY": "127.0.0.1,localhost",
                "NO_COLOR": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "AZFEEDS_CACHE_DIR": str(home / "azfeeds-cache"),
            }
        )
        env.update(self.env)
        return env

    def run(
        self, *args: str | Path, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        full = self.base_env()
        full.update(env or {})
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.root,
            env=full,
            capture_output=True,
            text=True,
            timeout=240,
        )

    def azfeeds(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "azfeeds", *args)

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the project, except virtual environments and caches."""
        skip = {".venv", "site", "__pycache__", ".pdm-build"}
        files: dict[str, bytes] = {}
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root)
            if path.is_file() and not (set(rel.parts) & skip):
                files[rel.as_posix()] = path.read_bytes()
        return files


def tool(name: str) -> str:
    """A client's console script in this environment (``poetry``, or ``poetry.exe``)."""
    found = shutil.which(name, path=str(BIN))
    assert found is not None, f"{name} is not installed in {BIN}: run 'uv sync'"
    return found


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    return found[0] if found else venv / "Lib" / "site-packages"


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, (
        f"{proc.args}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    )
    return proc


class Window:
    """The emulator's index requests between two moments: how many, how many were 401."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.start = len(emu.log())

    def records(self) -> list[dict[str, Any]]:
        return [r for r in self.emu.log()[self.start :] if r["route"] in INDEX_ROUTES]

    def unauthorized(self) -> int:
        return sum(1 for r in self.records() if r["status"] == 401)

    def cross_org(self) -> int:
        """Requests that carried a credential the organization rejected (another org's PAT)."""
        return sum(1 for r in self.records() if r["auth"] == "basic" and r["credential"] is None)


@pytest.fixture(scope="module")
def map_file(emu: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two organizations' feeds, saved once by ``azfeeds map`` with each org's own PAT."""
    work = tmp_path_factory.mktemp("clients-map")
    src = Run(work / "src", emu)
    src.root.mkdir()
    (src.root / "pyproject.toml").write_text(
        '[project]\nname = "m"\nversion = "0"\n\n'
        f'[[tool.uv.index]]\nname = "orga"\nurl = "{src.a}"\n\n'
        f'[[tool.uv.index]]\nname = "orgb"\nurl = "{src.b}"\n'
    )
    src.env.update(
        {
            "UV_INDEX_ORGA_USERNAME": "any",
            "UV_INDEX_ORGA_PASSWORD": PAT_A,
            "UV_INDEX_ORGB_USERNAME": "any",
            "UV_INDEX_ORGB_PASSWORD": PAT_B,
        }
    )
    out = work / "map.json"
    ok(src.azfeeds("map", "--output", out))
    return out


def names_in(text: str) -> bool:
    return "/ProjectX/_packaging/feedx/" in text and "/Project%20Y/_packaging/feedy/" in text


# --------------------------------------------------------------------------------------------
# pip


def pip_project(run: Run) -> None:
    """requirements.txt with both organizations, credentials as pip ``${VAR}`` only."""
    a = run.a.replace("http://", "http://${PIP_ORGA_USER}:${PIP_ORGA_PAT}@")
    b = run.b.replace("http://", "http://${PIP_ORGB_USER}:${PIP_ORGB_PAT}@")
    (run.root / "requirements.txt").write_text(
        f"--index-url {a}\n--extra-index-url {b}\n\nalpha==1.1.0\ndelta>=2\n"
    )
    run.env.update(
        {
            "PIP_ORGA_USER": "any",
            "PIP_ORGA_PAT": PAT_A,
            "PIP_ORGB_USER": "any",
            "PIP_ORGB_PAT": PAT_B,
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
    )


def test_pip(emu: Emulator, map_file: Path, tmp_path: Path) -> None:
    run = Run(tmp_path / "shop", emu)
    run.root.mkdir()
    pip_project(run)

    def install(target: str) -> Window:
        window = Window(emu)
        ok(
            run.run(
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-cache-dir",
                "--target",
                run.root.parent / target,
                "-r",
                "requirements.txt",
            )
        )
        assert (run.root.parent / target / "delta").is_dir()
        assert (run.root.parent / target / "beta").is_dir()
        return window

    whole = Window(emu)
    before = install("site-before")
    assert before.unauthorized() == 0 and before.cross_org() == 0
    original = run.snapshot()

    ok(run.azfeeds("rewrite", "--map", map_file))
    text = (run.root / "requirements.txt").read_text()
    assert emu.uuid_index_url("orgA", "feedx").split("://", 1)[1] in text
    assert "${PIP_ORGA_PAT}" in text and "${PIP_ORGB_PAT}" in text

    after = install("site-after")
    assert after.unauthorized() == 0 and after.cross_org() == 0

    ok(run.azfeeds("rewrite", "--map", map_file, "--mode", "names"))
    assert run.snapshot() == original
    assert whole.unauthorized() == 0 and whole.cross_org() == 0


# --------------------------------------------------------------------------------------------
# uv


def uv_project(run: Run) -> None:
    """[[tool.uv.index]] for both organizations, credentials as UV_INDEX_* only."""
    (run.root / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["alpha", "beta", "delta"]\n\n'
        f'[[tool.uv.index]]\nname = "orga"\nurl = "{run.a}"\nexplicit = true\n\n'
        f'[[tool.uv.index]]\nname = "orgb"\nurl = "{run.b}"\nexplicit = true\n\n'
        '[tool.uv.sources]\nalpha = { index = "orga" }\nbeta = { index = "orga" }\n'
        'delta = { index = "orgb" }\n'
    )
    run.env.update(
        {
            "UV_INDEX_ORGA_USERNAME": "any",
            "UV_INDEX_ORGA_PASSWORD": PAT_A,
            "UV_INDEX_ORGB_USERNAME": "any",
            "UV_INDEX_ORGB_PASSWORD": PAT_B,
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_PYTHON": sys.executable,
            "UV_NO_PROGRESS": "1",
        }
    )


def test_uv(emu: Emulator, map_file: Path, tmp_path: Path) -> None:
    run = Run(tmp_path / "shop", emu)
    run.root.mkdir()
    uv_project(run)

    def uv(*args: str) -> subprocess.CompletedProcess[str]:
        cache = run.root.parent / f"uv-cache-{run.calls}"
        return run.run(tool("uv"), *args, env={"UV_CACHE_DIR": str(cache)})

    failed = uv("lock")
    assert failed.returncode != 0 and "401" in failed.stderr, failed.stderr
    for org in ("orgA", "orgB"):  # uv cannot lock in name form: lock once with the feeds open
        emu.set_anonymous(org, True)
    try:
        ok(uv("lock"))
    finally:
        for org in ("orgA", "orgB"):
            emu.set_anonymous(org, False)
    before = uv("sync", "--locked")  # the name-form lock's downloads: uv sends no credential
    assert before.returncode != 0 and "401" in before.stderr, before.stderr
    original = run.snapshot()
    assert names_in(original["uv.lock"].decode())

    ok(run.azfeeds("rewrite", "--map", map_file))
    after_rewrite = Window(emu)
    assert "/ProjectX/_packaging/" not in (run.root / "uv.lock").read_text()
    ok(uv("lock", "--check"))
    shutil.rmtree(run.root / ".venv", ignore_errors=True)
    window = Window(emu)
    ok(uv("sync", "--locked"))
    assert window.unauthorized() == 0 and window.cross_org() == 0

    ok(run.azfeeds("rewrite", "--map", map_file, "--mode", "names"))
    assert run.snapshot() == original
    ok(uv("lock", "--check"))
    assert after_rewrite.unauthorized() == 0 and after_rewrite.cross_org() == 0


# --------------------------------------------------------------------------------------------
# Poetry


def poetry_project(run: Run) -> None:
    """[[tool.poetry.source]] for both organizations, credentials as POETRY_HTTP_BASIC_* only."""
    (run.root / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["alpha", "delta"]\n\n'
        "[tool.poetry]\npackage-mode = false\n\n"
        f'[[tool.poetry.source]]\nname = "orga"\nurl = "{run.a}"\npriority = "primary"\n\n'
        f'[[tool.poetry.source]]\nname = "orgb"\nurl = "{run.b}"\npriority = "primary"\n'
    )
    home = run.root.parent / "poetry"
    run.env.update(
        {
            "POETRY_HTTP_BASIC_ORGA_USERNAME": "any",
            "POETRY_HTTP_BASIC_ORGA_PASSWORD": PAT_A,
            "POETRY_HTTP_BASIC_ORGB_USERNAME": "any",
            "POETRY_HTTP_BASIC_ORGB_PASSWORD": PAT_B,
            "POETRY_CONFIG_DIR": str(home / "config"),
            "POETRY_DATA_DIR": str(home / "data"),
            "POETRY_VIRTUALENVS_IN_PROJECT": "true",
            "POETRY_VIRTUALENVS_OPTIONS_NO_PIP": "true",
            "POETRY_KEYRING_ENABLED": "false",
            "POETRY_NO_INTERACTION": "1",
        }
    )


def test_poetry(emu: Emulator, map_file: Path, tmp_path: Path) -> None:
    run = Run(tmp_path / "shop", emu)
    run.root.mkdir()
    poetry_project(run)

    def poetry(*args: str) -> subprocess.CompletedProcess[str]:
        # a fresh cache for what downloads (so files come from the emulator every time)
        fresh = args[0] in ("lock", "install")
        cache = run.root.parent / (f"poetry-cache-{run.calls}" if fresh else "poetry-cache")
        return run.run(tool("poetry"), *args, env={"POETRY_CACHE_DIR": str(cache)})

    def install() -> Window:
        shutil.rmtree(run.root / ".venv", ignore_errors=True)
        window = Window(emu)
        ok(poetry("install", "--no-root"))
        assert window.unauthorized() == 0 and window.cross_org() == 0
        site = site_packages(run.root / ".venv")
        assert (site / "delta").is_dir() and (site / "beta").is_dir()
        return window

    whole = Window(emu)
    ok(poetry("lock"))
    install()
    original = run.snapshot()
    assert names_in(original["poetry.lock"].decode())
    # the failure azfeeds prevents: the URLs rewritten alone leave the lock stale
    ok(run.azfeeds("rewrite", "--map", map_file, "--no-lock"))
    stale = poetry("check", "--lock")
    assert stale.returncode == 1 and "changed significantly" in stale.stdout + stale.stderr
    ok(run.azfeeds("rewrite", "--map", map_file, "--mode", "names", "--no-lock"))
    assert run.snapshot() == original

    ok(run.azfeeds("rewrite", "--map", map_file))
    lock = (run.root / "poetry.lock").read_text()
    assert "/ProjectX/_packaging/" not in lock and "/Project%20Y/" not in lock
    ok(poetry("check", "--lock"))
    downloads = install().records()
    assert all("/ProjectX/" not in r["path"] for r in downloads)
    rewritten = (run.root / "poetry.lock").read_bytes()
    ok(poetry("lock"))  # what Poetry itself writes for the rewritten pyproject: the same bytes
    assert (run.root / "poetry.lock").read_bytes() == rewritten

    ok(run.azfeeds("rewrite", "--map", map_file, "--mode", "names"))
    assert run.snapshot() == original
    ok(poetry("check", "--lock"))
    assert whole.unauthorized() == 0 and whole.cross_org() == 0


# --------------------------------------------------------------------------------------------
# PDM


def pdm_project(run: Run) -> None:
    """[[tool.pdm.source]] for both organizations, credentials as PDM ``${VAR}`` URLs only."""
    a = run.a.replace("http://", "http://${PDM_ORGA_USER}:${PDM_ORGA_PAT}@")
    b = run.b.replace("http://", "http://${PDM_ORGB_USER}:${PDM_ORGB_PAT}@")
    (run.root / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "0.1.0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["alpha", "delta"]\n\n'
        "[tool.pdm]\ndistribution = false\n\n"
        f'[[tool.pdm.source]]\nname = "pypi"\nurl = "{a}"\n\n'
        f'[[tool.pdm.source]]\nname = "orgb"\nurl = "{b}"\n'
    )
    home = run.root.parent / "pdm"
    run.env.update(
        {
            "PDM_ORGA_USER": "any",
            "PDM_ORGA_PAT": PAT_A,
            "PDM_ORGB_USER": "any",
            "PDM_ORGB_PAT": PAT_B,
            "PDM_HOME": str(home / "home"),
            "PDM_CONFIG_FILE": str(home / "config.toml"),
            "PDM_CHECK_UPDATE": "false",
            "PDM_USE_UV": "false",
            # PDM installs into the interpreter it is given when that is a virtual environment:
            # give it the project's own, made fresh for every install.
            "PDM_PYTHON": str(venv_python(run.root / ".venv")),
            "PDM_NON_INTERACTIVE": "1",
        }
    )


def pdm_runner(run: Run) -> Callable[..., subprocess.CompletedProcess[str]]:
    def pdm(*args: str) -> subprocess.CompletedProcess[str]:
        fresh = args[0] == "install" or args == ("lock",)
        cache = run.root.parent / (f"pdm-cache-{run.calls}" if fresh else "pdm-cache")
        return run.run(tool("pdm"), *args, env={"PDM_CACHE_DIR": str(cache)})

    return pdm


def test_pdm(emu: Emulator, map_file: Path, tmp_path: Path) -> None:
    run = Run(tmp_path / "shop", emu)
    run.root.mkdir()
    pdm_project(run)
    pdm = pdm_runner(run)

    def install() -> Window:
        shutil.rmtree(run.root / ".venv", ignore_errors=True)
        ok(run.run(sys.executable, "-m", "venv", "--without-pip", run.root / ".venv"))
        window = Window(emu)
        ok(pdm("install", "--check", "--frozen-lockfile"))
        assert window.unauthorized() == 0 and window.cross_org() == 0
        site = site_packages(run.root / ".venv")
        assert (site / "delta").is_dir() and (site / "beta").is_dir()
        return window

    whole = Window(emu)
    ok(pdm("lock"))
    install()
    original = run.snapshot()
    ok(run.azfeeds("rewrite", "--map", map_file, "--no-lock"))
    assert pdm("lock", "--check").returncode == 1  # the URLs rewritten alone: a stale lock
    ok(run.azfeeds("rewrite", "--map", map_file, "--mode", "names", "--no-lock"))
    assert run.snapshot() == original

    ok(run.azfeeds("rewrite", "--map", map_file))
    text = (run.root / "pyproject.toml").read_text()
    assert "/ProjectX/_packaging/" not in text and "${PDM_ORGB_PAT}" in text
    ok(pdm("lock", "--check"))
    downloads = install().records()
    assert all("/ProjectX/" not in r["path"] for r in downloads)
    rewritten = (run.root / "pdm.lock").read_bytes()
    ok(pdm("lock"))  # what PDM itself writes for the rewritten pyproject: the same bytes
    assert (run.root / "pdm.lock").read_bytes() == rewritten

    ok(run.azfeeds("rewrite", "--map", map_file, "--mode", "names"))
    assert run.snapshot() == original
    ok(pdm("lock", "--check"))
    assert whole.unauthorized() == 0 and whole.cross_org() == 0


def test_pdm_lock_inputs(emu: Emulator, map_file: Path, tmp_path: Path) -> None:
    """PDM 2.28.1+'s opt-in lock inputs: a fingerprint per source URL instead of one hash."""
    run = Run(tmp_path / "shop", emu)
    run.root.mkdir()
    pdm_project(run)
    pyproject = run.root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "distribution = false\n",
            "distribution = false\n\n[tool.pdm.resolution]\nlock_inputs = true\n",
        )
    )
    pdm = pdm_runner(run)
    ok(pdm("lock"))
    original = run.snapshot()
    assert "[metadata.lock_inputs.project]" in original["pdm.lock"].decode()
    assert "content_hash" not in original["pdm.lock"].decode()
    # PDM does check the recorded sources: the URLs rewritten alone make the lock stale
    ok(run.azfeeds("rewrite", "--map", map_file, "--no-lock"))
    assert pdm("lock", "--check").returncode == 1
    ok(run.azfeeds("rewrite", "--map", map_file, "--mode", "names", "--no-lock"))
    assert run.snapshot() == original

    ok(run.azfeeds("rewrite", "--map", map_file))
    assert (run.root / "pdm.lock").read_bytes() != original["pdm.lock"]
    ok(pdm("lock", "--check"))
    ok(run.azfeeds("rewrite", "--map", map_file, "--mode", "names"))
    assert run.snapshot() == original
    ok(pdm("lock", "--check"))


# --------------------------------------------------------------------------------------------
# The live rewrite, with each client's own credentials only (no map, no AZFEEDS_PAT)

PROJECTS = {"uv": uv_project, "pip": pip_project, "poetry": poetry_project, "pdm": pdm_project}


@pytest.mark.parametrize("client", sorted(PROJECTS))
def test_live_rewrite_with_the_clients_own_credentials_only(
    client: str, emu: Emulator, map_file: Path, tmp_path: Path
) -> None:
    run = Run(tmp_path / "live", emu)
    run.root.mkdir()
    PROJECTS[client](run)
    mapped = json.loads(ok(run.azfeeds("map", "--json")).stdout)
    assert sorted(o["name"] for o in mapped["organizations"]) == ["orgA", "orgB"]
    # pip, Poetry and PDM work in name form: doctor finds no problem; uv's is the 401 risk
    assert run.azfeeds("doctor").returncode == (1 if client == "uv" else 0)
    start = len(emu.log())
    ok(run.azfeeds("rewrite"))
    api = [r for r in emu.log()[start:] if r["route"] == "feeds"]
    # one feeds request per organization, each with that organization's own PAT
    assert sorted((r["org"], r["status"], r["credential"]) for r in api) == [
        ("orgA", 200, "pat:0"),
        ("orgB", 200, "pat:0"),
    ]
    by_map = Run(tmp_path / "by-map", emu)
    by_map.root.mkdir()
    PROJECTS[client](by_map)
    ok(by_map.azfeeds("rewrite", "--map", map_file))
    assert run.snapshot() == by_map.snapshot() != {}
    doctor = ok(run.azfeeds("doctor"))  # and after the rewrite, for every client
    assert PAT_A not in doctor.stdout + doctor.stderr and PAT_B not in doctor.stdout + doctor.stderr
