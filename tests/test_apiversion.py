"""API version negotiation and the older list shapes, at the FeedsApi seam (DESIGN.md section 7).

The server side of every test here is the emulator's own code and data: its release table
(``SERVER_RELEASES``) and its 400 texts (``check_api_version``), and fixtures written in the
shapes of real captured answers (tests/fixtures/api/). Nothing is taken from azfeeds' own tables.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from azfeeds.apiversion import (
    MAX_EXTRA_REQUESTS,
    ApiVersionError,
    VersionBook,
    VersionRefused,
    check_version,
    classify,
)
from azfeeds.client import Answer, Credential
from azfeeds.engine import OrgRequest
from azfeeds.errors import ApiError, AuthError
from azfeeds.resolve import LiveSettings, fetch_all, org_request_from_option
from azfeeds.table import dump_map, load_map, table_from_orgs

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "api"
COLLECTION = "https://tfs.contoso.test/tfs/Fabrikam"


def _emulator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "azfeeds_emulator", ROOT / "scripts" / "emulator.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["azfeeds_emulator"] = module
    spec.loader.exec_module(module)
    return module


emulator = _emulator()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def server_answer(release: Any, version: str, route: str = "feeds") -> tuple[int, dict[str, Any]]:
    """What the emulator's ``release`` answers a request for ``version``: (status, error body)."""
    req = emulator.Request("GET", "/x", f"api-version={version}", {"api-version": version}, {}, b"")
    try:
        emulator.check_api_version(req, False, release, route)
    except emulator.HttpError as error:
        return error.response.status, json.loads(error.response.body)
    return 200, {}


def refusal_of(body: dict[str, Any]) -> VersionRefused:
    refusal = classify(body.get("typeKey"), body["message"])
    assert refusal is not None, body
    return VersionRefused(f"unexpected answer HTTP 400: {body['message']}", refusal)


class Server:
    """A send() for VersionBook that answers as one emulated release, counting requests."""

    def __init__(self, release: Any) -> None:
        self.release = release
        self.asked: list[str] = []

    def send(self, version: str) -> str:
        self.asked.append(version)
        status, body = server_answer(self.release, version)
        if status != 200:
            raise refusal_of(body)
        return "ok"


# -- the version ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(emulator.SERVER_RELEASES))
def test_negotiation_against_every_release(name: str) -> None:
    release = emulator.SERVER_RELEASES[name]
    server = Server(release)
    book = VersionBook()
    result, version = book.call("https://tfs.contoso.test/tfs", server.send)
    assert result == "ok"
    assert server_answer(release, version)[0] == 200  # the emulator takes it
    assert len(server.asked) - 1 == book.extra_requests("https://tfs.contoso.test/tfs")
    assert len(server.asked) - 1 <= MAX_EXTRA_REQUESTS
    # the next organization (and the views) on that server ask right the first time
    again = Server(release)
    assert book.call("https://tfs.contoso.test/tfs", again.send) == ("ok", version)
    assert again.asked == [version]


def test_two_extra_requests_when_the_ceiling_itself_is_preview_only() -> None:
    # a release whose feeds routes are preview even at its ceiling: out-of-range, then preview
    odd = emulator.ServerRelease("odd", (7, 0), ga_from=(7, 1))
    server = Server(odd)
    _, version = VersionBook().call("https://odd.test", server.send)
    assert len(server.asked) == 1 + MAX_EXTRA_REQUESTS
    assert server_answer(odd, version)[0] == 200


def test_an_answer_that_names_no_version_stops_with_the_servers_message() -> None:
    body = {
        "typeKey": "VssVersionOutOfRangeException",
        "message": "The requested REST API version of 7.1 is out of range for this server.",
    }

    def send(version: str) -> str:
        raise refusal_of(body)

    with pytest.raises(ApiError, match="is out of range for this server") as caught:
        VersionBook().call("https://x.test", send)
    assert caught.value.exit_code == 4


def test_a_pinned_version_is_sent_once_as_given() -> None:
    server = Server(emulator.SERVER_RELEASES["2019.1"])
    with pytest.raises(VersionRefused, match="out of range"):
        VersionBook("7.1").call("https://x.test", server.send)
    assert server.asked == ["7.1"]


