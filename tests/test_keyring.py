"""Keyring set-ups (uv's Azure guide): ``VssSessionToken@`` URLs with keyring-provider = subprocess.

A stand-in ``keyring`` command on PATH answers like the Azure Artifacts credential provider: the
organization's PAT for an URL of that organization. The real uv runs against the emulator, and
so does ``doctor``'s probe, which asks the stand-in the way uv does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config
from helpers import Result, run_proc, run_uv, write_fake_az

from azfeeds.keyring_probe import keyring_get, provider_in_text

PAT_A = "kr-canary-pat-a-51f0"
PAT_B = "kr-canary-pat-b-77c2"

# The stand-in: logs each call (arguments and the non-interactive flag, never an answer) and
# prints the PAT of the organization named in the URL. KEYRING_SLEEP makes it hang.
FAKE_KEYRING = f"""\
import json, os, sys, time
log = os.environ.get("FAKE_KEYRING_LOG")
if log:
    with open(log, "a") as f:
        f.write(json.dumps({{"args": sys.argv[1:],
            "noninteractive": os.environ.get("ARTIFACTS_KEYRING_NONINTERACTIVE_MODE")}}) + "\\n")
if os.environ.get("KEYRING_SLEEP"):
    time.sleep(float(os.environ["KEYRING_SLEEP"]))
if len(sys.argv) != 4 or sys.argv[1] != "get":
    sys.exit(2)
url = sys.argv[2]
if "/orgB" in url:
    print({PAT_B!r})
elif "/orgA" in url or url.rstrip("/").count("/") <= 2:
    print({PAT_A!r})
else:
    sys.exit(1)
"""


def fake_keyring(bin_dir: Path) -> Path:
    """The stand-in written as ``keyring`` (write_fake_az's pattern, another name)."""
    written = write_fake_az(bin_dir, FAKE_KEYRING)
    target = written.with_name(written.name.replace("az", "keyring", 1))
    written.rename(target)
    if os.name == "nt":
        (bin_dir / "az.py").rename(bin_dir / "keyring.py")
        target.write_text(f'@"{sys.executable}" "%~dp0keyring.py" %*\r\n')
    return target


def config() -> dict[str, Any]:
    cfg = sample_config()
    cfg["organizations"][0]["pats"] = [PAT_A]
    cfg["organizations"][1]["pats"] = [PAT_B]
    return cfg


def keyring_pyproject(emu: Emulator, user: str = "VssSessionToken") -> str:
    base = emu.root_url.replace("://", f"://{user}@", 1)
    return (
        "[project]\n"
        'name = "shop"\n'
        'version = "0.1.0"\n'
        'requires-python = ">=3.8"\n'
        'dependencies = ["alpha", "beta", "gamma"]\n'
        "\n"
        "[tool.uv]\n"
        'keyring-provider = "subprocess"\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orga"\n'
        f'url = "{base}/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
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
        'gamma = { index = "shared" }\n'
    )


class KeyringProject:
    """A keyring project: no UV_INDEX_* variable, the stand-in keyring first on PATH."""

    def __init__(self, root: Path, emu: Emulator) -> None:
        self.root = root
        self.emu = emu
        self.calls = 0
        root.mkdir(parents=True, exist_ok=True)
        self.bin = root.parent / "bin"
        fake_keyring(self.bin)
        self.log = root.parent / "keyring.log"
        self.env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "FAKE_KEYRING_LOG": str(self.log),
        }

    def uv(self, *args: str) -> subprocess.CompletedProcess[str]:
        self.calls += 1
        return run_uv(
            args,
            self.root,
            {**self.env, "XDG_CONFIG_HOME": str(self.root.parent / "xdg")},
            self.root.parent / f"uv-cache-{self.calls}",
        )

    def azfeeds(self, *args: str, stdin: str = "") -> Result:
        return run_proc(list(args), cwd=self.root, env=self.env, stdin=stdin)

    def map_file(self) -> Path:
        """A map of orgA, made with an explicit --org and --pat-file (the API takes a PAT)."""
        path = self.root.parent / "map.json"
        if not path.exists():
            made = self.azfeeds(
                "map",
                "--org",
                self.emu.org_url("orgA"),
                "--pat-file",
                "-",
                "--output",
                str(path),
                stdin=PAT_A + "\n",
            )
            assert made.code == 0, made.output
        return path


def ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout}\n{proc.stderr}"


@pytest.fixture
def emu(emulator_factory: Any) -> Emulator:
    emulator: Emulator = emulator_factory(config())
    return emulator


@pytest.fixture
def project(tmp_path: Path, emu: Emulator) -> KeyringProject:
    p = KeyringProject(tmp_path / "shop", emu)
    (p.root / "pyproject.toml").write_text(keyring_pyproject(emu))
    return p


def lock_and_sync(project: KeyringProject) -> None:
    ok(project.uv("lock"))
    ok(project.uv("sync", "--locked"))


