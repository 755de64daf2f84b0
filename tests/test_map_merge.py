"""Several map files merge: ``--map`` repeatable, ``AZFEEDS_MAP`` split by os.pathsep, and
``map --output`` onto an existing map replaces only the organizations it fetched."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, own_pats_config
from helpers import run_cli

from azfeeds.errors import FileError
from azfeeds.table import load_maps, merge_maps, table_from_document

FIXTURES = Path(__file__).parent / "fixtures"
MAP = FIXTURES / "map.json"

TWO_ORGS = """\
[[tool.uv.index]]
name = "orga"
url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"

[[tool.uv.index]]
name = "orgb"
url = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"
"""


def split_map(tmp_path: Path) -> tuple[Path, Path]:
    """The fixture map as two files: orgA in one, everything else in the other."""
    doc = json.loads(MAP.read_text())
    a = {**doc, "organizations": [o for o in doc["organizations"] if o["name"] == "orgA"]}
    b = {**doc, "organizations": [o for o in doc["organizations"] if o["name"] != "orgA"]}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    return tmp_path / "a.json", tmp_path / "b.json"


def project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(TWO_ORGS)
    return root


def test_two_maps_resolve_two_organizations(tmp_path: Path) -> None:
    a, b = split_map(tmp_path)
    proj = project(tmp_path / "p")
    only_a = run_cli(["rewrite", "--check", "--map", str(a)], cwd=proj)
    assert only_a.code == 5, only_a.output  # orgB is in no map
    both = run_cli(["rewrite", "--map", str(a), "--map", str(b)], cwd=proj)
    assert both.code == 0, both.output
    text = (proj / "pyproject.toml").read_text()
    assert "# azfeeds: ProjectX/feedx" in text and "# azfeeds: Project%20Y/feedy" in text


def test_azfeeds_map_takes_several_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = split_map(tmp_path)
    proj = project(tmp_path / "p")
    monkeypatch.setenv("AZFEEDS_MAP", f"{a}{os.pathsep}{b}{os.pathsep}")
    assert run_cli(["rewrite"], cwd=proj).code == 0
    doc = json.loads(run_cli(["doctor", "--json"], cwd=proj).stdout)
    assert [i["checks"]["feeds API"].split(" (")[0] for i in doc["result"]["indexes"]] == [
        "feed feedx",
        "feed feedy",
    ]


def test_the_same_organization_in_two_maps_merges_when_they_agree(tmp_path: Path) -> None:
    doc = json.loads(MAP.read_text())
    org_a = next(o for o in doc["organizations"] if o["name"] == "orgA")
    first = {**org_a, "feeds": org_a["feeds"][:1]}
    second = {**org_a, "feeds": [*org_a["feeds"][1:], {**org_a["feeds"][0], "views": None}]}
    merged = merge_maps(
        [
            ("x.json", table_from_document({"schema_version": 1, "organizations": [first]})),
            ("y.json", table_from_document({"schema_version": 1, "organizations": [second]})),
        ]
    )
    (org,) = merged.organizations.values()
    assert sorted(f.name for f in org.feeds) == sorted(f["name"] for f in org_a["feeds"])
    feedx = org.feed_by_name("feedx")
    assert feedx is not None and feedx.views is not None and len(feedx.views) == 2


def conflicting(tmp_path: Path, change: dict[str, Any]) -> Path:
    doc = json.loads(MAP.read_text())
    org_a = next(o for o in doc["organizations"] if o["name"] == "orgA")
    org_a["feeds"][0].update(change)
    path = tmp_path / "stale.json"
    path.write_text(json.dumps({"schema_version": 1, "organizations": [org_a]}))
    return path


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": "a1a1a1a1-0000-4000-8000-0000000000ff"}, "feed 'feedx' has id"),
        ({"name": "feedx-renamed"}, "is named 'feedx' in one and 'feedx-renamed' in the other"),
        ({"project": None}, "feed 'feedx' is in project"),
    ],
)
def test_conflicting_maps_are_an_error_naming_both(
    tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    stale = conflicting(tmp_path, change)
    with pytest.raises(FileError) as info:
        load_maps([MAP, stale])
    assert reason in str(info.value)
    proj = project(tmp_path / "p")
    before = (proj / "pyproject.toml").read_bytes()
    result = run_cli(["rewrite", "--map", str(MAP), "--map", str(stale)], cwd=proj)
    assert result.code == 6, result.output
    assert f"in {MAP} and in {stale}" in result.stderr
    assert "map files disagree on organization 'orgA'" in result.stderr
    assert (proj / "pyproject.toml").read_bytes() == before


# -- map --output onto an existing map (live) ----------------------------------------------------

PAT_A = "canary-merge-a-" + secrets.token_hex(6)
PAT_B = "canary-merge-b-" + secrets.token_hex(6)


def config() -> dict[str, Any]:
    return own_pats_config(PAT_A, PAT_B)


def one_org_project(root: Path, emu: Emulator, org: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    url = (
        emu.index_url("orgA", "feedx", "ProjectX")
        if org == "orgA"
        else emu.index_url("orgB", "feedy", "Project Y")
    )
    (root / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "{org}"\nurl = "{url}"\n')
    return root


def orgs_in(path: Path) -> dict[str, list[str]]:
    doc = json.loads(path.read_text())
    return {o["name"]: sorted(f["name"] for f in o["feeds"]) for o in doc["organizations"]}


def test_map_output_onto_an_existing_map_keeps_the_other_organizations(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu: Emulator = emulator_factory(config())
    monkeypatch.setenv("UV_INDEX_ORGA_PASSWORD", PAT_A)
    monkeypatch.setenv("UV_INDEX_ORGB_PASSWORD", PAT_B)
    out = tmp_path / "feeds.json"
    a = one_org_project(tmp_path / "a", emu, "orgA")
    b = one_org_project(tmp_path / "b", emu, "orgB")
    assert run_cli(["map", "--output", str(out)], cwd=a).code == 0
    assert orgs_in(out) == {"orgA": ["feedx", "shared"]}
    first_b = run_cli(["map", "--output", str(out)], cwd=b)
    assert first_b.code == 0, first_b.output
    assert "kept 1 other organization" in first_b.stderr
    assert orgs_in(out) == {"orgA": ["feedx", "shared"], "orgB": ["feedy"]}
    stale_b = tmp_path / "stale.json"
    stale_b.write_text(out.read_text())

    # orgB changes: a refresh of orgB replaces its entry, orgA's stays as it was
    emu.rename_feed("orgB", "feedy", "feedy2")
    emu.clear_log()
    assert run_cli(["map", "--output", str(out)], cwd=b).code == 0
    assert orgs_in(out) == {"orgA": ["feedx", "shared"], "orgB": ["feedy2"]}
    assert {r["org"] for r in emu.log() if r["route"] == "feeds"} == {"orgB"}

    # the stale copy and the fresh map now disagree about orgB's feed: exit 6, both named
    result = run_cli(["doctor", "--map", str(out), "--map", str(stale_b)], cwd=b)
    assert result.code == 6, result.output
    assert f"in {out} and in {stale_b}" in result.stderr


def test_map_output_onto_a_malformed_map_writes_nothing_and_asks_nobody(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu: Emulator = emulator_factory(config())
    monkeypatch.setenv("UV_INDEX_ORGA_PASSWORD", PAT_A)
    out = tmp_path / "feeds.json"
    out.write_text('{"schema_version": 1, "organizations": [}\n')
    before = out.read_bytes()
    result = run_cli(
        ["map", "--output", str(out)], cwd=one_org_project(tmp_path / "a", emu, "orgA")
    )
    assert result.code == 6, result.output
    assert out.read_bytes() == before
    assert [r for r in emu.log() if r["route"] != "control"] == []
    # the hint must not send the user back to the command that just refused
    error, hint = result.stderr.strip().splitlines()
    assert error.startswith(f"azfeeds: error: {out}:1: ")
    assert hint == (
        "azfeeds: hint: --output merges into an existing file, which must be a map file: "
        f"repair {out}, or give --output a path that does not exist yet"
    )


def test_map_output_into_a_missing_directory_fails_before_any_request(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu: Emulator = emulator_factory(config())
    monkeypatch.setenv("UV_INDEX_ORGA_PASSWORD", PAT_A)
    project = one_org_project(tmp_path / "a", emu, "orgA")
    out = tmp_path / "no" / "such" / "feeds.json"
    result = run_cli(["map", "--output", str(out)], cwd=project)
    assert result.code == 6, result.output
    assert result.stderr.splitlines() == [
        f"azfeeds: error: {out}: its directory {out.parent} does not exist",
        "azfeeds: hint: create the directory first, or give --output a path in an existing one",
    ]
    assert [r for r in emu.log() if r["route"] != "control"] == []
    directory = run_cli(["map", "--output", str(tmp_path)], cwd=project)
    assert directory.code == 6, directory.output
    assert directory.stderr.splitlines()[-1] == (
        "azfeeds: hint: give --output a file path, not a directory"
    )
    assert [r for r in emu.log() if r["route"] != "control"] == []


def test_library_table_from_map_merges_several(tmp_path: Path) -> None:
    import azfeeds

    a, b = split_map(tmp_path)
    table = azfeeds.table_from_map(a, b)
    assert sorted(o.name for o in table.organizations.values()) == [
        "DefaultCollection",
        "orgA",
        "orgB",
    ]
    with pytest.raises(azfeeds.AzfeedsError):
        azfeeds.table_from_map(MAP, conflicting(tmp_path, {"name": "other"}))


def test_an_organization_in_no_map_names_the_merge(tmp_path: Path) -> None:
    a, _ = split_map(tmp_path)
    result = run_cli(["rewrite", "--map", str(a)], cwd=project(tmp_path / "p"))
    assert result.code == 5
    assert (
        "'azfeeds map --org orgB --output FILE' adds it to FILE and keeps the organizations "
        "already there" in result.stderr
    )


def test_a_missing_map_from_azfeeds_map_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path is on no command line: the error says where it came from."""
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "a"\n'
        'url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
    )
    gone = tmp_path / "gone.json"
    monkeypatch.setenv("AZFEEDS_MAP", str(gone))
    for command in (["rewrite", "--check"], ["doctor"]):
        result = run_cli(command, cwd=tmp_path)
        assert result.code == 6, result.output
        assert result.stderr.splitlines() == [
            f"azfeeds: error: {gone}: no such map file (named in AZFEEDS_MAP)",
            "azfeeds: hint: fix the path in AZFEEDS_MAP, or unset it to ask the feeds API",
        ]


def test_doctor_with_a_map_that_lacks_an_organization_says_so_as_rewrite_would(
    tmp_path: Path,
) -> None:
    """rewrite stops with exit 5 on an organization no map lists; doctor reports it as a problem."""
    document = json.loads(MAP.read_text())
    document["organizations"] = [o for o in document["organizations"] if o["name"] == "orgA"]
    only_a = tmp_path / "only-a.json"
    only_a.write_text(json.dumps(document))
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "a"\n'
        'url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
        '[[tool.uv.index]]\nname = "b"\n'
        'url = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
    )
    args = ["--offline", "--map", str(only_a)]
    assert run_cli(["rewrite", "--check", *args], cwd=tmp_path).code == 5
    doctor = run_cli(["doctor", "--json", *args], cwd=tmp_path)
    assert doctor.code == 1, doctor.output
    indexes = {i["index"]: i for i in json.loads(doctor.stdout)["result"]["indexes"]}
    assert not any("map" in p for p in indexes["a"]["problems"])
    assert any("'orgB' is in no map file given" in p for p in indexes["b"]["problems"])
