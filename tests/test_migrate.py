"""The migration campaign (scripts/templates/migrate/): the run script in thirty generated git
repositories, as multi-gitter runs it; the campaign summary and pull request text; the
updatecli and Azure Pipelines templates, parsed, with every azfeeds command line run against the
real CLI. updatecli, multi-gitter and Azure Pipelines themselves cannot run here."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import run_cli
from migrate_repos import (
    CAMPAIGN_PAT,
    MAP,
    Spec,
    emulator_config_from_map,
    expected,
    git,
    pip_project,
    snapshot,
    specs,
    write_repo,
)

ROOT = Path(__file__).resolve().parent.parent
MIGRATE = ROOT / "scripts" / "templates" / "migrate"
RUN = MIGRATE / "multi-gitter-run.sh"
SUMMARY = MIGRATE / "campaign_summary.py"
TEMPLATES = [
    MIGRATE / "multi-gitter-run.sh",
    MIGRATE / "updatecli.yaml",
    MIGRATE / "azure-pipelines-migrate.yml",
]
UPDATECLI_CHANGED = 10  # the updatecli template's changedif warning code

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the run script is bash")


# -- a loopback listener that records every connection (the dead network) -----------------------


class Listener:
    """Accepts and closes connections on 127.0.0.1, counting them."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


def base_env(listener: Listener, tmp: Path) -> dict[str, str]:
    """The machine's environment without credentials or proxies, with every route to the
    network pointed at the listener: proxies for any HTTP client, and the feeds API base."""
    drop = ("AZFEEDS_", "UV_", "AZURE_", "SYSTEM_", "HTTP", "ALL_PROXY", "NO_PROXY")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith(drop) and k not in ("TF_BUILD", "GITHUB_ACTIONS", "DRY_RUN")
    }
    dead = f"http://127.0.0.1:{listener.port}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy"):
        env[name] = dead
    env["AZFEEDS_API_URL"] = dead
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["AZFEEDS_PYTHON"] = sys.executable
    env["TMPDIR"] = str(tmp)
    env["AZFEEDS_CACHE_DIR"] = str(tmp / "cache")
    return env


# -- the campaign: four phases over thirty repositories ----------------------------------------


@dataclass
class Phase:
    """One pass of the run script over the repositories."""

    seconds: float
    codes: dict[str, int] = field(default_factory=dict)
    stdout: dict[str, str] = field(default_factory=dict)
    stderr: dict[str, str] = field(default_factory=dict)
    trees: dict[str, dict[str, bytes]] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # git status --porcelain
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Campaign:
    specs: list[Spec]
    repos: dict[str, Path]
    reports: Path
    env: dict[str, str]
    listener: Listener
    phases: dict[str, Phase] = field(default_factory=dict)
    control_connections: int = 0


