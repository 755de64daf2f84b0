"""Behaviours the performance targets rely on (timings live in scripts/bench.py, never in tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import azfeeds.kinds.tomlsites
from azfeeds.engine import RewriteOptions, rewrite

ROOT = Path(__file__).resolve().parent.parent
MAP = Path(__file__).parent / "fixtures" / "map.json"
URL = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"

PROBE = """
import sys
from azfeeds.cli import run
code = run(sys.argv[1:])
heavy = sorted(m for m in ("requests", "msal", "urllib3", "logging", "tomlkit") if m in sys.modules)
print("IMPORTED", ",".join(heavy))
"""


def imported(args: list[str], cwd: Path) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("IMPORTED"))
    return set(filter(None, line.split(" ", 1)[1].split(",")))


@pytest.fixture
def one_project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "orga"\nurl = "{URL}"\n')
    return tmp_path


def test_version_imports_neither_requests_nor_msal(one_project: Path) -> None:
    assert imported(["--version"], one_project) == set()


def test_offline_rewrite_imports_neither_requests_nor_msal(one_project: Path) -> None:
    modules = imported(["rewrite", "--offline", "--map", str(MAP), "pyproject.toml"], one_project)
    assert "requests" not in modules and "msal" not in modules and "urllib3" not in modules
    assert "azfeeds: ProjectX/feedx" in (one_project / "pyproject.toml").read_text()


def test_offline_check_does_not_even_import_tomlkit(one_project: Path) -> None:
    modules = imported(["rewrite", "--check", "--offline", "--map", str(MAP)], one_project)
    assert modules == set(), modules


OWN_MODULES = """
import sys
from azfeeds.cli import run
code = run(sys.argv[1:])
print("LOADED", ",".join(sorted(m for m in sys.modules if m.startswith("azfeeds."))))
"""


def test_offline_rewrite_of_one_pyproject_loads_only_what_it_uses(one_project: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", OWN_MODULES, "rewrite", "--offline", "--map", str(MAP)],
        cwd=one_project,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next(line for line in out.stdout.splitlines() if line.startswith("LOADED"))
    loaded = set(line.split(" ", 1)[1].split(","))
    assert "azfeeds.kinds.tomlsites" in loaded  # the probe sees the run's modules
    network_or_rare = {
        "azfeeds.apiversion",  # only a map that pins an api_version
        "azfeeds.auth",
        "azfeeds.client",
        "azfeeds.clientcreds",
        "azfeeds.credentials",
        "azfeeds.doctor",
        "azfeeds.inspect",
        "azfeeds.resolve",
        "azfeeds.snippets",
        "azfeeds.kinds.clientlock",
        "azfeeds.kinds.lockhash",
        "azfeeds.kinds.pdmlock",
        "azfeeds.kinds.poetrylock",
        "azfeeds.kinds.requirements",
        "azfeeds.kinds.pipconf",
    }
    assert loaded & network_or_rare == set()


def test_map_json_and_env_are_offline_too(one_project: Path) -> None:
    assert "requests" not in imported(["env"], one_project)
    assert "requests" not in imported(["doctor", "--offline"], one_project)


def count_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    scanned: list[str] = []
    real = azfeeds.kinds.tomlsites.scan_toml

    def spy(text: str, *args: object, **kwargs: object) -> object:
        scanned.append(text[:40])
        return real(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(azfeeds.kinds.tomlsites, "scan_toml", spy)
    return scanned


def test_files_without_azure_urls_cost_no_toml_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(20):
        member = tmp_path / f"m{i}"
        member.mkdir()
        (member / "pyproject.toml").write_text(
            f'[project]\nname = "m{i}"\n[[tool.uv.index]]\nurl = "https://pypi.org/simple"\n'
        )
    (tmp_path / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "x"\nsource = { registry = "https://pypi.org/simple" }\n'
    )
    scanned = count_scans(monkeypatch)
    result = rewrite([tmp_path], RewriteOptions(recursive=True, map_files=(MAP,)))
    assert result.scanned == 21
    assert scanned == []


def test_a_large_lock_already_right_is_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        f'[[tool.uv.index]]\nname = "orga"\nurl = "{URL}"\nexplicit = true\n'
    )
    packages = "".join(
        f'\n[[package]]\nname = "p{i}"\nversion = "1.0"\nsource = {{ registry = "{URL}" }}\n'
        for i in range(2000)
    )
    (tmp_path / "uv.lock").write_text("version = 1\n" + packages)
    rewrite([tmp_path], RewriteOptions(map_files=(MAP,)))  # both files move to UUID form
    scanned = count_scans(monkeypatch)
    again = rewrite([tmp_path], RewriteOptions(map_files=(MAP,)))
    assert not again.plan.would_change
    assert all(not s.startswith("version = 1") for s in scanned), "uv.lock was parsed"
    checked = rewrite([tmp_path], RewriteOptions(map_files=(MAP,), check=True))
    assert not checked.plan.would_change


def test_check_plans_a_lock_rename_without_a_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "orga"\nurl = "{URL}"\n')
    (tmp_path / "uv.lock").write_text(
        f'version = 1\n[[package]]\nname = "p"\nsource = {{ registry = "{URL}" }}\n'
    )
    scanned = count_scans(monkeypatch)
    result = rewrite([tmp_path], RewriteOptions(map_files=(MAP,), check=True))
    assert [c.path.name for c in result.plan.changes] == ["pyproject.toml", "uv.lock"]
    assert all(not s.startswith("version = 1") for s in scanned)
    written = rewrite([tmp_path], RewriteOptions(map_files=(MAP,)))
    assert [c.line for c in written.plan.changes if c.path.name == "uv.lock"] == [
        c.line for c in result.plan.changes if c.path.name == "uv.lock"
    ]


@pytest.mark.slow
def test_bench_quick_runs(tmp_path: Path) -> None:
    """The benchmark script cannot rot: its --quick mode runs and writes every section."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    assert {"machine", "startup", "orgs", "monorepo", "uv"} <= set(doc)
    for entry in [*doc["orgs"]["sizes"].values(), *doc["orgs"]["server"].values()]:
        assert entry["feeds_requests_per_org"] == [1.0], "one feeds request per organization"
    assert doc["uv"]["after azfeeds rewrite"]["responses_401"] == [0]
    assert "1. start-up" in proc.stdout and "4. what users gain in uv" in proc.stdout
