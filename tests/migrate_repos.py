"""Thirty generated repositories for the migration-campaign tests and timing.

Each repository is written from a shape (uv, uv.toml, Poetry, pip, workspace, nothing to
change, no configuration, a site azfeeds must leave alone, a malformed file, an organization
missing from the map) in one of two forms: name form (before the migration) or UUID form (after
it). The expected bytes after `azfeeds rewrite` are the same shape rendered in UUID form, written
here by hand from the map's UUIDs: they are not taken from azfeeds' output.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAP = Path(__file__).parent / "fixtures" / "map.json"
CAMPAIGN_PAT = "campaign-pat-7c1d"
ORG_A_PROJECT = "a1a1a1a1-0000-4000-8000-00000000b001"
ORG_A_FEEDX = "a1a1a1a1-0000-4000-8000-00000000f001"
ORG_A_SHARED = "a1a1a1a1-0000-4000-8000-00000000f002"
ORG_A_SHARED_RELEASE = "a1a1a1a1-0000-4000-8000-00000000c003"
ORG_B_PROJECT = "b2b2b2b2-0000-4000-8000-00000000b001"
ORG_B_FEEDY = "b2b2b2b2-0000-4000-8000-00000000f001"


@dataclass(frozen=True)
class Feed:
    """One index URL in its two forms, and the readable name azfeeds writes beside the UUIDs."""

    name_url: str
    uuid_url: str
    label: str

    def url(self, uuid: bool) -> str:
        return self.uuid_url if uuid else self.name_url


CLOUD = "https://pkgs.dev.azure.com"
FEEDX = Feed(
    f"{CLOUD}/orgA/ProjectX/_packaging/feedx/pypi/simple/",
    f"{CLOUD}/orgA/{ORG_A_PROJECT}/_packaging/{ORG_A_FEEDX}/pypi/simple/",
    "ProjectX/feedx",
)
FEEDY = Feed(
    f"{CLOUD}/orgB/Project%20Y/_packaging/feedy/pypi/simple/",
    f"{CLOUD}/orgB/{ORG_B_PROJECT}/_packaging/{ORG_B_FEEDY}/pypi/simple/",
    "Project%20Y/feedy",
)
SHARED_RELEASE = Feed(
    f"{CLOUD}/orgA/_packaging/shared@Release/pypi/simple/",
    f"{CLOUD}/orgA/_packaging/{ORG_A_SHARED}@{ORG_A_SHARED_RELEASE}/pypi/simple/",
    "shared@Release",
)
LEGACY_SHARED = Feed(
    "https://orgA.pkgs.visualstudio.com/_packaging/shared/pypi/simple/",
    f"https://orgA.pkgs.visualstudio.com/_packaging/{ORG_A_SHARED}/pypi/simple/",
    "shared",
)
WHEEL = (
    f"{CLOUD}/orgA/{ORG_A_PROJECT}/_packaging/{ORG_A_FEEDX}/pypi/download/alpha/1/"
    "alpha-1.0.0-py3-none-any.whl"
)
HASH = "sha256:" + "ab" * 32


def _toml_url(key: str, feed: Feed, uuid: bool) -> str:
    line = f'{key} = "{feed.url(uuid)}"'
    return f"{line}  # azfeeds: {feed.label}" if uuid else line


def _req(option: str, feed: Feed, uuid: bool) -> str:
    line = f"{option} {feed.url(uuid)}"
    return f"{line}  # azfeeds: {feed.label}" if uuid else line


def _pip_conf(key: str, feed: Feed, uuid: bool) -> str:
    line = f"{key} = {feed.url(uuid)}"
    return f"# azfeeds: {feed.label}\n{line}" if uuid else line


Files = dict[str, str]


def uv_project(name: str, uuid: bool) -> Files:
    pyproject = f"""\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["alpha>=1"]

[tool.uv.sources]
alpha = {{ index = "orga" }}

[[tool.uv.index]]
name = "orga"
{_toml_url("url", FEEDX, uuid)}
explicit = true

[[tool.uv.index]]
name = "shared"
{_toml_url("url", SHARED_RELEASE, uuid)}
"""
    lock = f"""\
version = 1
revision = 3
requires-python = ">=3.10"

[[package]]
name = "alpha"
version = "1.0.0"
source = {{ registry = "{FEEDX.url(uuid)}" }}
wheels = [
    {{ url = "{WHEEL}", hash = "{HASH}" }},
]

[[package]]
name = "{name}"
version = "0.1.0"
source = {{ virtual = "." }}
dependencies = [
    {{ name = "alpha" }},
]