def run_script(repo: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """The run script as multi-gitter starts it: by absolute path, in the clone."""
    return subprocess.run(
        [str(RUN)], cwd=repo, env=dict(env), capture_output=True, text=True, timeout=120
    )


def run_phase(campaign: Campaign, names: list[str], phase_dir: str, **extra: str) -> Phase:
    """Run the script in every named repository, four at a time (multi-gitter --concurrent 4)."""

    def one(name: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        env = {**campaign.env, "REPOSITORY": f"contoso/{name}", **extra}
        return name, run_script(campaign.repos[name], env)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, names))
    phase = Phase(time.perf_counter() - start)
    for name, proc in results:
        repo = campaign.repos[name]
        phase.codes[name] = proc.returncode
        phase.stdout[name] = proc.stdout
        phase.stderr[name] = proc.stderr
        phase.trees[name] = snapshot(repo)
        phase.status[name] = git(repo, "status", "--porcelain")
        report = campaign.reports / phase_dir / f"contoso_{name}.json"
        phase.reports[name] = json.loads(report.read_text()) if report.exists() else {}
    return phase


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Campaign]:
    tmp = tmp_path_factory.mktemp("campaign")
    listener = Listener()
    env = base_env(listener, tmp)
    env["AZFEEDS_MAP"] = str(MAP)
    env["AZFEEDS_REPORT_DIR"] = str(tmp / "reports")
    all_specs = specs()
    repos = {s.name: write_repo(tmp / "repos", s) for s in all_specs}
    c = Campaign(all_specs, repos, tmp / "reports", env, listener)
    names = [s.name for s in all_specs]
    try:
        c.phases["dry-run"] = run_phase(c, names, "dry-run", DRY_RUN="true")
        c.phases["apply"] = run_phase(c, names, "apply")
        # The roll-back runs where the campaign changed something: the summary lists them.
        changed = subprocess.run(
            [sys.executable, str(SUMMARY), "repos", str(c.reports)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        c.phases["apply-again"] = run_phase(c, names, "apply")
        c.phases["roll-back"] = run_phase(
            c, [n.split("/", 1)[1] for n in changed], "roll-back", AZFEEDS_MODE="names"
        )
        # A control: the listener does see a client that honours the proxy variables.
        subprocess.run(
            [sys.executable, "-c", "import urllib.request as u; u.urlopen('http://example.com/')"],
            env=env,
            capture_output=True,
            timeout=30,
        )
        c.control_connections = listener.connections
        yield c
    finally:
        listener.close()


def by_expectation(campaign: Campaign, state: str) -> list[Spec]:
    return [s for s in campaign.specs if s.expect == state]


@pytest.mark.slow
def test_thirty_repositories_of_every_shape(campaign: Campaign) -> None:
    assert len(campaign.specs) == 30
    shapes = {s.shape for s in campaign.specs}
    assert {"uv", "uv-toml", "poetry", "pip", "workspace", "nothing", "malformed"} <= shapes
    assert sum(s.uuid_form for s in campaign.specs) == 6, "some are already in UUID form"
    assert not any("poetry.lock" in s.before for s in campaign.specs), (
        "Poetry lock files are another change's"
    )


@pytest.mark.slow
def test_dry_run_writes_nothing_and_reports_every_repository(campaign: Campaign) -> None:
    phase = campaign.phases["dry-run"]
    for spec in campaign.specs:
        name = spec.name
        assert phase.trees[name] == expected(spec.before), f"{name}: the dry run wrote"
        report = phase.reports[name]
        assert report["phase"] == "dry-run" and report["dry_run"] is True
        assert report["state"] == spec.expect, (name, report["state"], phase.stderr[name])
        assert phase.codes[name] == spec.exit_code, (name, phase.stderr[name])
        assert "{" not in phase.stdout[name], "the JSON report goes to the file, not stdout"
        assert phase.stdout[name].startswith(f"contoso/{name}: ")
        if spec.expect == "changed":
            assert "would change" in phase.stdout[name]


@pytest.mark.slow
def test_apply_rewrites_or_fails_whole_repositories(campaign: Campaign) -> None:
    phase = campaign.phases["apply"]
    for spec in campaign.specs:
        name = spec.name
        report = phase.reports[name]
        assert report["state"] == spec.expect, (name, phase.stderr[name])
        assert phase.codes[name] == spec.exit_code, (name, phase.stderr[name])
        if spec.expect == "failed":
            # failed with its reason, and nothing written: every byte as before
            assert phase.trees[name] == expected(spec.before)
            assert spec.reason in report["reason"], report["reason"]
            assert report["exit_code"] == spec.exit_code
            assert spec.reason in phase.stderr[name], "azfeeds' error reaches the log"
        else:
            assert phase.trees[name] == expected(spec.after), name
        if spec.reason and spec.expect != "failed":
            assert spec.reason in (report["reason"] or "") or any(
                spec.reason in s["reason"] for s in report["azfeeds"]["result"]["skipped"]
            )
        # multi-gitter opens a pull request when the script left changes in the work tree
        assert bool(phase.status[name]) == (spec.expect == "changed"), (name, phase.status[name])


@pytest.mark.slow
def test_a_second_run_changes_nothing(campaign: Campaign) -> None:
    first, again = campaign.phases["apply"], campaign.phases["apply-again"]
    for spec in campaign.specs:
        name = spec.name
        assert again.trees[name] == first.trees[name], name
        if spec.shape == "left-alone":
            want = "skipped"  # only the site azfeeds leaves alone is left
        elif spec.expect == "changed":
            want = "unchanged"
        else:
            want = spec.expect
        assert again.reports[name]["state"] == want, name
        assert again.codes[name] == spec.exit_code


@pytest.mark.slow
def test_the_roll_back_restores_every_byte(campaign: Campaign) -> None:
    rolled = campaign.phases["roll-back"]
    changed = {s.name for s in by_expectation(campaign, "changed")}
    assert set(rolled.trees) == changed, "the summary lists exactly the migrated repositories"
    for spec in campaign.specs:
        if spec.name in changed:
            assert rolled.trees[spec.name] == expected(spec.before), spec.name
            assert rolled.reports[spec.name]["state"] == "changed"
            assert rolled.codes[spec.name] == 0
            assert rolled.status[spec.name] == "", "back to the committed bytes"


@pytest.mark.slow
def test_no_request_leaves_the_machine(campaign: Campaign) -> None:
    runs = sum(len(p.codes) for p in campaign.phases.values())
    assert runs == 30 * 3 + len(campaign.phases["roll-back"].codes)
    # Every azfeeds run had proxies and the feeds API pointed at the listener: none connected.
    # The control (a client that honours HTTP_PROXY) shows the listener does count.
    assert campaign.control_connections >= 1
    assert campaign.control_connections == 1, "only the control connected"


# -- the summary and the pull request text -----------------------------------------------------


def summary(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SUMMARY), *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
def test_campaign_summary_table(campaign: Campaign) -> None:
    counts = {s: len(by_expectation(campaign, s)) for s in ("changed", "unchanged", "skipped")}
    failed = by_expectation(campaign, "failed")
    out = summary("summary", str(campaign.reports / "dry-run"))
    assert out.returncode == 0, out.stderr
    head = out.stdout.splitlines()[0]
    assert head == (
        f"dry-run (--mode uuid): 30 repositories: {counts['changed']} changed, "
        f"{counts['unchanged']} unchanged, {counts['skipped']} skipped, {len(failed)} failed"
    )
    for spec in failed:
        row = next(ln for ln in out.stdout.splitlines() if ln.startswith(f"contoso/{spec.name} "))
        assert f"failed (exit {spec.exit_code})" in row and spec.reason in row
    assert "no pyproject.toml" in out.stdout  # the repository with no configuration: skipped
    assert "multi-line string" in out.stdout  # a site left alone, with its reason
    # the whole tree: one table per phase; failures can fail the caller
    every = summary("summary", "--fail-on-failed", str(campaign.reports))
    assert every.returncode == 1
    assert [ln.split(" (")[0] for ln in every.stdout.splitlines() if "repositories:" in ln] == [
        "dry-run",
        "apply",
        "roll-back",
    ]
    md = summary("summary", "--format", "markdown", str(campaign.reports / "apply"))
    assert "| repository | state | files | urls | detail |" in md.stdout
    assert "| contoso/malformed-01 | failed (exit 6) |" in md.stdout
    # the second apply overwrote the apply reports (all unchanged now): the dry run still lists
    # what the campaign migrates
    assert summary("repos", str(campaign.reports)).stdout == ""
    regex = summary("repos", "--phase", "dry-run", "--format", "regex", str(campaign.reports))
    assert re.fullmatch(regex.stdout.strip(), "uv-01") and not re.fullmatch(
        regex.stdout.strip(), "uv-05"
    )


@pytest.mark.slow
def test_pull_request_text_from_one_report(campaign: Campaign) -> None:
    report = campaign.reports / "dry-run" / "contoso_uv-toml-01.json"
    body = summary("pr-body", str(report)).stdout
    assert body.startswith("## azfeeds: Azure Artifacts index URLs in UUID form\n")
    assert "**2 URL(s) in 1 file(s)**" in body
    assert "| uv.toml | 4 | index[0].url | orgA | ProjectX/feedx |" in body
    assert "| uv.toml | 8 | index[1].url | orgB | Project%20Y/feedy |" in body
    cut = summary("pr-body", "--max-chars", str(len(body) - 10), str(report)).stdout
    assert len(cut) <= len(body) - 10, "Azure keeps 4,000 characters of a description"
    assert "more URL(s): see this repository's campaign report" in cut
    assert "| uv.toml | 8 |" not in cut and "Project%20Y/feedy" in cut
    left = summary("pr-body", str(campaign.reports / "dry-run" / "contoso_left-alone-01.json"))
    assert "### Left alone" in left.stdout and "multi-line string" in left.stdout
    back = summary(
        "pr-body", "--commit-message", str(campaign.reports / "roll-back" / "contoso_uv-01.json")
    )
    assert back.stdout.startswith("azfeeds: Azure Artifacts index URLs back in name form\n\n")
    assert "ProjectX/feedx" in back.stdout and "shared@Release" in back.stdout


# -- the run script's own contract ------------------------------------------------------------


@pytest.fixture
def one_repo(tmp_path: Path) -> Iterator[tuple[Path, Spec, dict[str, str], Listener]]:
    listener = Listener()
    env = base_env(listener, tmp_path)
    env["AZFEEDS_MAP"] = str(MAP)
    spec = next(s for s in specs() if s.name == "workspace-01")
    repo = write_repo(tmp_path / "repos", spec)
    yield repo, spec, env, listener
    listener.close()


def test_commit_mode_makes_the_pull_request_text_the_commit(
    one_repo: tuple[Path, Spec, dict[str, str], Listener], tmp_path: Path
) -> None:
    repo, spec, env, _ = one_repo
    env.update(AZFEEDS_COMMIT="1", AZFEEDS_REPORT_DIR=str(tmp_path / "r"), REPOSITORY="c/ws")
    proc = run_script(repo, env)
    assert proc.returncode == 0, proc.stderr
    assert git(repo, "status", "--porcelain") == "", "everything azfeeds wrote is committed"
    assert snapshot(repo) == expected(spec.after)
    message = git(repo, "log", "-1", "--format=%B")
    title, _, body = message.partition("\n\n")
    assert title == "azfeeds: Azure Artifacts index URLs in UUID form"
    assert "packages/lib-a/pyproject.toml" in body and "Project%20Y/feedy" in body
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert sorted(files) == [
        "packages/lib-a/pyproject.toml",
        "packages/tool-b/requirements.txt",
        "pyproject.toml",
    ]


def test_by_hand_in_any_repository(
    one_repo: tuple[Path, Spec, dict[str, str], Listener], tmp_path: Path
) -> None:
    repo, spec, env, listener = one_repo
    canary = "canary-pat-3f9e1c"
    git(
        repo,
        "remote",
        "set-url",
        "origin",
        f"https://me:{canary}@dev.azure.com/contoso/Platform/_git/ws",
    )
    env.pop("AZFEEDS_REPORT_DIR", None)  # default: $TMPDIR/azfeeds-reports
    sub = repo / "packages"
    proc = run_script(repo, {**env, "DRY_RUN": "1"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "contoso/Platform/ws: would change: 3 URL(s) in 3 file(s)\n"
    report = tmp_path / "azfeeds-reports" / "dry-run" / "contoso_Platform_ws.json"
    text = report.read_text()
    assert json.loads(text)["repository"] == "contoso/Platform/ws"
    assert canary not in proc.stdout + proc.stderr + text
    assert snapshot(repo) == expected(spec.before)
    # from a subdirectory: that subtree only, and the report still outside the repository
    proc = run_script(sub, env)
    assert proc.returncode == 0, proc.stderr
    tree = snapshot(repo)
    assert tree["pyproject.toml"] == expected(spec.before)["pyproject.toml"]
    assert (
        tree["packages/lib-a/pyproject.toml"]
        == expected(spec.after)["packages/lib-a/pyproject.toml"]
    )
    assert listener.connections == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"AZFEEDS_REPORT_DIR": "reports"}, "must be an absolute path"),
        ({"AZFEEDS_REPORT_DIR": "{repo}/.reports"}, "inside the repository"),
        ({"AZFEEDS_REPORT_DIR": "{link}/reports"}, "inside the repository"),
        ({"AZFEEDS_MAP": ""}, "AZFEEDS_MAP is not set"),
        ({"AZFEEDS_MAP": "map.json"}, "AZFEEDS_MAP: no such file"),
        ({"DRY_RUN": "maybe"}, "DRY_RUN must be"),
        ({"AZFEEDS_MODE": "add"}, "AZFEEDS_MODE must be uuid"),
        ({"AZFEEDS_PYTHON": "no-such-python3"}, "no-such-python3 not found"),
        ({"AZFEEDS_CHANGED_EXIT_CODE": "ten"}, "must be a number"),
    ],
)
def test_bad_settings_fail_with_nothing_written(
    one_repo: tuple[Path, Spec, dict[str, str], Listener],
    tmp_path: Path,
    settings: dict[str, str],
    message: str,
) -> None:
    repo, spec, env, _ = one_repo
    env["AZFEEDS_REPORT_DIR"] = str(tmp_path / "r")
    link = tmp_path / "into-the-repository"
    link.symlink_to(repo, target_is_directory=True)
    env.update({k: v.format(repo=repo, link=link) for k, v in settings.items()})
    proc = run_script(repo, env)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert snapshot(repo) == expected(spec.before), "nothing written in the repository"
    assert git(repo, "status", "--porcelain", "--ignored") == ""


