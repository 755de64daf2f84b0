"""End to end with the real uv binary (the dev dependency) against the emulator.

The setup is the one that fails in real life: two organizations on one host, each accepting
only its own PAT, credentials only in UV_INDEX_<NAME>_USERNAME/PASSWORD, a fresh UV_CACHE_DIR
for every uv call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config
from helpers import Result, run_proc, run_uv

pytestmark = pytest.mark.e2e

PAT_A = "e2e-pat-a-4d1c"
PAT_B = "e2e-pat-b-93fe"


def config() -> dict[str, Any]:
    cfg = sample_config()
    cfg["organizations"][0]["pats"] = [PAT_A]
    cfg["organizations"][1]["pats"] = [PAT_B]
    return cfg


class Project:
    """A project directory, the emulator, and the environment uv and azfeeds run with."""

    def __init__(self, root: Path, emu: Emulator) -> None:
        self.root = root
        self.emu = emu
        self.calls = 0
        root.mkdir(parents=True, exist_ok=True)
        self.env: dict[str, str] = {
            "UV_INDEX_ORGA_USERNAME": "any",
            "UV_INDEX_ORGA_PASSWORD": PAT_A,
            "UV_INDEX_ORGB_USERNAME": "any",
            "UV_INDEX_ORGB_PASSWORD": PAT_B,
            "UV_INDEX_SHARED_USERNAME": "any",
            "UV_INDEX_SHARED_PASSWORD": PAT_A,
        }

    def uv(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        return run_uv(
            args,
            cwd or self.root,
            {**self.env, "XDG_CONFIG_HOME": str(self.root.parent / "xdg")},
            self.root.parent / f"uv-cache-{self.calls}",
        )

    def azfeeds(self, *args: str, cwd: Path | None = None) -> Result:
        return run_proc(list(args), cwd=cwd or self.root, env=self.env)

    def installed(self, module: str, attribute: str) -> str:
        python = (
            self.root
            / ".venv"
            / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
        )
        out = subprocess.run(
            [str(python), "-c", f"import {module}; print({module}.{attribute})"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()


def pyproject(base: str) -> str:
    return (
        "[project]\n"
        'name = "shop"\n'
        'version = "0.1.0"\n'
        'requires-python = ">=3.8"\n'
        'dependencies = ["alpha", "beta", "delta", "gamma"]\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orga"\n'
        f'url = "{base}/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
        "explicit = true\n"
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orgb"\n'
        f'url = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
        "explicit = true\n"
        "\n"
        "[[tool.uv.index]]\n"
        'name = "shared"\n'
        f'url = "{base}/orgA/_packaging/shared/pypi/simple/"\n'
        "explicit = true\n"
        "\n"
        "[tool.uv.sources]\n"
        'alpha = { index = "orga" }\n'
        'beta = { index = "orga" }\n'
        'delta = { index = "orgb" }\n'
        'gamma = { index = "shared" }\n'
    )


@pytest.fixture
def emu(emulator_factory: Any) -> Emulator:
    emulator: Emulator = emulator_factory(config())
    return emulator


@pytest.fixture
def project(tmp_path: Path, emu: Emulator) -> Iterator[Project]:
    p = Project(tmp_path / "shop", emu)
    (p.root / "pyproject.toml").write_text(pyproject(emu.root_url))
    yield p


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"


def assert_401(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode != 0, "uv lock must fail in name form with two organizations"
    assert "401" in proc.stderr, proc.stderr


# 1 -------------------------------------------------------------------------------------------
def test_1_name_form_fails_with_401(project: Project) -> None:
    assert_401(project.uv("lock"))


# 2 -------------------------------------------------------------------------------------------
def test_2_rewrite_then_lock_sync_check(project: Project) -> None:
    rewrite = project.azfeeds("rewrite")
    assert rewrite.code == 0, rewrite.stderr
    assert_ok(project.uv("lock"))
    assert_ok(project.uv("sync", "--locked"))
    assert_ok(project.uv("lock", "--check"))
    assert project.installed("delta", "__version__") == "2.0.0"


# 3 -------------------------------------------------------------------------------------------
def test_3_add_mode_with_the_variables_env_prints(project: Project) -> None:
    rewrite = project.azfeeds("rewrite", "--mode", "add")
    assert rewrite.code == 0, rewrite.stderr
    listed = json.loads(project.azfeeds("env", "--json").stdout)["result"]["variables"]
    by_index = {v["index"]: v for v in listed}
    assert {"orga-uuid", "orgb-uuid", "shared-uuid"} <= set(by_index)
    for twin in ("orga-uuid", "orgb-uuid", "shared-uuid"):
        original = by_index[by_index[twin]["twin_of"]]
        project.env[by_index[twin]["username_variable"]] = project.env[
            original["username_variable"]
        ]
        project.env[by_index[twin]["password_variable"]] = project.env[
            original["password_variable"]
        ]
    assert_ok(project.uv("lock"))
    assert_ok(project.uv("sync"))


# 4 -------------------------------------------------------------------------------------------
def test_4_names_restores_the_bytes_and_the_failure(project: Project) -> None:
    original = (project.root / "pyproject.toml").read_bytes()
    assert project.azfeeds("rewrite").code == 0
    assert (project.root / "pyproject.toml").read_bytes() != original
    assert project.azfeeds("rewrite", "--mode", "names").code == 0
    assert (project.root / "pyproject.toml").read_bytes() == original
    assert_401(project.uv("lock"))


# 5 -------------------------------------------------------------------------------------------
def test_5_existing_lock_stays_valid_without_relocking(project: Project, emu: Emulator) -> None:
    for org in ("orgA", "orgB"):
        emu.set_anonymous(org, True)  # so that uv can lock in name form once
    assert_ok(project.uv("lock"))
    for org in ("orgA", "orgB"):
        emu.set_anonymous(org, False)
    lock_before = (project.root / "uv.lock").read_text()
    assert "/ProjectX/_packaging/feedx/" in lock_before
    rewrite = project.azfeeds("rewrite")
    assert rewrite.code == 0, rewrite.stderr
    assert "/ProjectX/_packaging/" not in (project.root / "uv.lock").read_text()
    assert_ok(project.uv("sync", "--locked"))
    assert_ok(project.uv("lock", "--check"))


# 6 -------------------------------------------------------------------------------------------
def test_6_recreated_feed(project: Project, emu: Emulator) -> None:
    assert project.azfeeds("rewrite").code == 0
    assert_ok(project.uv("lock"))
    new = emu.recreate_feed("orgB", "feedy")
    check = project.azfeeds("rewrite", "--check")
    assert check.code == 1, check.output
    fixed = project.azfeeds("rewrite")
    assert fixed.code == 0, fixed.stderr
    assert "run 'uv lock' to re-resolve delta" in fixed.stderr
    assert new["id"] in (project.root / "pyproject.toml").read_text()
    assert_ok(project.uv("lock"))
    assert_ok(project.uv("sync", "--locked"))
    assert project.installed("delta", "FEED_ID") == new["id"]


# 7 -------------------------------------------------------------------------------------------
def test_7_workspace_with_three_members(tmp_path: Path, emu: Emulator) -> None:
    p = Project(tmp_path / "ws", emu)
    base = emu.root_url
    (p.root / "pyproject.toml").write_text(
        '[project]\nname = "ws"\nversion = "0.1.0"\nrequires-python = ">=3.8"\ndependencies = []\n\n'
        '[tool.uv.workspace]\nmembers = ["packages/*"]\n'
    )
    members = {
        "a": ("alpha", "orga", f"{base}/orgA/ProjectX/_packaging/feedx/pypi/simple/"),
        "b": ("delta", "orgb", f"{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"),
        "c": ("gamma", "shared", f"{base}/orgA/_packaging/shared/pypi/simple/"),
    }
    for member, (dep, index, url) in members.items():
        root = p.root / "packages" / member
        root.mkdir(parents=True)
        extra = 'beta = { index = "orga" }\n' if dep == "alpha" else ""
        deps = '"alpha", "beta"' if dep == "alpha" else f'"{dep}"'
        (root / "pyproject.toml").write_text(
            f'[project]\nname = "member-{member}"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n'
            f"dependencies = [{deps}]\n\n"
            f'[[tool.uv.index]]\nname = "{index}"\nurl = "{url}"\nexplicit = true\n\n'
            f'[tool.uv.sources]\n{dep} = {{ index = "{index}" }}\n{extra}'
        )
    assert_401(p.uv("lock"))
    rewrite = p.azfeeds("rewrite", "--recursive")
    assert rewrite.code == 0, rewrite.stderr
    assert "made 3 changes in 3 files" in rewrite.stderr
    assert_ok(p.uv("lock"))
    assert_ok(p.uv("sync", "--locked", "--all-packages"))


# 8 -------------------------------------------------------------------------------------------
def test_8_uv_toml(tmp_path: Path, emu: Emulator) -> None:
    p = Project(tmp_path / "tool", emu)
    base = emu.root_url
    (p.root / "pyproject.toml").write_text(
        '[project]\nname = "tool"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n'
        'dependencies = ["alpha", "delta"]\n'
    )
    (p.root / "uv.toml").write_text(
        f'[[index]]\nname = "orga"\nurl = "{base}/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n\n'
        f'[[index]]\nname = "orgb"\nurl = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
        "default = true\n"
    )
    assert_401(p.uv("lock"))
    rewrite = p.azfeeds("rewrite")
    assert rewrite.code == 0, rewrite.stderr
    assert "# azfeeds: ProjectX/feedx" in (p.root / "uv.toml").read_text()
    assert_ok(p.uv("lock"))
    assert_ok(p.uv("sync", "--locked"))
    assert_ok(p.uv("lock", "--check"))


def test_doctor_sees_the_risk_before_and_none_after(project: Project) -> None:
    before = project.azfeeds("doctor", "--json")
    assert before.code == 1
    doc = json.loads(before.stdout)
    risky = [i for i in doc["result"]["indexes"] if any("401 risk" in p for p in i["problems"])]
    assert {i["index"] for i in risky} == {"orga", "orgb", "shared"}
    assert project.azfeeds("rewrite").code == 0
    after = project.azfeeds("doctor", "--json")
    assert after.code == 0, after.stdout
    assert json.loads(after.stdout)["result"]["problems"] == 0


def count_401(emu: Emulator, routes: Mapping[str, int] | None = None) -> int:
    return sum(
        1
        for r in emu.log()
        if r["status"] == 401
        and r["route"] in ("simple_index", "simple_project", "download", "metadata")
    )