[package.metadata]
requires-dist = [{{ name = "alpha", specifier = ">=1", index = "{FEEDX.url(uuid)}" }}]
"""
    return {"pyproject.toml": pyproject, "uv.lock": lock}


def uv_toml_project(name: str, uuid: bool) -> Files:
    uv_toml = f"""\
# two organizations: the case uv fails on in name form
[[index]]
name = "orga"
{_toml_url("url", FEEDX, uuid)}

[[index]]
name = "orgb"
{_toml_url("url", FEEDY, uuid)}
explicit = true
"""
    pyproject = f'[project]\nname = "{name}"\nversion = "0.1.0"\n'
    return {"uv.toml": uv_toml, "pyproject.toml": pyproject}


def poetry_project(name: str, uuid: bool) -> Files:
    # No poetry.lock: its handling is another change; the Poetry sources are what is migrated.
    pyproject = f"""\
[tool.poetry]
name = "{name}"
version = "0.1.0"
description = "a Poetry project"
authors = ["Platform Team <platform@example.com>"]

[tool.poetry.dependencies]
python = "^3.10"
alpha = {{ version = "^1.0", source = "feedx" }}

[[tool.poetry.source]]
name = "feedx"
{_toml_url("url", FEEDX, uuid)}
priority = "supplemental"

[[tool.poetry.source]]
name = "shared"
{_toml_url("url", LEGACY_SHARED, uuid)}
priority = "explicit"
"""
    return {"pyproject.toml": pyproject, "README.md": f"# {name}\n"}


def pip_project(name: str, uuid: bool) -> Files:
    pip_conf = f"""\
[global]
{_pip_conf("index-url", FEEDY, uuid)}
timeout = 60
"""
    requirements = f"""\
# {name}: runtime requirements
{_req("--extra-index-url", FEEDX, uuid)}
alpha==1.0.0
requests>=2
"""
    return {"pip.conf": pip_conf, "requirements.txt": requirements, "constraints.txt": "idna<4\n"}


def workspace_project(name: str, uuid: bool) -> Files:
    root = f"""\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["lib-a"]

[tool.uv.workspace]
members = ["packages/lib-a"]

[tool.uv.sources]
lib-a = {{ workspace = true }}

[[tool.uv.index]]
name = "orga"
{_toml_url("url", FEEDX, uuid)}
explicit = true
"""
    member = f"""\
[project]
name = "lib-a"
version = "0.1.0"