def _together(book: VersionBook, send: Any, threads: int) -> None:
    """``threads`` requests to one server through ``book``, each in its own thread."""
    workers = [
        threading.Thread(target=book.call, args=("https://s.test", send)) for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def test_parallel_organizations_of_one_server_negotiate_once() -> None:
    server = Server(emulator.SERVER_RELEASES["2020.1"])
    book = VersionBook()
    lock = threading.Lock()

    def send(version: str) -> str:
        with lock:
            return server.send(version)

    _together(book, send, 8)
    refused = [v for v in server.asked if server_answer(server.release, v)[0] != 200]
    assert len(refused) == book.extra_requests("https://s.test") <= MAX_EXTRA_REQUESTS


def _ask_at_once(book: VersionBook, threads: int, alone: int) -> list[str]:
    """``threads`` requests to one server: the first ``alone`` are answered at once, and every
    later one must be in flight with all the others (a barrier), else it fails."""
    barrier = threading.Barrier(threads - alone, timeout=10)
    lock = threading.Lock()
    asked: list[str] = []
    outcomes: list[object] = []

    def send(version: str) -> str:
        with lock:
            asked.append(version)
            turn = len(asked)
        if turn > alone:
            barrier.wait()
        else:
            time.sleep(0.3)  # the others reach the server's lock meanwhile (the old bug's case)
        return version

    def one() -> None:
        try:
            outcomes.append(book.call("https://s.test", send))
        except Exception as exc:  # recorded: the test shows it
            outcomes.append(exc)

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert outcomes == [("7.1", "7.1")] * threads
    return asked


def test_after_the_first_answer_a_servers_organizations_ask_in_parallel() -> None:
    # the first request asks alone (it may negotiate); the others wait for its answer, then go
    # out together: 8 collections cost two round trips, not eight
    assert _ask_at_once(VersionBook(), threads=8, alone=1) == ["7.1"] * 8


def test_services_organizations_ask_in_parallel_from_the_first() -> None:
    book = VersionBook()
    book.assume("https://s.test", "7.1")  # what resolve does for Services
    assert _ask_at_once(book, threads=8, alone=0) == ["7.1"] * 8


def test_a_refusal_learned_by_one_request_serves_the_others_without_extra() -> None:
    server = Server(emulator.SERVER_RELEASES["2022"])  # takes 7.0: one step down
    book = VersionBook()
    book.assume("https://s.test", "7.1")  # taken for 7.1, but this server refuses it
    barrier = threading.Barrier(4, timeout=10)

    def send(version: str) -> str:
        if version == "7.1":
            barrier.wait()  # the four refusals arrive together
        return server.send(version)

    _together(book, send, 4)
    assert book.extra_requests("https://s.test") == 1
    assert book.known("https://s.test") == server.asked[-1] != "7.1"


@pytest.mark.parametrize("value", ["7.1", "7.0", "6.0-preview.1", "5.1-preview", "7.2-preview.1"])
def test_valid_versions(value: str) -> None:
    assert check_version(value) == value


@pytest.mark.parametrize("value", ["", "7", "latest", "7.1-beta", "v7.1", "7.1.0", "7.1 -preview"])
def test_invalid_versions(value: str) -> None:
    with pytest.raises(ApiVersionError):
        check_version(value)


def test_the_other_wording_of_the_ceiling_is_read_too() -> None:
    # a wording of the same refusal seen in public issue threads
    text = (
        'The requested REST API version of "6.1" is out of the valid range for this server. '
        "The latest REST API version supported by this server is 5.1"
    )
    refusal = classify(None, text)
    assert refusal is not None and refusal.ceiling == (5, 1)


# -- older and partial list shapes ------------------------------------------------------------


class FakeApi:
    """The FeedsApi seam: answers from the fixture files by route."""

    def __init__(self, feeds: str, views: str = "views-without-local.json") -> None:
        self.feeds, self.views = fixture(feeds), fixture(views)
        self.projects: Any = fixture("projects-collection.json")
        self.urls: list[str] = []

    def get_json(self, url: str, credential: Credential | None, *, what: str) -> Answer:
        self.urls.append(url)
        path = urllib.parse.urlsplit(url).path.lower()
        if path.endswith("/_apis/projects"):
            if isinstance(self.projects, Exception):
                raise self.projects
            return Answer(200, self.projects, {}, 1.0)
        body = self.views if path.endswith("/views") else self.feeds
        return Answer(200, body, {}, 1.0)

    def probe(self, url: str, credential: Credential | None) -> tuple[int | None, float, str]:
        raise AssertionError("not used")

    def discover_tenant(self, url: str) -> str | None:
        return None


class FakeBroker:
    def credential_for(self, target: Any) -> Credential:
        return Credential("--pat-file", "basic", "canary-unit-pat")

    def refreshed(self, credential: Credential) -> None:
        return None


def fetch(api: FakeApi, request: OrgRequest, **settings: Any) -> tuple[Any, list[str]]:
    notes: list[str] = []
    results = fetch_all([request], LiveSettings(**settings), api, FakeBroker(), notes=notes)  # type: ignore[arg-type]
    ((_, org),) = results
    if isinstance(org, Exception):
        raise org
    return org, notes


def test_collection_list_of_tfs_2017_shape() -> None:
    org, notes = fetch(FakeApi("feeds-collection-2017.json"), org_request_from_option(COLLECTION))
    (feed,) = org.feeds
    body = fixture("feeds-collection-2017.json")["value"][0]
    assert (feed.id, feed.name, feed.project, feed.views) == (body["id"], body["name"], None, None)
    assert notes == []


def test_project_uuid_from_the_url_and_name_from_the_users_url() -> None:
    data = fixture("feeds-without-project-key.json")["value"]
    project_id = data[0]["url"].split("/")[-5]
    base = org_request_from_option(COLLECTION)
    request = OrgRequest(
        base.key,
        base.name,
        base.url,
        frozenset({"python-internal"}),
        projects=frozenset({("python-internal", "Data Platform")}),
    )
    api = FakeApi("feeds-without-project-key.json")
    org, notes = fetch(api, request)
    by_name = {f.name: f for f in org.feeds}
    # a list without 'project' keys: the project UUID comes from each feed's url
    assert by_name["python-internal"].project.id == project_id
    assert by_name["ml-models"].project.id == project_id
    assert by_name["Shared.Tools"].project is None
    assert by_name["Shared.Tools"].id == data[1]["id"].lower()
    # the name comes from the user's URL, for every feed of that project; no projects API request
    assert {f.project.name for f in org.feeds if f.project} == {"Data Platform"}
    assert not [u for u in api.urls if "/_apis/projects" in u]
    # a views list without Local and visibility
    views = fixture("views-without-local.json")["value"]
    assert {(v.id, v.name) for v in by_name["python-internal"].views} == {
        (v["id"], v["name"]) for v in views
    }
    assert notes == []


def test_projects_api_names_what_no_url_names_once() -> None:
    api = FakeApi("feeds-without-project-key.json")
    org, notes = fetch(api, org_request_from_option(COLLECTION), name_projects=True)
    projects = fixture("projects-collection.json")["value"]
    assert {f.project.name for f in org.feeds if f.project} == {projects[0]["name"]}
    assert len([u for u in api.urls if "/_apis/projects" in u]) == 1
    assert notes == []


def test_projects_api_refused_lists_the_project_by_uuid_with_a_note() -> None:
    api = FakeApi("feeds-without-project-key.json")
    api.projects = AuthError("collection 'Fabrikam', projects: access denied (HTTP 403)")
    org, notes = fetch(api, org_request_from_option(COLLECTION), name_projects=True)
    ids = {f.project.id for f in org.feeds if f.project}
    assert {f.project.name for f in org.feeds if f.project} == ids
    assert len(notes) == 1 and "Project (Read)" in notes[0] and "Fabrikam" in notes[0]


# -- the map file's api_version -----------------------------------------------------------------


def test_map_file_records_the_api_version_and_old_maps_still_load(tmp_path: Path) -> None:
    org, _ = fetch(FakeApi("feeds-collection-2017.json"), org_request_from_option(COLLECTION))
    assert org.api_version == "7.1"  # the fake server takes the first version asked
    saved = tmp_path / "map.json"
    saved.write_text(dump_map(table_from_orgs([org])))
    assert json.loads(saved.read_text())["organizations"][0]["api_version"] == "7.1"
    assert load_map(saved).sorted_orgs()[0].api_version == "7.1"
    doc = json.loads(saved.read_text())
    del doc["organizations"][0]["api_version"]
    saved.write_text(json.dumps(doc))
    assert load_map(saved).sorted_orgs()[0].api_version is None
    doc["organizations"][0]["api_version"] = "seven"
    saved.write_text(json.dumps(doc))
    with pytest.raises(Exception, match=r"organizations\[0\]\.api_version"):
        load_map(saved)
