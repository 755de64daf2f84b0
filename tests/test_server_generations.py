"""azfeeds against every Azure DevOps generation the emulator knows (DESIGN.md sections 7 and 8).

The emulator holds the facts (``SERVER_RELEASES``: each release's version ceiling, preview-only
packaging routes below 7.0, lists without ``project``); the tests read versions and shapes from it
(its state and its request log), never from azfeeds. For each release, ``map``, ``rewrite`` and
``doctor`` must give what they give against Services (the default), for at most two extra
requests per server.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, own_pats_config
from helpers import Result, run_cli

PAT_A = "canary-gen-a-" + secrets.token_hex(6)
PAT_B = "canary-gen-b-" + secrets.token_hex(6)
ORGS = ("orgA", "orgB")
RELEASES = ["2019", "2019.1", "2020", "2020.1", "2022", "2022.1"]
SERVICES = "services"
API_ROUTES = {"feeds", "views", "projects"}


def config() -> dict[str, Any]:
    return own_pats_config(PAT_A, PAT_B)


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator.start(config(), tmp_path_factory.mktemp("emulator")) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    for org in ORGS:
        set_release(emu, org, SERVICES)
    emu.clear_log()
    for name, pat in (("ORGA", PAT_A), ("ORGB", PAT_B)):
        monkeypatch.setenv(f"UV_INDEX_{name}_USERNAME", "any")
        monkeypatch.setenv(f"UV_INDEX_{name}_PASSWORD", pat)


def set_release(emu: Emulator, org: str, release: str, **options: Any) -> dict[str, Any]:
    defaults = {"legacy_list": None, "legacy_views": False, "projects_api": "ok"}
    described: dict[str, Any] = emu.set_server(org, server=release, **{**defaults, **options})[
        "server"
    ]
    return described


def write_project(root: Path, base: str, *, view: str | None = None) -> Path:
    """Two organizations on one host (one server), name-form URLs as users write them."""
    root.mkdir(parents=True, exist_ok=True)
    feedx = f"feedx@{view}" if view else "feedx"
    (root / "pyproject.toml").write_text(
        "[project]\n"
        'name = "demo"\n'
        'version = "0.1.0"\n'
        'dependencies = ["alpha", "delta", "gamma"]\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orga"\n'
        f'url = "{base}/orgA/ProjectX/_packaging/{feedx}/pypi/simple/"\n'
        "explicit = true\n"
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orgb"\n'
        f'url = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
        "explicit = true\n"
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orga"\n'
        f'url = "{base}/orgA/_packaging/shared/pypi/simple/"\n'
        "explicit = true\n"
    )
    (root / "requirements.txt").write_text(
        f"--extra-index-url {base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/\ndelta\n"
    )
    return root


def api_log(emu: Emulator) -> list[dict[str, Any]]:
    return [r for r in emu.log() if r["route"] in API_ROUTES]


def version_refusals(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["status"] == 400]


def accepted_version(records: list[dict[str, Any]], org: str) -> str:
    """The api-version the emulator answered 200 for on the feeds list of ``org``."""
    versions = {
        r["api_version"]
        for r in records
        if r["route"] == "feeds" and r["org"] == org and r["status"] == 200
    }
    assert len(versions) == 1, versions
    return versions.pop()


def run_ok(args: list[str], cwd: Path) -> Result:
    result = run_cli(args, cwd=cwd)
    assert result.code == 0, result.output
    assert PAT_A not in result.output and PAT_B not in result.output
    return result


def without_versions(doc: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(doc))
    for org in copy["organizations"]:
        org.pop("api_version", None)
    return copy


def rewritten(
    emu: Emulator, root: Path, *args: str
) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    emu.clear_log()
    run_ok(["rewrite", *args], root)
    files = {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}
    return files, api_log(emu)


# -- the same table and bytes as Services ----------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_rewrite_map_and_doctor_match_services(emu: Emulator, tmp_path: Path, release: str) -> None:
    template = write_project(tmp_path / "template", emu.root_url, view="Release")

    def fresh(name: str) -> Path:
        return Path(shutil.copytree(template, tmp_path / name))

    services_files, services_log = rewritten(emu, fresh("services"))
    emu.clear_log()
    services_map = json.loads(run_ok(["map", "--json"], fresh("services-map")).stdout)
    emu.clear_log()
    services_doctor = json.loads(run_cli(["doctor", "--json"], cwd=fresh("services-doc")).stdout)

    facts = {org: set_release(emu, org, release) for org in ORGS}
    release_files, release_log = rewritten(emu, fresh("release"))
    assert release_files == services_files
    # the emulator's log: the server refused at most two versions, and only the first organization
    # negotiated (both organizations are collections of one server)
    refused = version_refusals(release_log)
    assert len(refused) <= 2
    assert len(release_log) - len(services_log) == len(refused)
    assert len({r["org"] for r in refused}) <= 1
    assert all(r["route"] == "feeds" for r in refused)
    for org in ORGS:
        used = accepted_version(release_log, org)
        ceiling = tuple(int(n) for n in facts[org]["ceiling"].split("."))
        assert tuple(int(n) for n in used.split("-")[0].split(".")) <= ceiling
        # views were asked with the version the feeds list settled on, right the first time
        for record in release_log:
            if record["org"] == org and record["route"] == "views":
                assert (record["api_version"], record["status"]) == (used, 200)

    emu.clear_log()
    release_map = json.loads(run_ok(["map", "--json"], fresh("release-map")).stdout)
    assert without_versions(release_map) == without_versions(services_map)
    map_log = api_log(emu)
    assert not [r for r in map_log if r["route"] == "projects"]  # the URLs named every project
    for org in release_map["organizations"]:
        assert org["api_version"] == accepted_version(map_log, org["name"])
    for org in services_map["organizations"]:
        assert org["api_version"] == accepted_version(services_log, org["name"])

    emu.clear_log()
    release_doctor = json.loads(run_cli(["doctor", "--json"], cwd=fresh("release-doc")).stdout)
    doctor_log = api_log(emu)
    assert len(version_refusals(doctor_log)) <= 2
    recorded = {o["name"]: o["api_version"] for o in release_doctor["result"]["organizations"]}
    assert recorded == {org: accepted_version(doctor_log, org) for org in ORGS}
    for doc in (services_doctor, release_doctor):
        for index in doc["result"]["indexes"]:
            index["checks"].pop("API version", None)
            index["checks"].pop("probe", None)
    assert release_doctor["result"]["indexes"] == services_doctor["result"]["indexes"]
    assert release_doctor["exit_code"] == services_doctor["exit_code"]


LABELS = {
    SERVICES: "Azure DevOps Services",
    "2022.1": "Server 2022 Update 1",
    "2022": "Server 2022",
    "2020.1": "Server 2020 Update 1",
    "2020": "Server 2020",
    "2019.1": "Server 2019 Update 1",
    "2019": "Server 2019",
}


def test_request_counts_per_generation_are_the_readmes(emu: Emulator, tmp_path: Path) -> None:
    """The figures the README quotes: requests of one `rewrite` of a two-organization project,
    measured here from the emulator's request log."""
    template = write_project(tmp_path / "template", emu.root_url)
    rows = []
    for release, label in LABELS.items():
        for org in ORGS:
            set_release(emu, org, release)
        _, records = rewritten(emu, Path(shutil.copytree(template, tmp_path / release)))
        refused = len(version_refusals(records))
        assert refused <= 2 and len(records) == len(ORGS) + refused
        rows.append(
            f"| {label} | {accepted_version(records, 'orgA')} | {len(records)} | {refused} |"
        )
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    header = "| server generation (emulated) | version azfeeds settles on | requests | extra |"
    start = readme.index(header)
    table = readme[start:].split("\n\n", 1)[0].splitlines()[2:]
    assert table == rows, "\n".join(rows)