def test_the_keyring_project_works_in_name_form_first(project: KeyringProject) -> None:
    lock_and_sync(project)
    calls = [json.loads(line) for line in project.log.read_text().splitlines()]
    assert calls and all(c["args"][0] == "get" and c["args"][2] == "VssSessionToken" for c in calls)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [("rewrite",), ("rewrite", "--mode", "add"), ("rewrite", "--strip-credentials")],
    ids=["rewrite", "add", "strip-credentials"],
)
def test_keyring_project_passes_after(project: KeyringProject, args: tuple[str, ...]) -> None:
    ok(project.uv("lock"))
    before = (project.root / "pyproject.toml").read_text()
    done = project.azfeeds(*args, "--map", str(project.map_file()))
    assert done.code == 0, done.output
    after = (project.root / "pyproject.toml").read_text()
    assert after != before
    assert after.count("VssSessionToken@") >= before.count("VssSessionToken@"), after
    lock_and_sync(project)
    report = project.azfeeds("doctor", "--json", "--map", str(project.map_file()))
    doc = json.loads(report.stdout)
    assert doc["result"]["problems"] == 0, json.dumps(doc["result"], indent=1)
    assert PAT_A not in report.output and PAT_A not in done.output
    # A user name alone is a keyring hint: no warning about credentials.
    assert "carries credentials" not in done.output


def test_doctor_on_a_working_keyring_project_reports_nothing_false(
    project: KeyringProject,
) -> None:
    ok(project.uv("lock"))
    report = project.azfeeds("doctor", "--json", "--map", str(project.map_file()))
    doc = json.loads(report.stdout)
    assert PAT_A not in report.output
    for index in doc["result"]["indexes"]:
        assert index["problems"] == [], index
        assert index["checks"]["uv.lock"] == "agrees"
        assert index["checks"]["keyring"].startswith("user VssSessionToken; keyring-provider")
        assert index["checks"]["keyring answer"] == "a password"
        assert index["checks"]["probe"].startswith("HTTP 200")
    calls = [json.loads(line) for line in project.log.read_text().splitlines()]
    asked = [c for c in calls if c["noninteractive"] == "true"]
    assert asked, calls
    assert {c["args"][2] for c in asked} == {"VssSessionToken"}
    assert all("@" not in c["args"][1] for c in asked)  # asked for the URL, not the userinfo
    assert report.code == 0
    loud = project.azfeeds("doctor", "--debug", "--verbose", "--map", str(project.map_file()))
    assert loud.code == 0 and PAT_A not in loud.output


def test_doctor_without_the_provider_setting(project: KeyringProject) -> None:
    text = (project.root / "pyproject.toml").read_text()
    (project.root / "pyproject.toml").write_text(
        text.replace('keyring-provider = "subprocess"', "")
    )
    report = project.azfeeds("doctor", "--json", "--map", str(project.map_file()))
    index = json.loads(report.stdout)["result"]["indexes"][0]
    assert any("keyring-provider is not set" in p for p in index["problems"]), index
    assert index["checks"]["probe"].startswith("HTTP 401")
    # The variable alone is enough, as for uv.
    project.env["UV_KEYRING_PROVIDER"] = "subprocess"
    again = json.loads(project.azfeeds("doctor", "--json", "--map", str(project.map_file())).stdout)
    first = again["result"]["indexes"][0]
    assert first["problems"] == [] and "UV_KEYRING_PROVIDER" in first["checks"]["keyring"]


def test_two_organizations_with_one_keyring_user_on_one_host(tmp_path: Path, emu: Emulator) -> None:
    project = KeyringProject(tmp_path / "shop", emu)
    base = emu.root_url.replace("://", "://VssSessionToken@", 1)
    (project.root / "pyproject.toml").write_text(
        keyring_pyproject(emu) + "\n[[tool.uv.index]]\n"
        'name = "orgb"\n'
        f'url = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
        "explicit = true\n"
    )
    report = project.azfeeds("doctor", "--json", "--offline")
    doc = json.loads(report.stdout)
    assert report.code == 1
    for index in doc["result"]["indexes"]:
        said = " ".join(index["problems"])
        assert "one keyring credential per host and user name" in said, index
        fixes = " ".join(index["fixes"])
        assert f"UV_INDEX_{index['index'].upper()}_PASSWORD" in fixes
        assert "work after 'azfeeds rewrite'" in fixes
    # A different user name per organization is the other way out: no such problem then.
    text = (project.root / "pyproject.toml").read_text()
    (project.root / "pyproject.toml").write_text(
        text.replace(
            "VssSessionToken@127.0.0.1:" + f"{emu.port}/orgB", f"orgB@127.0.0.1:{emu.port}/orgB"
        )
    )
    apart = json.loads(project.azfeeds("doctor", "--json", "--offline").stdout)
    for index in apart["result"]["indexes"]:
        assert not any("keyring credential" in p for p in index["problems"]), index


