"""Indexes outside the project, with the real uv against the emulator: the user's uv.toml.

The situation users report: the indexes live in ``~/.config/uv/uv.toml``, two organizations on
one host, name form. uv fails with 401; ``doctor`` run in the project names the user config as
the source; ``rewrite --user`` fixes it, and uv passes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config
from helpers import Result, run_proc, run_uv

pytestmark = pytest.mark.e2e

PAT_A = "outside-canary-pat-a-0c4d"
PAT_B = "outside-canary-pat-b-9e1a"


@pytest.fixture
def emu(emulator_factory: Any) -> Emulator:
    cfg = sample_config()
    cfg["organizations"][0]["pats"] = [PAT_A]
    cfg["organizations"][1]["pats"] = [PAT_B]
    emulator: Emulator = emulator_factory(cfg)
    return emulator


class Setup:
    def __init__(self, tmp: Path, emu: Emulator) -> None:
        self.tmp = tmp
        self.project = tmp / "shop"
        self.project.mkdir()
        self.xdg = tmp / "xdg"
        self.calls = 0
        self.env = {
            "XDG_CONFIG_HOME": str(self.xdg),
            "UV_INDEX_ORGA_USERNAME": "any",
            "UV_INDEX_ORGA_PASSWORD": PAT_A,
            "UV_INDEX_ORGB_USERNAME": "any",
            "UV_INDEX_ORGB_PASSWORD": PAT_B,
        }
        self.user_toml = self.xdg / "uv" / "uv.toml"
        self.user_toml.parent.mkdir(parents=True)
        self.user_toml.write_text(
            '[[index]]\nname = "orga"\n'
            f'url = "{emu.index_url("orgA", "feedx", "ProjectX")}"\n\n'
            '[[index]]\nname = "orgb"\n'
            f'url = "{emu.index_url("orgB", "feedy", "Project Y")}"\n'
        )
        (self.project / "pyproject.toml").write_text(
            '[project]\nname = "shop"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n'
            'dependencies = ["alpha", "beta", "delta"]\n'
        )

    def uv(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        return run_uv(args, self.project, self.env, self.tmp / f"uv-cache-{self.calls}")

    def azfeeds(self, *args: str) -> Result:
        return run_proc(list(args), cwd=self.project, env=self.env)


def test_indexes_in_the_user_uv_toml(tmp_path: Path, emu: Emulator) -> None:
    s = Setup(tmp_path, emu)
    failed = s.uv("lock")
    assert failed.returncode != 0 and "401" in failed.stderr, failed.stderr

    report = s.azfeeds("doctor", "--json")
    doc = json.loads(report.stdout)
    assert report.code == 1
    indexes = doc["result"]["indexes"]
    assert {i["source"] for i in indexes} == {f"uv user config ({s.user_toml})"}
    assert all(any(p.startswith("401 risk") for p in i["problems"]) for i in indexes)
    assert PAT_A not in report.output and PAT_B not in report.output

    fixed = s.azfeeds("rewrite", "--user")
    assert fixed.code == 0, fixed.output
    assert "until you run 'azfeeds rewrite' there too" in fixed.stderr
    assert emu.uuid_index_url("orgA", "feedx") in s.user_toml.read_text()
    locked = s.uv("lock")
    assert locked.returncode == 0, locked.stderr
    synced = s.uv("sync", "--locked")
    assert synced.returncode == 0, synced.stderr
    after = json.loads(s.azfeeds("doctor", "--json").stdout)
    assert after["result"]["problems"] == 0, json.dumps(after["result"], indent=1)


def test_one_netrc_login_for_two_organizations(tmp_path: Path, emu: Emulator) -> None:
    s = Setup(tmp_path, emu)
    s.user_toml.unlink()
    (s.project / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "0.1.0"\nrequires-python = ">=3.8"\n'
        'dependencies = ["alpha", "beta", "delta"]\n\n'
        '[[tool.uv.index]]\nname = "orga"\n'
        f'url = "{emu.uuid_index_url("orgA", "feedx")}"\n\n'
        '[[tool.uv.index]]\nname = "orgb"\n'
        f'url = "{emu.uuid_index_url("orgB", "feedy")}"\n'
    )
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1\n  login any\n  password {PAT_A}\n")
    netrc.chmod(0o600)
    variables = {k: s.env.pop(k) for k in list(s.env) if k.startswith("UV_INDEX_")}
    s.env["NETRC"] = str(netrc)
    failed = s.uv("lock")
    assert failed.returncode != 0 and "401" in failed.stderr, failed.stderr

    report = s.azfeeds("doctor", "--json", "--offline")
    doc = json.loads(report.stdout)
    (entry,) = [f for f in doc["result"]["findings"] if f["kind"] == "netrc"]
    assert entry["source"] == f"{netrc}:1" and entry["subject"] == "127.0.0.1"
    assert "share this one netrc login" in entry["problems"][0]
    assert PAT_A not in report.output

    s.env.update(variables)  # the fix: each index its own credential
    assert s.uv("lock").returncode == 0
    after = json.loads(s.azfeeds("doctor", "--json", "--offline").stdout)
    assert after["result"]["problems"] == 0, json.dumps(after["result"], indent=1)


def test_ci_file_urls_and_the_replacement_doctor_prints(tmp_path: Path, emu: Emulator) -> None:
    s = Setup(tmp_path, emu)
    s.user_toml.unlink()
    a = emu.index_url("orgA", "feedx", "ProjectX")
    b = emu.index_url("orgB", "feedy", "Project Y")
    pipeline = s.project / "azure-pipelines.yml"
    pipeline.write_text(
        "steps:\n- script: uv sync --locked\n  env:\n"
        f"    UV_INDEX: orga={a} orgb={b}\n"
        "    UV_INDEX_ORGA_PASSWORD: $(AZDO_ORGA_PAT)\n"
    )
    before = pipeline.read_bytes()
    s.env["UV_INDEX"] = f"orga={a} orgb={b}"
    failed = s.uv("lock")
    assert failed.returncode != 0 and "401" in failed.stderr, failed.stderr

    del s.env["UV_INDEX"]  # doctor runs where the pipeline file is, not inside the job
    report = s.azfeeds("doctor", "--json")
    doc = json.loads(report.stdout)
    ci = [f for f in doc["result"]["findings"] if f["kind"] == "ci-file"]
    assert [f["source"] for f in ci] == ["azure-pipelines.yml:4", "azure-pipelines.yml:4"]
    assert all(f["checks"]["401 risk"].startswith("high: 2 organizations") for f in ci)
    replaced = [f["fixes"][0].removeprefix("use ") for f in ci]
    assert replaced == [emu.uuid_index_url("orgA", "feedx"), emu.uuid_index_url("orgB", "feedy")]
    assert PAT_A not in report.output and PAT_B not in report.output

    s.env["UV_INDEX"] = f"orga={replaced[0]} orgb={replaced[1]}"
    locked = s.uv("lock")
    assert locked.returncode == 0, locked.stderr
    rewritten = s.azfeeds("rewrite", "--offline")
    assert rewritten.code == 0, rewritten.output
    assert pipeline.read_bytes() == before  # read-only: rewrite never edits CI files