# -- lists without `project` -----------------------------------------------------------------


def test_list_without_project_keys_takes_uuids_from_the_feed_url(
    emu: Emulator, tmp_path: Path
) -> None:
    described = set_release(emu, "orgA", SERVICES, legacy_list=True)
    assert described["lists_projects"] is False
    project = write_project(tmp_path / "p", emu.root_url)
    run_ok(["rewrite"], project)
    info = emu.feed_info("orgA", "feedx")
    text = (project / "pyproject.toml").read_text()
    assert f"/orgA/{info['project_id']}/_packaging/{info['id']}/pypi/simple/" in text
    assert "ProjectX/feedx" in text  # the readable name, as the user wrote it


@pytest.mark.parametrize("release", ["2019.1", "2020.1"])
def test_map_org_asks_the_projects_api_once_for_names(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release: str
) -> None:
    pat = tmp_path / "pat"
    pat.write_text(PAT_A + "\n")
    args = ["map", "--json", "--org", f"{emu.root_url}/orgA", "--pat-file", str(pat)]
    services = json.loads(run_ok(args, tmp_path).stdout)
    assert set_release(emu, "orgA", release)["lists_projects"] is False
    emu.clear_log()
    result = run_ok(args, tmp_path)
    assert without_versions(json.loads(result.stdout)) == without_versions(services)
    projects = [r for r in api_log(emu) if r["route"] == "projects"]
    assert len(projects) == 1 and projects[0]["status"] == 200
    assert "note:" not in result.stderr


