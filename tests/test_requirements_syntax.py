"""Requirements files (issue 12 items 6 and 8): azfeeds finds exactly the index URLs that pip's
own parser reads, in every spelling pip accepts, checked against the real pip (the wheel that
ships inside Python, run in a separate process: no network)."""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

from azfeeds.fsio import Snapshot
from azfeeds.kinds import load_source
from azfeeds.kinds.base import FileKind
from azfeeds.kinds.requirements import INDEX_OPTIONS

MAP = str(Path(__file__).parent / "fixtures" / "map.json")
SCRIPT = Path(__file__).parent / "data" / "pip_index_options.py"
A = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"
X = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
Y = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"

LINES = [
    f"--index-url {A}",
    f"--index-url={X}",
    f"-i {Y}",
    f"-i{A}",
    f"--index {X}",
    f"--index={Y}",
    f"--i {A}",
    f"--pypi-url {X}",
    f"--py={Y}",
    f"--extra-index-url {A}",
    f"--extra-index {X}",
    f"--extra={Y}",
    f"--ex {A}",
    f"  --extra-index-url\t{X}  # a comment",
    f"alpha==1.0 --extra-index-url {Y}",
    f'beta>=2 ; python_version >= "3.10" --index-url={A}',
    f"gamma --hash=sha256:00 --extra-index {X}",
    f"--extra-index-url \\\n    {Y}",
    f"delta==1 \\\n    --index-url {A} \\\n    --hash=sha256:00",
    f"--extra-index-url {A} --extra-index-url {X}",
    f"# --index-url {Y}",
    f"epsilon  # --index-url {A}",
    f"--e {X}",  # ambiguous for pip (--editable): an error there, nothing here
    f"--find-links {Y}",  # not an index option
]


def _bundled_pip() -> str | None:
    import ensurepip

    wheels = glob.glob(os.path.join(os.path.dirname(ensurepip.__file__), "_bundled", "pip-*.whl"))
    return wheels[0] if wheels else None


def _pip(path: Path) -> dict[str, list]:
    """What pip reads from ``path``: the pip of the dev dependencies (pinned in uv.lock), so that
    every Python version checks against the same pip; the one bundled with Python otherwise
    (whose age follows the Python's: 3.10's reads fewer spellings)."""
    env = {**os.environ, "PIP_NO_INPUT": "1"}
    if importlib.util.find_spec("pip") is None:  # pragma: no cover - pip is a dev dependency
        wheel = _bundled_pip()
        if wheel is None:
            pytest.skip("no pip here, and no pip wheel inside this Python")
        env["PYTHONPATH"] = wheel
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(proc.stdout)


def _azfeeds(path: Path) -> list[tuple[int, str]]:
    source = load_source(Snapshot(path, path, path.read_bytes()), FileKind.REQUIREMENTS)
    return [(s.line, s.url) for s in source.sites if s.problem is None]


def test_the_spellings_are_pips(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("")
    assert sorted(INDEX_OPTIONS) == _pip(path)["spellings"]


def test_every_line_is_read_as_pip_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(
        "zeta==1\n" + "\n".join(line for line in LINES if not line.startswith("--e ")) + "\n"
    )
    pip_urls = [url for _, urls in _pip(path)["found"] for url in urls]
    assert [url for _, url in _azfeeds(path)] == pip_urls
    assert len(pip_urls) == 21


def test_an_ambiguous_abbreviation_is_an_error_for_pip_and_nothing_here(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"--e {X}\n")
    with pytest.raises(subprocess.CalledProcessError):
        _pip(path)
    assert _azfeeds(path) == []


def test_every_line_rewrites_and_round_trips(tmp_path: Path) -> None:
    text = "\n".join(line for line in LINES if not line.startswith("--e ")) + "\n"
    path = tmp_path / "requirements.txt"
    path.write_bytes(text.encode())
    assert run_cli(["rewrite", "--map", MAP], cwd=tmp_path).code == 0
    rewritten = path.read_text()
    assert "/_packaging/feedx/" not in rewritten.replace(f"# --index-url {Y}", "")
    # pip reads the rewritten file as the same options, in UUID form
    pip_after = [url for _, urls in _pip(path)["found"] for url in urls]
    assert all("/_packaging/a1a1" in u or "/_packaging/b2b2" in u for u in pip_after)
    assert run_cli(["rewrite", "--check", "--map", MAP], cwd=tmp_path).code == 0
    assert run_cli(["rewrite", "--mode", "names", "--offline"], cwd=tmp_path).code == 0
    assert path.read_bytes() == text.encode()


def test_a_continued_url_line_gets_its_name_on_a_comment_line_above(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text(f"alpha==1.0 \\\n    --extra-index-url {X} \\\n    --hash=sha256:00\n")
    run_cli(["rewrite", "--map", MAP], cwd=tmp_path)
    lines = path.read_text().splitlines()
    assert lines[0] == "# azfeeds: ProjectX/feedx"
    assert lines[1] == "alpha==1.0 \\"
    assert lines[2].startswith("    --extra-index-url https://pkgs.dev.azure.com/orgA/a1a1")
    assert lines[2].endswith("/pypi/simple/ \\")


def test_pip_conf_reads_the_pypi_url_alias(tmp_path: Path) -> None:
    """pip takes a pip.conf key as the long option of that name: pypi-url is --index-url."""
    path = tmp_path / "pip.conf"
    path.write_text(f"[global]\npypi-url = {A}\n\n[install]\nextra_index_url = {X}\n")
    source = load_source(Snapshot(path, path, path.read_bytes()), FileKind.PIP_CONF)
    assert [(s.key, s.url) for s in source.sites] == [
        ("[global] pypi-url", A),
        ("[install] extra_index_url", X),
    ]
