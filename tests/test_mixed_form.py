"""Mixed form (issue 12 item 2): the readable name records each segment exactly as written, UUID
segments included, and ``--mode names`` gives back the original bytes for every mix of names and
UUIDs in project, feed and view, in every file kind."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest

from azfeeds.engine import RewriteOptions, rewrite
from azfeeds.planner import Mode
from azfeeds.urls import is_uuid

MAP = Path(__file__).parent / "fixtures" / "map.json"
ORG = "https://pkgs.dev.azure.com/orgA"
PROJECT = (
    "ProjectX",
    "projectx",
    "a1a1a1a1-0000-4000-8000-00000000b001",
    "A1A1A1A1-0000-4000-8000-00000000B001",
)
FEED = ("feedx", "FEEDX", "a1a1a1a1-0000-4000-8000-00000000f001")
VIEW = (None, "Release", "a1a1a1a1-0000-4000-8000-00000000c002")
SEP = ("@", "%40")


def _url(project: str, feed: str, view: str | None, sep: str) -> str:
    tail = f"{sep}{view}" if view is not None else ""
    return f"{ORG}/{project}/_packaging/{feed}{tail}/pypi/simple/"


MIXES = [
    (p, f, v, s)
    for p, f, v, s in product(PROJECT, FEED, VIEW, SEP)
    if not (v is None and s == "%40") and not all(is_uuid(x) for x in (p, f, v or f))
]


def _files(url: str) -> dict[str, str]:
    return {
        "pyproject.toml": f'[project]\nname = "x"\n\n[[tool.uv.index]]\nname = "corp"\nurl = "{url}"\n',
        "uv.toml": f'index-url = "{url}"  # our feed\n',
        "requirements.txt": f"--extra-index-url {url}\nrequests==2.32.3\n",
        "pip.conf": f"[global]\nindex-url = {url}\n",
    }


@pytest.mark.parametrize(("project", "feed", "view", "sep"), MIXES)
def test_every_mix_round_trips(
    tmp_path: Path, project: str, feed: str, view: str | None, sep: str
) -> None:
    url = _url(project, feed, view, sep)
    files = _files(url)
    for name, text in files.items():
        (tmp_path / name).write_text(text, newline="")
    rewrite([tmp_path], RewriteOptions(map_files=(MAP,)))
    written = {name: (tmp_path / name).read_text() for name in files}
    readable = f"{project}/{feed}" + (f"{sep}{view}" if view is not None else "")
    for name, text in written.items():
        assert f"azfeeds: {readable}" in text, (name, text)
        assert "/_packaging/a1a1a1a1-0000-4000-8000-00000000f001" in text
    assert not rewrite([tmp_path], RewriteOptions(map_files=(MAP,), check=True)).changed
    # names with the map, then names from the readable names alone
    rewrite([tmp_path], RewriteOptions(mode=Mode.NAMES, map_files=(MAP,)))
    assert {n: (tmp_path / n).read_text() for n in files} == files
    rewrite([tmp_path], RewriteOptions(map_files=(MAP,)))
    rewrite([tmp_path], RewriteOptions(mode=Mode.NAMES, offline=True))
    assert {n: (tmp_path / n).read_text() for n in files} == files


def test_mixed_and_named_urls_of_one_feed_in_one_file(tmp_path: Path) -> None:
    """Two readable names of one feed, one with a UUID project: each comes back as written."""
    text = (
        "[[index]]\n"
        'name = "a"\n'
        f'url = "{_url("a1a1a1a1-0000-4000-8000-00000000b001", "feedx", None, "@")}"\n\n'
        "[[index]]\n"
        'name = "b"\n'
        f'url = "{_url("projectx", "a1a1a1a1-0000-4000-8000-00000000f001", "Release", "%40")}"\n'
    )
    path = tmp_path / "uv.toml"
    path.write_text(text)
    rewrite([tmp_path], RewriteOptions(map_files=(MAP,)))
    rewrite([tmp_path], RewriteOptions(mode=Mode.NAMES, offline=True))
    assert path.read_text() == text


def test_a_refresh_keeps_uuid_segments_and_follows_only_what_was_renamed(tmp_path: Path) -> None:
    """A readable name with a UUID project segment is no rename; a renamed feed changes only the
    feed segment of the readable name, and --mode names then writes the new feed name."""
    import json

    url = _url("a1a1a1a1-0000-4000-8000-00000000b001", "feedx", "Release", "%40")
    path = tmp_path / "uv.toml"
    path.write_text(f'index-url = "{url}"\n')
    rewrite([tmp_path], RewriteOptions(map_files=(MAP,)))
    assert not rewrite([tmp_path], RewriteOptions(map_files=(MAP,), check=True)).changed
    renamed = json.loads(MAP.read_text())
    renamed["organizations"][0]["feeds"][0]["name"] = "feedx-renamed"
    new_map = tmp_path.parent / "renamed.json"
    new_map.write_text(json.dumps(renamed))
    result = rewrite([tmp_path], RewriteOptions(map_files=(new_map,)))
    assert [c.action.value for c in result.plan.changes] == ["renamed"]
    assert path.read_text().endswith(
        "  # azfeeds: a1a1a1a1-0000-4000-8000-00000000b001/feedx-renamed%40Release\n"
    )
    rewrite([tmp_path], RewriteOptions(mode=Mode.NAMES, map_files=(new_map,)))
    assert path.read_text() == f'index-url = "{url.replace("/feedx%40", "/feedx-renamed%40")}"\n'
