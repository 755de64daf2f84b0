"""Nothing silent (issue 12 item 8): an Azure URL azfeeds cannot handle is reported as skipped,
with file, line and reason, in the text report and in --json; upload URLs, with or without a
trailing slash, are handled like simple ones."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli

MAP = str(Path(__file__).parent / "fixtures" / "map.json")
SPACE = "https://pkgs.dev.azure.com/orgA/Project X/_packaging/feedx/pypi/simple/"
ESCAPE = "https://pkgs.dev.azure.com/orgA/Project%zzX/_packaging/feedx/pypi/simple/"
SHAPE = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/json/"
LITERAL_SPACE = "the URL holds a literal space (write it as %20)"


def _write(root: Path) -> None:
    (root / "pyproject.toml").write_text(
        "[[tool.uv.index]]\n"
        'name = "a"\n'
        f'url = "{SPACE}"\n'
        "\n[[tool.uv.index]]\n"
        'name = "b"\n'
        f'url = "{ESCAPE}"\n'
        "\n[[tool.uv.index]]\n"
        'name = "c"\n'
        f'url = "{SHAPE}"\n'
    )
    (root / "requirements.txt").write_text(f"requests\n--extra-index-url {SPACE}\n")
    (root / "pip.conf").write_text(f"[global]\nextra-index-url =\n    {SPACE}\n")


EXPECTED = {
    ("pyproject.toml", 3, "tool.uv.index[0].url", LITERAL_SPACE),
    (
        "pyproject.toml",
        7,
        "tool.uv.index[1].url",
        "bad percent escape '%zz' in the path (a '%' is written %25)",
    ),
    (
        "pyproject.toml",
        11,
        "tool.uv.index[2].url",
        "'pypi/json' is not an index URL (expected pypi/simple or pypi/upload)",
    ),
    ("requirements.txt", 2, "--extra-index-url", LITERAL_SPACE),
    ("pip.conf", 3, "[global] extra-index-url", LITERAL_SPACE),
}


def test_every_unhandled_azure_url_is_reported(tmp_path: Path) -> None:
    _write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    doc = json.loads(run_cli(["rewrite", "--json", "--map", MAP], cwd=tmp_path).stdout)
    skipped = {(s["path"], s["line"], s["key"], s["reason"]) for s in doc["result"]["skipped"]}
    assert skipped == EXPECTED
    text = run_cli(["rewrite", "--check", "--map", MAP], cwd=tmp_path)
    for path, line, key, reason in EXPECTED:
        assert f"skipped {path}:{line} {key}: {reason}" in text.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_upload_urls_with_and_without_a_trailing_slash(tmp_path: Path) -> None:
    base = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi"
    uuid = (
        "https://pkgs.dev.azure.com/orgA/a1a1a1a1-0000-4000-8000-00000000b001/_packaging/"
        "a1a1a1a1-0000-4000-8000-00000000f001/pypi"
    )
    text = (
        "[[tool.uv.index]]\n"
        'name = "a"\n'
        f'url = "{base}/simple/"\n'
        f'publish-url = "{base}/upload"\n'
        "\n[[tool.uv.index]]\n"
        'name = "b"\n'
        f'url = "{base}/simple"\n'
        f'publish-url = "{base}/upload/"\n'
    )
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    result = run_cli(["rewrite", "--map", MAP], cwd=tmp_path)
    assert result.code == 0 and "skipped" not in result.stderr
    new = path.read_text()
    for tail in ("/simple/", "/upload", "/simple", "/upload/"):
        assert f'"{uuid}{tail}"' in new
    run_cli(["rewrite", "--mode", "names", "--offline"], cwd=tmp_path)
    assert path.read_text() == text
