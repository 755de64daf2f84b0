"""uv workspaces (issue 12 item 3): a root covers its members as uv sees them, a member finds its
root as uv does, and rewrite --check, doctor and env agree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import run_cli

MAP = str(Path(__file__).parent / "fixtures" / "map.json")
URL_A = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
URL_B = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"
URL_SHARED = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"
UUID_A = (
    "https://pkgs.dev.azure.com/orgA/a1a1a1a1-0000-4000-8000-00000000b001/_packaging/"
    "a1a1a1a1-0000-4000-8000-00000000f001/pypi/simple/"
)


def _member(root: Path, where: str, name: str, index: str | None, url: str | None) -> None:
    path = root / where / "pyproject.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f'[project]\nname = "{name}"\nversion = "0"\n'
    if index is not None:
        text += f'\n[[tool.uv.index]]\nname = "{index}"\nurl = "{url}"\n'
    path.write_text(text)


def _lock(urls: list[str]) -> str:
    text = 'version = 1\nrequires-python = ">=3.10"\n'
    for n, url in enumerate(urls):
        text += (
            f'\n[[package]]\nname = "p{n}"\nversion = "1.0"\nsource = {{ registry = "{url}" }}\n'
        )
    return text


def _workspace(root: Path) -> None:
    (root / "pyproject.toml").write_text(
        "[project]\n"
        'name = "root"\n'
        'version = "0"\n\n'
        "[tool.uv.workspace]\n"
        'members = ["packages/*", "tools/c"]\n'
        'exclude = ["packages/skip"]\n'
    )
    _member(root, "packages/a", "a", "corp", URL_A)
    _member(root, "packages/b", "b", "other", URL_B)
    _member(root, "packages/skip", "skip", "skipped", URL_SHARED)
    _member(root, "tools/c", "c", None, None)
    (root / "packages" / "no-project").mkdir()  # matched by the glob, no pyproject.toml
    (root / "uv.lock").write_text(_lock([URL_A, URL_B]))


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_root_checks_its_members_and_its_lock(tmp_path: Path) -> None:
    _workspace(tmp_path)
    result = run_cli(["rewrite", "--check", "--json", "--map", MAP], cwd=tmp_path)
    assert result.code == 1, result.output
    doc = json.loads(result.stdout)
    paths = sorted({c["path"] for c in doc["result"]["changes"]})
    assert paths == ["packages/a/pyproject.toml", "packages/b/pyproject.toml", "uv.lock"]


def test_the_root_rewrites_members_and_lock_and_names_restores(tmp_path: Path) -> None:
    _workspace(tmp_path)
    before = _files(tmp_path)
    assert run_cli(["rewrite", "--map", MAP], cwd=tmp_path).code == 0
    after = _files(tmp_path)
    assert UUID_A in after["packages/a/pyproject.toml"]
    assert UUID_A in after["uv.lock"]
    assert after["packages/skip/pyproject.toml"] == before["packages/skip/pyproject.toml"]
    assert run_cli(["rewrite", "--check", "--map", MAP], cwd=tmp_path).code == 0
    assert run_cli(["rewrite", "--mode", "names", "--offline"], cwd=tmp_path).code == 0
    assert _files(tmp_path) == before


def test_a_member_finds_the_root_lock_and_leaves_the_other_members_strings(tmp_path: Path) -> None:
    _workspace(tmp_path)
    member = tmp_path / "packages" / "a"
    result = run_cli(["rewrite", "--map", MAP], cwd=member)
    assert result.code == 0, result.output
    lock = (tmp_path / "uv.lock").read_text()
    assert UUID_A in lock and URL_A not in lock
    assert URL_B in lock  # member b is not rewritten: the lock keeps its string
    assert URL_B in (tmp_path / "packages" / "b" / "pyproject.toml").read_text()
    assert run_cli(["rewrite", "--check", "--map", MAP], cwd=member).code == 0


def test_a_member_given_as_a_file_finds_the_root_lock(tmp_path: Path) -> None:
    _workspace(tmp_path)
    result = run_cli(
        ["rewrite", "--check", "--json", "--map", MAP, "packages/a/pyproject.toml"], cwd=tmp_path
    )
    assert result.code == 1
    paths = sorted({c["path"] for c in json.loads(result.stdout)["result"]["changes"]})
    assert paths == ["packages/a/pyproject.toml", "uv.lock"]


def test_an_excluded_member_stands_alone(tmp_path: Path) -> None:
    _workspace(tmp_path)
    result = run_cli(
        ["rewrite", "--check", "--json", "--map", MAP], cwd=tmp_path / "packages" / "skip"
    )
    paths = sorted({c["path"] for c in json.loads(result.stdout)["result"]["changes"]})
    assert paths == ["pyproject.toml"]


def test_the_nearest_pyproject_decides(tmp_path: Path) -> None:
    """A project inside a plain (non-workspace) project is not a member of a workspace above."""
    _workspace(tmp_path)
    _member(tmp_path, "packages/a/examples/demo", "demo", "corp", URL_A)
    result = run_cli(
        ["rewrite", "--check", "--json", "--map", MAP], cwd=tmp_path / "packages/a/examples/demo"
    )
    paths = sorted({c["path"] for c in json.loads(result.stdout)["result"]["changes"]})
    assert paths == ["pyproject.toml"]


def test_a_shared_url_with_a_member_outside_the_run_is_reported(tmp_path: Path) -> None:
    _workspace(tmp_path)
    _member(tmp_path, "packages/b", "b", "corp", URL_A)
    result = run_cli(["rewrite", "--check", "--map", MAP], cwd=tmp_path / "packages" / "a")
    assert "packages/b/pyproject.toml" in result.output.replace("\\", "/")
    assert "rewrite the whole workspace" in result.output


def test_doctor_and_env_see_the_members(tmp_path: Path) -> None:
    _workspace(tmp_path)
    doctor = run_cli(["doctor", "--offline", "--json"], cwd=tmp_path)
    doc = json.loads(doctor.stdout)
    text = json.dumps(doc)
    assert "packages/a/pyproject.toml" in text and "packages/b/pyproject.toml" in text
    assert "packages/skip" not in text
    env = run_cli(["env"], cwd=tmp_path)
    assert "UV_INDEX_CORP_PASSWORD" in env.stdout and "UV_INDEX_OTHER_PASSWORD" in env.stdout
    assert "UV_INDEX_SKIPPED" not in env.stdout
    member = run_cli(["doctor", "--offline", "--json"], cwd=tmp_path / "packages" / "a")
    assert '"agrees"' in member.stdout


def test_recursive_still_covers_a_plain_tree(tmp_path: Path) -> None:
    _member(tmp_path, "one", "one", "corp", URL_A)
    _member(tmp_path, "two", "two", "other", URL_B)
    result = run_cli(["rewrite", "--check", "--recursive", "--json", "--map", MAP], cwd=tmp_path)
    paths = sorted({c["path"] for c in json.loads(result.stdout)["result"]["changes"]})
    assert paths == ["one/pyproject.toml", "two/pyproject.toml"]
    plain = run_cli(["rewrite", "--check", "--json", "--map", MAP], cwd=tmp_path)
    assert json.loads(plain.stdout)["result"]["changes"] == []


@pytest.mark.skipif(os.name != "posix", reason="symbolic links need POSIX here")
def test_real_paths_agree_with_realpath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # RealPaths resolves a directory once and each path in it with one lstat: every answer
    # must be os.path.realpath's, with links to files and to directories, and ".." in the path
    from azfeeds.uvworkspace import RealPaths

    (tmp_path / "real" / "pkg").mkdir(parents=True)
    (tmp_path / "real" / "pkg" / "pyproject.toml").write_text("")
    (tmp_path / "other").mkdir()
    (tmp_path / "linkdir").symlink_to(tmp_path / "real")
    (tmp_path / "real" / "alias").symlink_to(tmp_path / "other")
    (tmp_path / "real" / "file.toml").symlink_to(tmp_path / "real" / "pkg" / "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    paths = [
        "real/pkg",
        "linkdir/pkg",
        "linkdir/pkg/pyproject.toml",
        "real/alias",
        "linkdir/alias",
        "real/file.toml",
        "linkdir/../real/pkg",
        "real/pkg/..",
        "real/missing",
        "linkdir",
        "pkg",
        str(tmp_path / "linkdir" / "pkg"),
        "real/pkg/",
    ]
    real = RealPaths()
    for path in paths * 2:  # the second round answers from the resolved directories
        assert real(path) == os.path.realpath(path), path