def test_keyring_call_is_non_interactive_bounded_and_secret(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_keyring(bin_dir)
    log = tmp_path / "log"
    env = {"PATH": str(bin_dir), "FAKE_KEYRING_LOG": str(log)}
    answer = keyring_get("https://h.example/orgA/_packaging/f/pypi/simple/", "VssSessionToken", env)
    assert answer.password == PAT_A
    from azfeeds.secrets import scrub

    assert PAT_A not in scrub(f"said {PAT_A}")
    assert json.loads(log.read_text())["noninteractive"] == "true"
    slow = keyring_get("https://h.example/orgA/x", "u", {**env, "KEYRING_SLEEP": "30"}, timeout=1)
    assert slow.password is None and "within 1 s" in slow.problem
    missing = keyring_get("https://h.example/orgA/x", "u", {"PATH": str(tmp_path / "none")})
    assert missing.password is None and "no 'keyring' command" in missing.problem


def test_provider_is_read_from_tool_uv_only() -> None:
    assert provider_in_text('[tool.uv]\nkeyring-provider = "subprocess"\n', True) == (
        "subprocess",
        2,
    )
    assert provider_in_text('[tool.uv.pip]\nkeyring-provider = "subprocess"\n', True) is None
    assert provider_in_text('keyring-provider = "disabled"\n', False) == ("disabled", 1)


KEYRING_ONLY = """\
[project]
name = "x"
version = "0.1.0"

[tool.uv]
keyring-provider = "subprocess"

[[tool.uv.index]]
name = "orga"
url = "https://VssSessionToken@pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
publish-url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
"""


def test_env_on_a_keyring_project_gives_the_laptop_set_up_and_the_ci_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import run_cli

    (tmp_path / "pyproject.toml").write_text(KEYRING_ONLY)
    monkeypatch.setenv("UV_INDEX_ORGA_PASSWORD", PAT_A)
    out = run_cli(["env"], cwd=tmp_path)
    assert out.code == 0 and PAT_A not in out.output
    lines = out.stdout.splitlines()
    assert "Install it once: uv tool install keyring --with artifacts-keyring" in lines[1]
    assert 'keyring-provider = "subprocess" is set (pyproject.toml:6).' in lines[2]
    exported = next(x for x in lines if x.startswith("export VSS_NUGET_EXTERNAL_FEED_ENDPOINTS="))
    endpoints = json.loads(exported.split("=", 1)[1].strip("'"))
    assert endpoints == {
        "endpointCredentials": [
            {
                "endpoint": "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/",
                "username": "VssSessionToken",
                "password": "<PAT>",
            }
        ]
    }
    assert "export UV_INDEX_ORGA_PASSWORD='<PAT for orgA>'" in lines
    doc = json.loads(run_cli(["env", "--json"], cwd=tmp_path).stdout)["result"]
    assert doc["keyring"]["provider"] == "subprocess"
    assert doc["keyring"]["endpoints"] == endpoints
    # Without the setting, env says to set it.
    (tmp_path / "pyproject.toml").write_text(
        KEYRING_ONLY.replace('keyring-provider = "subprocess"', "")
    )
    out = run_cli(["env", "--shell", "powershell"], cwd=tmp_path).stdout
    assert "keyring-provider is not set" in out
    assert '$env:UV_KEYRING_PROVIDER = "subprocess"' in out.splitlines()


def test_env_publish(tmp_path: Path) -> None:
    from helpers import run_cli

    (tmp_path / "pyproject.toml").write_text(KEYRING_ONLY)
    upload = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/upload/"
    out = run_cli(["env", "--publish"], cwd=tmp_path)
    assert out.code == 0
    lines = out.stdout.splitlines()
    assert lines[0] == (
        "# Publishing needs a PAT with Packaging (Read & write): a read-only PAT gets 403."
    )
    for line in (
        f"export UV_PUBLISH_URL={upload}",
        "export UV_PUBLISH_USERNAME=azfeeds",
        "export UV_PUBLISH_PASSWORD='<PAT with Packaging (Read & write) for orgA>'",
        f"export TWINE_REPOSITORY_URL={upload}",
        "export TWINE_PASSWORD='<PAT with Packaging (Read & write) for orgA>'",
        "# (or: uv publish --index orga, with UV_INDEX_ORGA_USERNAME/PASSWORD)",
    ):
        assert line in lines, out.stdout
    github = run_cli(["env", "--publish", "--shell", "github"], cwd=tmp_path).stdout
    assert "  TWINE_PASSWORD: ${{ secrets.AZDO_ORGA_PUBLISH_PAT }}" in github.splitlines()
    doc = json.loads(run_cli(["env", "--publish", "--json"], cwd=tmp_path).stdout)
    assert doc["result"]["publish"] == [{"index": "orga", "organization": "orgA", "url": upload}]


def test_doctor_online_without_a_feeds_api_credential_is_no_false_problem(
    project: KeyringProject,
) -> None:
    ok(project.uv("lock"))
    report = project.azfeeds("doctor", "--json")
    doc = json.loads(report.stdout)
    assert report.code == 0, json.dumps(doc["result"], indent=1)
    for index in doc["result"]["indexes"]:
        assert index["checks"]["probe"].startswith("HTTP 200")
        assert any("could not read the feed table" in n for n in index["notes"])
