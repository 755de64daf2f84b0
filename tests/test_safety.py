"""Nothing lost: atomic writes, conflicts, rollback, permissions, symbolic links, what a walk skips."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
from helpers import run_cli

from azfeeds.engine import RewriteOptions, rewrite
from azfeeds.errors import FileError
from azfeeds.fsio import Transaction, read_snapshot

FIXTURES = Path(__file__).parent / "fixtures"
MAP = FIXTURES / "map.json"
URL = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")


def _pyproject(path: Path, url: str = URL) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[[tool.uv.index]]\nname = "orga"\nurl = "{url}"\n')
    return path


def _leftovers(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if ".azfeeds-" in p.name]


def test_unchanged_file_is_not_written(tmp_path: Path) -> None:
    path = _pyproject(tmp_path / "pyproject.toml", "https://pypi.org/simple/")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.stat()
    assert run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path).code == 0
    after = path.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


@posix_only
def test_mode_is_kept_and_no_temp_file_is_left(tmp_path: Path) -> None:
    path = _pyproject(tmp_path / "pyproject.toml")
    path.chmod(0o640)
    inode = path.stat().st_ino
    assert run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path).code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_ino != inode, "written through a new file and an atomic replace"
    assert _leftovers(tmp_path) == []


def test_file_changed_by_someone_else_is_not_overwritten(tmp_path: Path) -> None:
    path = _pyproject(tmp_path / "pyproject.toml")
    snapshot = read_snapshot(path)
    path.write_text(path.read_text() + "# someone else's edit\n")
    transaction = Transaction()
    transaction.add(snapshot, "new content\n")
    with pytest.raises(FileError, match="changed on disk while azfeeds was running"):
        transaction.commit()
    assert path.read_text().endswith("# someone else's edit\n")
    assert _leftovers(tmp_path) == []


def test_a_failed_replace_rolls_back_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _pyproject(tmp_path / "a" / "pyproject.toml")
    second = _pyproject(tmp_path / "b" / "pyproject.toml")
    originals = (first.read_bytes(), second.read_bytes())
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(FileError, match="every file was left as it was"):
        rewrite([tmp_path], RewriteOptions(map_files=(MAP,), recursive=True))
    monkeypatch.setattr(os, "replace", real_replace)
    assert (first.read_bytes(), second.read_bytes()) == originals
    assert _leftovers(tmp_path) == []


@posix_only
def test_read_only_file_is_refused_by_anyone_even_root(tmp_path: Path) -> None:
    path = _pyproject(tmp_path / "pyproject.toml")
    path.chmod(0o444)
    before = path.read_bytes()
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 6 and "read-only" in result.stderr
    assert path.read_bytes() == before


@posix_only
def test_a_file_the_system_denies_writing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _pyproject(tmp_path / "pyproject.toml")
    before = path.read_bytes()
    real_access = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode: False if Path(p).resolve() == path.resolve() else real_access(p, mode),
    )
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 6 and "read-only" in result.stderr
    assert path.read_bytes() == before


@posix_only
def test_symlinks_are_never_followed_out_of_the_tree(tmp_path: Path) -> None:
    outside = _pyproject(tmp_path / "outside" / "pyproject.toml")
    tree = tmp_path / "tree"
    (tree / "a").mkdir(parents=True)
    (tree / "a" / "pyproject.toml").symlink_to(outside)
    (tree / "linked-dir").symlink_to(outside.parent, target_is_directory=True)
    before = outside.read_bytes()
    result = run_cli(["rewrite", "-r", "--map", str(MAP)], cwd=tree)
    assert result.code == 0
    assert "points out of the tree" in result.stderr
    assert outside.read_bytes() == before


@posix_only
def test_symlink_inside_the_tree_keeps_the_link(tmp_path: Path) -> None:
    real = _pyproject(tmp_path / "configs" / "pyproject.toml")
    (tmp_path / "app").mkdir()
    link = tmp_path / "app" / "pyproject.toml"
    link.symlink_to(real)
    assert run_cli(["rewrite", "-r", "--map", str(MAP)], cwd=tmp_path).code == 0
    assert link.is_symlink()
    assert "azfeeds: ProjectX/feedx" in real.read_text()


def test_walk_skips_virtualenvs_hidden_and_vendor_dirs(tmp_path: Path) -> None:
    skipped = [
        _pyproject(tmp_path / ".venv" / "pyproject.toml"),
        _pyproject(tmp_path / "node_modules" / "x" / "pyproject.toml"),
        _pyproject(tmp_path / ".hidden" / "pyproject.toml"),
        _pyproject(tmp_path / "env" / "pyproject.toml"),
    ]
    (tmp_path / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (tmp_path / "pyproject.toml").mkdir()  # a directory with that name is not a file
    taken = _pyproject(tmp_path / "pkg" / "pyproject.toml")
    before = [p.read_bytes() for p in skipped]
    result = run_cli(["rewrite", "-r", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert [p.read_bytes() for p in skipped] == before
    assert "azfeeds:" in taken.read_text()


def test_without_recursive_only_the_directory_itself(tmp_path: Path) -> None:
    top = _pyproject(tmp_path / "pyproject.toml")
    deep = _pyproject(tmp_path / "sub" / "pyproject.toml")
    assert run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path).code == 0
    assert "azfeeds:" in top.read_text() and "azfeeds:" not in deep.read_text()


def test_nul_bytes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_bytes(b"--index-url " + URL.encode() + b"\n\x00\n")
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 6 and "NUL bytes" in result.stderr


def test_files_without_azure_urls_are_never_parsed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("this is [not toml at all\n")
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 0
    assert "nothing to change (1 file scanned)" in result.stderr


def test_copy_of_fixture_tree_is_idempotent_recursively(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "rewrite", tmp_path / "all")
    first = rewrite([tmp_path / "all"], RewriteOptions(map_files=(MAP,), recursive=True))
    assert first.written
    second = rewrite([tmp_path / "all"], RewriteOptions(map_files=(MAP,), recursive=True))
    assert not second.plan.would_change and not second.written