@pytest.mark.parametrize("answer", ["401", "403"])
def test_packaging_only_pat_lists_projects_by_uuid_with_a_note(
    emu: Emulator, tmp_path: Path, answer: str
) -> None:
    set_release(emu, "orgA", "2019.1", projects_api=answer)
    pat = tmp_path / "pat"
    pat.write_text(PAT_A + "\n")
    result = run_ok(
        ["map", "--json", "--org", f"{emu.root_url}/orgA", "--pat-file", str(pat)], tmp_path
    )
    info = emu.feed_info("orgA", "feedx")
    feedx = next(
        f for f in json.loads(result.stdout)["organizations"][0]["feeds"] if f["name"] == "feedx"
    )
    assert feedx["project"] == {"id": info["project_id"], "name": info["project_id"]}
    assert "note: collection 'orgA': projects listed by their UUID" in result.stderr
    assert "Project (Read)" in result.stderr
    assert [r["status"] for r in api_log(emu) if r["route"] == "projects"] == [int(answer)]


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """A collection of 2,500 projects whose only feed lives in project 2,100: past two pages of
    the projects API (1,000 each)."""
    config = {
        "organizations": [
            {
                "name": "orgA",
                "pats": [PAT_A],
                "projects": [{"name": f"Team {i:04d}"} for i in range(2500)],
                "feeds": [{"name": "feedz", "project": "Team 2100"}],
            }
        ]
    }
    with Emulator.start(config, tmp_path_factory.mktemp("crowded")) as emulator:
        emulator.set_server("orgA", server="2019.1", legacy_list=None, legacy_views=False)
        yield emulator


def test_map_pages_through_the_projects_api_until_every_project_is_named(
    crowded: Emulator, tmp_path: Path
) -> None:
    pat = tmp_path / "pat"
    pat.write_text(PAT_A + "\n")
    crowded.clear_log()
    result = run_ok(
        ["map", "--json", "--org", f"{crowded.root_url}/orgA", "--pat-file", str(pat)], tmp_path
    )
    (feed,) = json.loads(result.stdout)["organizations"][0]["feeds"]
    assert feed["project"]["name"] == "Team 2100"
    pages = [r for r in crowded.log() if r["route"] == "projects"]
    assert [r["status"] for r in pages] == [200, 200, 200]  # stops at the page that names it
    assert "note:" not in result.stderr