# -- updatecli: its shell target's contract, then the template ---------------------------------


def load_updatecli() -> tuple[dict[str, Any], dict[str, Any]]:
    values = yaml.safe_load((MIGRATE / "updatecli-values.yaml").read_text())
    return yaml.safe_load((MIGRATE / "updatecli.yaml").read_text()), values


def render(text: str, values: Mapping[str, Any]) -> str:
    """The two Go-template forms the manifest uses: {{ .azfeeds.x }} and the mode conditional."""
    text = re.sub(
        r'\{\{ if eq \.azfeeds\.mode "names" \}\}(.*?)\{\{ else \}\}(.*?)\{\{ end \}\}',
        lambda m: m.group(1) if values["mode"] == "names" else m.group(2),
        text,
    )
    out = re.sub(r"\{\{ \.azfeeds\.(\w+) \}\}", lambda m: str(values[m.group(1)]), text)
    assert "{{" not in out, out
    return out


def test_updatecli_manifest_follows_its_documented_keys() -> None:
    doc, values = load_updatecli()
    assert set(doc) == {"name", "pipelineid", "scms", "targets", "actions"}
    ((scm_id, scm),) = doc["scms"].items()
    assert scm["kind"] == "azuredevopssearch"
    spec = scm["spec"]
    assert {"organization", "project", "repository", "branch"} <= set(spec)
    assert spec["limit"] == 0, "updatecli stops at 10 repositories by default"
    assert all(render(spec[k], values["azfeeds"]) for k in ("project", "repository", "branch"))
    (target,) = doc["targets"].values()
    assert target["kind"] == "shell" and target["scmid"] == scm_id
    assert target["disablesourceinput"] is True, "no source value appended to the command"
    changedif = target["spec"]["changedif"]
    assert changedif == {
        "kind": "exitcode",
        "spec": {"success": 0, "warning": UPDATECLI_CHANGED, "failure": 1},
    }
    (action,) = doc["actions"].values()
    assert action["kind"] == "azuredevops/pullrequest" and action["scmid"] == scm_id
    for key in ("name", "pipelineid"):
        render(doc[key], values["azfeeds"])