[[tool.uv.index]]
name = "orgb"
{_toml_url("url", FEEDY, uuid)}
"""
    tool_requirements = f"{_req('--index-url', FEEDX, uuid)}\nalpha==1.0.0\n"
    # A virtual environment inside the tree is never walked: its files keep their bytes.
    venv_pyproject = f'[[tool.uv.index]]\nname = "x"\nurl = "{FEEDX.name_url}"\n'
    return {
        "pyproject.toml": root,
        "packages/lib-a/pyproject.toml": member,
        "packages/tool-b/requirements.txt": tool_requirements,
        ".venv/pyvenv.cfg": "home = /usr/bin\n",
        ".venv/lib/site/pyproject.toml": venv_pyproject,
    }


def nothing_project(name: str, uuid: bool) -> Files:
    return {
        "pyproject.toml": (
            f'[project]\nname = "{name}"\nversion = "0.1.0"\n\n'
            '[[tool.uv.index]]\nname = "pypi"\nurl = "https://pypi.org/simple/"\n'
        ),
        "requirements.txt": "# https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/ is a comment\nrequests\n",
    }


def no_config_project(name: str, uuid: bool) -> Files:
    return {"README.md": f"# {name}\n\nNo Python here.\n", "src/main.go": "package main\n"}


def left_alone_project(name: str, uuid: bool) -> Files:
    # A multi-line string is left alone and reported with its reason; the other URL is rewritten.
    pyproject = f'''\
[project]
name = "{name}"
version = "0.1.0"

[[tool.uv.index]]
name = "orga"
{_toml_url("url", FEEDX, uuid)}

[[tool.uv.index]]
name = "orgb"
url = """{FEEDY.name_url}"""
'''
    return {"pyproject.toml": pyproject}


def malformed_project(name: str, uuid: bool) -> Files:
    return {
        "pyproject.toml": (
            f'[project]\nname = "{name}"\n\n[[tool.uv.index]]\nname = "orga"\n'
            f'url = "{FEEDX.name_url}\nexplicit = true\n'
        ),
        "requirements.txt": f"{_req('--index-url', FEEDY, uuid)}\nalpha\n",
    }


def unknown_org_project(name: str, uuid: bool) -> Files:
    return {
        "pyproject.toml": (
            f'[project]\nname = "{name}"\n\n[[tool.uv.index]]\nname = "orga"\n'
            f"{_toml_url('url', FEEDX, uuid)}\n"
        ),
        "requirements.txt": (
            "--extra-index-url https://pkgs.dev.azure.com/orgZ/Gone/_packaging/old/pypi/simple/\n"
        ),
    }


@dataclass
class Spec:
    """One generated repository and what the campaign must do to it."""

    name: str
    shape: str
    render: Callable[[str, bool], Files]
    uuid_form: bool  # already migrated before the campaign
    expect: str  # the state after apply: changed, unchanged, skipped, failed
    exit_code: int = 0
    reason: str = ""  # a fragment of the failure (or skip) reason
    before: Files = field(default_factory=dict)
    after: Files = field(default_factory=dict)


# (shape, renderer, how many in name form, how many already in UUID form)
SHAPES: list[tuple[str, Callable[[str, bool], Files], int, int]] = [
    ("uv", uv_project, 4, 2),
    ("uv-toml", uv_toml_project, 3, 1),
    ("poetry", poetry_project, 4, 1),
    ("pip", pip_project, 4, 1),
    ("workspace", workspace_project, 3, 1),
]


def specs() -> list[Spec]:
    """The thirty repositories, with their bytes before and after the migration."""
    out: list[Spec] = []
    for shape, render, named, migrated in SHAPES:
        for i in range(named + migrated):
            uuid = i >= named
            name = f"{shape}-{i + 1:02d}"
            before = render(name, uuid)
            after = render(name, True)
            out.append(
                Spec(
                    name,
                    shape,
                    render,
                    uuid,
                    "unchanged" if uuid else "changed",
                    0,
                    "",
                    before,
                    after,
                )
            )
    for i in range(2):
        name = f"nothing-{i + 1:02d}"
        files = nothing_project(name, False)
        out.append(Spec(name, "nothing", nothing_project, False, "unchanged", 0, "", files, files))
    files = no_config_project("no-config-01", False)
    out.append(
        Spec(
            "no-config-01",
            "no-config",
            no_config_project,
            False,
            "skipped",
            0,
            "no pyproject.toml",
            files,
            files,
        )
    )
    out.append(
        Spec(
            "left-alone-01",
            "left-alone",
            left_alone_project,
            False,
            "changed",
            0,
            "multi-line string",
            left_alone_project("left-alone-01", False),
            left_alone_project("left-alone-01", True),
        )
    )
    files = malformed_project("malformed-01", False)
    out.append(
        Spec(
            "malformed-01",
            "malformed",
            malformed_project,
            False,
            "failed",
            6,
            "not valid TOML",
            files,
            files,
        )
    )
    files = unknown_org_project("unknown-org-01", False)
    out.append(
        Spec(
            "unknown-org-01",
            "unknown-org",
            unknown_org_project,
            False,
            "failed",
            5,
            "orgZ",
            files,
            files,
        )
    )
    assert len(out) == 30, len(out)
    return out


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60
    )
    return proc.stdout


def write_repo(root: Path, spec: Spec) -> Path:
    """The repository as a committed git work tree (as multi-gitter's clone would be)."""
    repo = root / spec.name
    for rel, text in spec.before.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.email", "platform@example.com")
    git(repo, "config", "user.name", "Platform Team")
    git(repo, "config", "commit.gpgsign", "false")
    git(repo, "remote", "add", "origin", f"https://dev.azure.com/contoso/Platform/_git/{spec.name}")
    git(repo, "add", "--all", "--force")
    git(repo, "commit", "--quiet", "--message", "initial")
    return repo


def snapshot(repo: Path) -> dict[str, bytes]:
    """Every file of the work tree (outside .git), as bytes."""
    return {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in sorted(repo.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(repo).parts[:1]
    }


def expected(files: Files) -> dict[str, bytes]:
    return {rel: text.encode() for rel, text in sorted(files.items())}


def emulator_config_from_map() -> dict[str, Any]:
    """The emulator's two organizations with the fixture map's names and UUIDs."""
    orgs = []
    for org in json.loads(MAP.read_text())["organizations"]:
        if not org["url"].startswith("https://pkgs.dev.azure.com/"):
            continue
        projects = {f["project"]["name"]: f["project"]["id"] for f in org["feeds"] if f["project"]}
        feeds = [
            {
                "name": f["name"],
                "id": f["id"],
                "project": f["project"]["name"] if f["project"] else None,
                "views": [{"name": v["name"], "id": v["id"]} for v in f.get("views", [])],
            }
            for f in org["feeds"]
        ]
        orgs.append(
            {
                "name": org["name"],
                "pats": [CAMPAIGN_PAT],
                "projects": [{"name": n, "id": i} for n, i in projects.items()],
                "feeds": feeds,
            }
        )
    return {"organizations": orgs}