def test_a_projects_list_past_the_page_cap_is_said(
    crowded: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azfeeds import resolve

    monkeypatch.setattr(resolve, "MAX_PROJECT_PAGES", 2)
    pat = tmp_path / "pat"
    pat.write_text(PAT_A + "\n")
    result = run_ok(
        ["map", "--json", "--org", f"{crowded.root_url}/orgA", "--pat-file", str(pat)], tmp_path
    )
    (feed,) = json.loads(result.stdout)["organizations"][0]["feeds"]
    assert feed["project"]["name"] == feed["project"]["id"]  # listed by its UUID
    assert "more than 2000 projects" in result.stderr


def test_legacy_views_list_without_local_and_visibility(emu: Emulator, tmp_path: Path) -> None:
    set_release(emu, "orgA", "2019.1", legacy_views=True)
    project = write_project(tmp_path / "p", emu.root_url, view="Release")
    result = run_ok(["map", "--json", "--views"], project)
    org_a = next(o for o in json.loads(result.stdout)["organizations"] if o["name"] == "orgA")
    expected = {v["name"] for v in emu.feed_info("orgA", "feedx")["views"] if v["name"] != "Local"}
    feedx = next(f for f in org_a["feeds"] if f["name"] == "feedx")
    assert {v["name"] for v in feedx["views"]} == expected
    run_ok(["rewrite"], project)
    release = next(v for v in emu.feed_info("orgA", "feedx")["views"] if v["name"] == "Release")
    assert f"@{release['id']}/pypi/simple/" in (project / "pyproject.toml").read_text()


# -- pinning -----------------------------------------------------------------------------------


def test_pinned_version_turns_negotiation_off(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for org in ORGS:
        set_release(emu, org, "2019.1")
    template = write_project(tmp_path / "template", emu.root_url)
    # a version the emulator's 2019.1 takes (its own log says which: the one negotiation found)
    _, negotiated = rewritten(emu, Path(shutil.copytree(template, tmp_path / "negotiated")))
    good = accepted_version(negotiated, "orgA")
    _, pinned = rewritten(
        emu, Path(shutil.copytree(template, tmp_path / "pinned")), "--api-version", good
    )
    assert {r["api_version"] for r in pinned} == {good}
    assert not version_refusals(pinned)

    # pinned above the ceiling: no retry, exit 4 with the server's own words
    emu.clear_log()
    monkeypatch.setenv("AZFEEDS_API_VERSION", "7.1")
    result = run_cli(["rewrite"], cwd=Path(shutil.copytree(template, tmp_path / "too-new")))
    assert result.code == 4, result.output
    assert "is out of range for this server" in result.stderr
    assert len(api_log(emu)) == 2  # one per organization, no negotiation
    assert (tmp_path / "too-new" / "pyproject.toml").read_bytes() == (
        template / "pyproject.toml"
    ).read_bytes()

    # Services too: the pin is sent as given
    for org in ORGS:
        set_release(emu, org, SERVICES)
    emu.clear_log()
    monkeypatch.setenv("AZFEEDS_API_VERSION", "7.0")
    run_ok(["map", "--json"], template)
    assert {r["api_version"] for r in api_log(emu)} == {"7.0"}


@pytest.mark.parametrize("value", ["latest", "7", "7.1-beta", "v7.1", "7.1-preview.x"])
def test_garbage_api_version_is_a_usage_error(tmp_path: Path, value: str) -> None:
    for command in (["map", "--org", "orgA"], ["rewrite"], ["doctor"]):
        result = run_cli([*command, "--api-version", value], cwd=tmp_path)
        assert result.code == 2, (command, result.output)
        assert "--api-version" in result.stderr and "Traceback" not in result.output


# -- a feed the credential cannot read ---------------------------------------------------------


def test_feed_missing_from_the_list_names_org_and_credential_source(
    emu: Emulator, tmp_path: Path
) -> None:
    set_release(emu, "orgA", "2020.1")
    project = tmp_path / "p"
    project.mkdir()
    original = (
        '[[tool.uv.index]]\nname = "orga"\n'
        f'url = "{emu.root_url}/orgA/ProjectX/_packaging/hidden/pypi/simple/"\n'
    )
    (project / "pyproject.toml").write_text(original)
    result = run_cli(["rewrite"], cwd=project)
    assert result.code == 5, result.output
    assert "feed 'hidden' of organization 'orgA': not found, or this credential cannot read it" in (
        result.stderr
    )
    assert "UV_INDEX_ORGA_PASSWORD" in result.stderr
    assert (project / "pyproject.toml").read_text() == original


def test_negotiation_is_logged_without_secrets(emu: Emulator, tmp_path: Path) -> None:
    for org in ORGS:
        set_release(emu, org, "2019.1")
    project = write_project(tmp_path / "p", emu.root_url)
    result = run_ok(["map", "--debug", "--verbose"], project)
    refused = version_refusals(api_log(emu))
    assert refused, "the emulator refused no version"
    assert f"refused api-version {refused[0]['api_version']}; asking" in result.stderr