def updatecli_target_env(values: Mapping[str, Any], dry_run: bool) -> dict[str, str]:
    """What updatecli's shell target passes: the listed variables only (a listed one without
    a value inherits updatecli's), plus DRY_RUN and UPDATECLI_PIPELINE_STAGE."""
    doc, _ = load_updatecli()
    (target,) = doc["targets"].values()
    env: dict[str, str] = {}
    for item in target["spec"]["environments"]:
        value = item.get("value")
        env[item["name"]] = render(value, values) if value is not None else os.environ[item["name"]]
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DRY_RUN"] = "true" if dry_run else "false"
    env["UPDATECLI_PIPELINE_STAGE"] = "target"
    return env


def test_updatecli_target_runs_under_updatecli_contract(tmp_path: Path) -> None:
    """The target command, rendered with the values file's keys and run as updatecli runs it
    (/bin/sh on a script holding the command, in the clone, with only the listed environment),
    read through its changedif: 0 = no change, 10 = changed, anything else = error."""
    doc, values = load_updatecli()
    (target,) = doc["targets"].values()
    vals = {
        **values["azfeeds"],
        "map": str(MAP),
        "script": str(RUN),
        "reports": str(tmp_path / "reports"),
    }
    command = render(target["spec"]["command"], vals)
    script = tmp_path / "updatecli-target.sh"
    script.write_text(command + "\n")
    chosen = {s.name: s for s in specs() if s.name in ("pip-01", "pip-05", "malformed-01")}
    outcome: dict[tuple[str, bool], str] = {}
    for name, spec in chosen.items():
        repo = write_repo(tmp_path / "repos", spec)
        for dry in (True, False):
            env = updatecli_target_env(vals, dry)
            proc = subprocess.run(
                ["/bin/sh", str(script)],
                cwd=repo,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            code = proc.returncode
            outcome[name, dry] = {0: "success", UPDATECLI_CHANGED: "changed"}.get(
                code, f"error {code}"
            )
            if dry:
                assert snapshot(repo) == expected(spec.before), "updatecli diff writes nothing"
    assert outcome == {
        ("pip-01", True): "changed",
        ("pip-01", False): "changed",
        ("pip-05", True): "success",
        ("pip-05", False): "success",
        ("malformed-01", True): "error 6",
        ("malformed-01", False): "error 6",
    }
    # without REPOSITORY, the report is named from the clone's origin remote
    assert (tmp_path / "reports" / "apply" / "contoso_Platform_pip-01.json").exists()


# -- Azure Pipelines ---------------------------------------------------------------------------


def test_azure_pipelines_template() -> None:
    path = MIGRATE / "azure-pipelines-migrate.yml"
    doc = yaml.safe_load(path.read_text())
    assert doc["trigger"] == "none" and doc["pr"] == "none"
    (phase,) = doc["parameters"]
    assert phase["values"] == ["dry-run", "apply", "roll-back"]
    aliases = [r["repository"] for r in doc["resources"]["repositories"]]
    assert len(aliases) >= 2 and all(r["type"] == "git" for r in doc["resources"]["repositories"])
    checkouts = [s for s in doc["steps"] if "checkout" in s]
    assert checkouts[0]["checkout"] == "self"
    assert [s["checkout"] for s in checkouts[1:]] == aliases, "every listed repository checked out"
    assert all(s["persistCredentials"] is True for s in checkouts[1:])
    scripts = [s for s in doc["steps"] if "script" in s]
    run_step = next(s for s in scripts if "multi-gitter-run.sh" in s["script"])
    assert 'campaign_summary.py" summary' in run_step["script"]
    assert "task.uploadsummary" in run_step["script"]
    assert "AZURE_DEVOPS_EXT_PAT" not in run_step.get("env", {}), "no token where azfeeds runs"
    pr_step = scripts[-1]
    assert pr_step["env"]["AZURE_DEVOPS_EXT_PAT"] == "$(System.AccessToken)"
    assert "az repos pr create" in pr_step["script"] and "git push" in pr_step["script"]
    assert "pr-body" in pr_step["script"], "the description comes from the repository's report"
    assert "dry-run" in pr_step["condition"], "no branch or pull request in the dry run"
    (keep,) = [s for s in doc["steps"] if "publish" in s]
    assert keep["publish"] == "$(AZFEEDS_REPORT_DIR)", "the reports outlive the run"
    for step in (run_step, pr_step):
        assert "set -" in step["script"] and "pipefail" in step["script"]


# -- every azfeeds command line in the templates -----------------------------------------------

_LINE = re.compile(r"^\s*(?:#\s*)?(?:\$\s+)?(?:uvx\s+)?azfeeds\s+(rewrite|map|doctor)\b(.*)$")
_INLINE = re.compile(r"`(?:uvx\s+)?azfeeds\s+(rewrite|map|doctor)\b([^`]*)`")
_STOP = {"|", "||", "&&", ";", "&"}


def azfeeds_commands(text: str, values: Mapping[str, str]) -> list[list[str]]:
    """Every azfeeds command in a text: a line that starts with one (in a comment too), or one
    in backticks; shell variables and template parameters replaced, redirections dropped."""
    found: list[tuple[str, str]] = []
    for line in text.splitlines():
        inline = _INLINE.findall(line)
        if inline:
            found += inline
            continue
        m = _LINE.match(line)
        if m:
            found.append((m.group(1), m.group(2)))
    out = []
    for command, rest in found:
        tokens = []
        rest = re.sub(r"\{\{ \.azfeeds\.(\w+) \}\}", lambda m: values[m.group(1)], rest)
        for token in shlex.split(rest.rstrip("\\"), comments=False):
            if token in _STOP or token.startswith((">", "2>", "<")):
                break
            tokens.append(substitute(token, values))
        out.append([command, *tokens])
    return out


def substitute(token: str, values: Mapping[str, str]) -> str:
    def var(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        assert name in values, f"a template variable the test does not know: {m.group(0)}"
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", var, token)


def test_every_azfeeds_command_line_is_valid(tmp_path: Path) -> None:
    spec = next(s for s in specs() if s.name == "uv-01")
    values = {"map": str(MAP), "mode": "uuid", "AZFEEDS_MAP": str(MAP)}
    ran = parsed = 0
    sources = [*TEMPLATES, MIGRATE / "updatecli-values.yaml", ROOT / "README.md"]
    for path in sources:
        text = path.read_text()
        if path.name == "README.md":
            text = text.split("## Migrating many repositories", 1)[1].split("\n## ", 1)[0]
            prose = re.sub(r"```.*?```", "", text, flags=re.S).splitlines()
            assert all(line.count("`") % 2 == 0 for line in prose), "a code span over two lines"
        commands = azfeeds_commands(text, values)
        if path in TEMPLATES or path.name == "README.md":
            assert commands, f"{path.name} names no azfeeds command"
        for args in commands:
            if args[0] == "rewrite" and "--offline" in args:
                # Run it for real, in a fresh name-form repository, with map.json beside it.
                repo = write_repo(tmp_path / f"cmd{ran}", spec)
                (repo / "map.json").write_bytes(MAP.read_bytes())
                result = run_cli(args, cwd=repo)
                assert result.code in (0, 1), (path.name, args, result.stderr)
                ran += 1
            else:
                # Needs the network or a credential: the options must parse.
                result = run_cli([*args, "--help"])
                assert result.code == 0, (path.name, args, result.stderr)
                parsed += 1
    assert ran >= 3 and parsed >= 2, (ran, parsed)


def test_no_secret_reaches_the_reports_or_the_pull_request(tmp_path: Path) -> None:
    """A credential written inside an index URL stays out of the script's output, the report,
    the pull request text and the commit message (azfeeds redacts it in its JSON)."""
    canary = "canary-secret-5d1e"
    listener = Listener()
    try:
        env = base_env(listener, tmp_path)
        env.update(AZFEEDS_MAP=str(MAP), AZFEEDS_REPORT_DIR=str(tmp_path / "r"), AZFEEDS_COMMIT="1")
        url = f"https://me:{canary}@pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
        spec = Spec("secret", "pip", pip_project, False, "changed")
        spec.before = {"requirements.txt": f"--index-url {url}\nalpha\n"}
        repo = write_repo(tmp_path / "repos", spec)
        proc = run_script(repo, {**env, "REPOSITORY": "contoso/secret"})
        assert proc.returncode == 0, proc.stderr
        report = (tmp_path / "r" / "apply" / "contoso_secret.json").read_text()
        body = summary("pr-body", str(tmp_path / "r" / "apply" / "contoso_secret.json")).stdout
        message = git(repo, "log", "-1", "--format=%B")
        assert "ProjectX/feedx" in body and "***" in report
        for text in (proc.stdout, proc.stderr, report, body, message):
            assert canary not in text
        assert listener.connections == 0
    finally:
        listener.close()


# -- the one map, made once --------------------------------------------------------------------


def test_one_map_made_once_serves_the_campaign(emulator_factory: Any, tmp_path: Path) -> None:
    """`azfeeds map --org orgA --org orgB --views --output map.json` against the emulator: the API
    is asked once for the campaign, never from a repository. With one PAT per organization, two
    runs onto the same --output merge into the same map. Without --views, a URL that names a view
    cannot be resolved from the map (exit 5, nothing written)."""
    config = emulator_config_from_map()
    for org in config["organizations"]:
        org["pats"].append(f"pat-of-{org['name']}")  # each organization also has its own PAT
    emu = emulator_factory(config)
    listener = Listener()
    env = base_env(listener, tmp_path)
    env["NO_PROXY"] = "127.0.0.1"  # the emulator; anything else still goes to the listener

    def make_map(output: str, pat: str, *args: str) -> Path:
        pat_file = tmp_path / f"{pat}.txt"
        pat_file.write_text(pat + "\n")
        azfeeds = str(Path(sys.executable).parent / "azfeeds")
        online = ["--api-url", emu.root_url, "--pat-file", str(pat_file)]
        made = subprocess.run(
            [azfeeds, "map", *args, *online, "--output", str(tmp_path / output)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        return tmp_path / output

    one = make_map("map.json", CAMPAIGN_PAT, "--org", "orgA", "--org", "orgB", "--views")
    assert emu.count(route="feeds") == 2, "one feeds request per organization"
    make_map("merged.json", "pat-of-orgA", "--org", "orgA", "--views")
    merged = make_map("merged.json", "pat-of-orgB", "--org", "orgB", "--views")
    assert json.loads(merged.read_text()) == json.loads(one.read_text()), "the same map"
    no_views = make_map("no-views.json", CAMPAIGN_PAT, "--org", "orgA", "--org", "orgB")
    requests = len(emu.log())
    env["AZFEEDS_REPORT_DIR"] = str(tmp_path / "reports")
    chosen = [s for s in specs() if s.name in ("uv-01", "uv-toml-01", "pip-01", "poetry-01")]
    for spec in chosen:
        repo = write_repo(tmp_path / "repos", spec)
        without = run_script(repo, {**env, "AZFEEDS_MAP": str(no_views)})
        if spec.shape == "uv":  # shared@Release: a view
            assert without.returncode == 5 and "views of feed 'shared'" in without.stderr
            assert snapshot(repo) == expected(spec.before)
        proc = run_script(repo, {**env, "AZFEEDS_MAP": str(merged)})
        assert proc.returncode == 0, proc.stderr
        assert snapshot(repo) == expected(spec.after), spec.name
    assert len(emu.log()) == requests, "no request from any repository"
    listener.close()
    assert listener.connections == 0
