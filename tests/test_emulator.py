"""Tests of the Azure DevOps emulator itself, run as a real process over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import html
import http.client
import io
import json
import re
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_client import (
    EMULATOR_SCRIPT,
    Emulator,
    EmulatorError,
    HttpResult,
    emulator_factory,
    http_request,
    sample_config,
)
from fake_entra import make_tls_files

__all__ = ["emulator_factory"]  # the fixture, imported for pytest

Factory = Callable[..., Emulator]

A = ("", "pat-a")
B = ("", "pat-b")
SUPPRESS = {"X-TFS-FedAuthRedirect": "Suppress"}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
LOG_FIELDS = {
    "ts",
    "method",
    "path",
    "query",
    "org",
    "route",
    "status",
    "auth",
    "credential",
    "fault",
    "server",
    "api_version",
    "duration_ms",
    "user_agent",
}


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One shared emulator with the sample config, for tests that change no state."""
    with Emulator.start(sample_config(), tmp_path_factory.mktemp("shared")) as emulator:
        yield emulator


def api(
    emu: Emulator,
    path: str,
    *,
    auth: tuple[str, str] | None = A,
    version: str | None = "7.1",
    headers: dict[str, str] | None = None,
) -> HttpResult:
    url = f"{emu.url}/{path.lstrip('/')}"
    if version:
        url += ("&" if "?" in url else "?") + f"api-version={version}"
    return http_request("GET", url, auth=auth, headers=headers)


def links(page: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', page)]


def anchors(page: str) -> list[str]:
    return re.findall(r"<a [^>]*>[^<]*</a>", page)


# --------------------------------------------------------------------------------------------
# Process contract


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT cannot be sent to a process on Windows")
def test_startup_line_literal_config_and_stderr_log() -> None:
    config = json.dumps(sample_config())
    process = subprocess.Popen(
        [sys.executable, str(EMULATOR_SCRIPT), "--port", "0", "--config", config],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        info = json.loads(line)
        assert set(info) == {"port", "url"}
        assert isinstance(info["port"], int) and info["port"] > 0
        assert info["url"] == f"http://127.0.0.1:{info['port']}"
        result = http_request("GET", f"{info['url']}/orgA/_apis/packaging/feeds", auth=A)
        assert result.status == 200
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=5)
    assert process.returncode == 0
    assert out == b""
    records = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
    assert [r["route"] for r in records] == ["feeds"]


def test_shutdown_endpoint_answers_then_exits_zero() -> None:
    """The portable stop: POST /_emulator/shutdown answers 200, then the process exits 0."""
    process = subprocess.Popen(
        [
            sys.executable,
            str(EMULATOR_SCRIPT),
            "--port",
            "0",
            "--config",
            json.dumps(sample_config()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        url = json.loads(process.stdout.readline().decode())["url"]
        assert http_request("GET", f"{url}/orgA/_apis/packaging/feeds", auth=A).status == 200
        answer = http_request("POST", f"{url}/_emulator/shutdown")
        assert answer.status == 200 and answer.json() == {"ok": True}
        out, err = process.communicate(timeout=5)
        assert out == b""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    records = [json.loads(x) for x in err.decode().splitlines() if x.startswith("{")]
    assert [r["route"] for r in records] == ["feeds"], "the shutdown request is not logged"


def test_config_from_stdin() -> None:
    process = subprocess.Popen(
        [sys.executable, str(EMULATOR_SCRIPT), "--port", "0", "--config", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps(sample_config()).encode())
        process.stdin.close()
        info = json.loads(process.stdout.readline())
        assert http_request("GET", f"{info['url']}/_emulator/health").json() == {"ok": True}
    finally:
        process.terminate()
        process.wait(timeout=5)
        assert process.stdout is not None
        process.stdout.close()
    assert process.returncode == 0


def test_bad_config_fails_to_start(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match="unknown key"):
        Emulator.start({"organizations": [{"name": "x", "patz": []}]}, tmp_path)


def test_sigterm_stops_quickly_with_idle_keepalive_connection(emulator_factory: Factory) -> None:
    emu = emulator_factory(sample_config())
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    conn.request("GET", "/_emulator/health")
    assert conn.getresponse().read() == b'{"ok":true}'
    started = time.monotonic()
    assert emu.stop() == 0
    assert time.monotonic() - started < 2.0
    conn.close()


def test_keepalive_across_statuses(emu: Emulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        for path, auth, status in [
            ("/orgA/_apis/packaging/feeds?api-version=7.1", "pat-a", 200),
            ("/orgA/ProjectX/_packaging/feedx/pypi/simple/", None, 401),
            ("/orgA/ProjectX/_packaging/feedx/pypi/simple/alpha/", "pat-a", 200),
            ("/orgA/_apis/packaging/feeds/nope?api-version=7.1", "pat-a", 404),
        ]:
            headers = {"Authorization": f"Basic {_b64(':' + auth)}"} if auth else {}
            for method in ("GET", "HEAD"):
                conn.request(method, path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                assert response.status == status
                if method == "HEAD":
                    assert body == b""
                else:
                    assert len(body) == int(response.headers["Content-Length"])
    finally:
        conn.close()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# --------------------------------------------------------------------------------------------
# Feeds API


def test_org_level_feed_list(emu: Emulator) -> None:
    result = api(emu, "orgA/_apis/packaging/feeds")
    assert result.status == 200
    assert result.header("Content-Type") == "application/json; charset=utf-8"
    for name in ("ActivityId", "X-TFS-Session", "X-VSS-E2EID", "X-TFS-ProcessId"):
        assert result.header(name)
    data = result.json()
    assert data["count"] == 2 == len(data["value"])
    feeds = {feed["name"]: feed for feed in data["value"]}
    feedx, shared = feeds["feedx"], feeds["shared"]
    project_id = feedx["project"]["id"]
    assert feedx["project"] == {"id": project_id, "name": "ProjectX", "visibility": "private"}
    assert "project" not in shared
    base = re.escape(f"{emu.url}/orgA")
    assert re.fullmatch(f"{base}/{project_id}/_apis/Packaging/Feeds/{feedx['id']}", feedx["url"])
    assert re.fullmatch(f"{base}/_apis/Packaging/Feeds/{UUID}", shared["url"])
    assert shared["url"].endswith(shared["id"])
    for feed in (feedx, shared):
        assert feed["_links"] == {
            "self": {"href": feed["url"]},
            "packages": {"href": feed["url"] + "/Packages"},
            "permissions": {"href": feed["url"] + "/Permissions"},
        }
        assert feed["viewId"] is None and feed["viewName"] is None
        assert feed["fullyQualifiedName"] == feed["name"]
        assert feed["fullyQualifiedId"] == feed["id"]
        assert feed["upstreamSources"] == []
        assert feed["capabilities"] == "defaultCapabilities"
        assert re.fullmatch(UUID, feed["defaultViewId"])
        assert {"description", "hideDeletedPackageVersions", "upstreamEnabled"} <= set(feed)


def test_project_level_feed_list(emu: Emulator) -> None:
    data = api(emu, "orgA/ProjectX/_apis/packaging/feeds").json()
    assert [f["name"] for f in data["value"]] == ["feedx"]
    data = api(emu, "orgB/Project%20Y/_apis/packaging/feeds", auth=B).json()
    assert [f["name"] for f in data["value"]] == ["feedy"]
    assert data["value"][0]["project"]["name"] == "Project Y"
    # Case-insensitive route words and names.
    assert api(emu, "ORGA/projectx/_APIS/Packaging/Feeds").json()["count"] == 1


def test_get_feed_by_name_and_id(emu: Emulator) -> None:
    by_name = api(emu, "orgA/ProjectX/_apis/packaging/feeds/FEEDX").json()
    assert by_name["name"] == "feedx"
    project_id = by_name["project"]["id"]
    by_id = api(emu, f"orgA/{project_id}/_apis/packaging/feeds/{by_name['id']}").json()
    assert by_id == by_name
    shared = api(emu, "orgA/_apis/packaging/feeds/shared").json()
    assert (
        api(emu, f"orgA/_apis/packaging/feeds/{shared['id'].upper()}").json()["id"]
        == (shared["id"])
    )


@pytest.mark.parametrize(
    ("path", "type_key"),
    [
        ("orgA/_apis/packaging/feeds/feedx", "FeedIdNotFoundException"),
        ("orgA/ProjectX/_apis/packaging/feeds/shared", "FeedIdNotFoundException"),
        ("orgA/ProjectX/_apis/packaging/feeds/nope", "FeedIdNotFoundException"),
        ("orgA/Nope/_apis/packaging/feeds/feedx", "ProjectDoesNotExistWithNameException"),
        ("orgA/Nope/_apis/packaging/feeds", "ProjectDoesNotExistWithNameException"),
        ("noSuchOrg/_apis/packaging/feeds", "OrganizationNotFoundException"),
    ],
)
def test_feed_lookup_errors(emu: Emulator, path: str, type_key: str) -> None:
    result = api(emu, path)
    assert result.status == 404
    body = result.json()
    assert body["typeKey"] == type_key
    assert set(body) == {
        "$id",
        "innerException",
        "message",
        "typeName",
        "typeKey",
        "errorCode",
        "eventId",
    }
    if type_key == "FeedIdNotFoundException":
        assert body["message"].endswith("doesn't exist.")


def test_feed_id_needs_its_project(emu: Emulator) -> None:
    feed_id = emu.feed_info("orgA", "feedx")["id"]
    result = api(emu, f"orgA/_apis/packaging/feeds/{feed_id}")
    assert result.status == 404
    assert result.json()["message"] == f"The feed with ID '{feed_id}' doesn't exist."


def test_views(emu: Emulator) -> None:
    feed = api(emu, "orgA/ProjectX/_apis/packaging/feeds/feedx").json()
    views = api(emu, "orgA/ProjectX/_apis/packaging/Feeds/feedx/Views").json()
    assert views["count"] == 3
    by_name = {view["name"]: view for view in views["value"]}
    assert set(by_name) == {"Local", "Prerelease", "Release"}
    assert by_name["Local"]["type"] == "implicit"
    assert by_name["Release"]["type"] == "release"
    assert by_name["Local"]["id"] == feed["defaultViewId"]
    release = by_name["Release"]
    assert release["url"] == f"{feed['url']}/Views/{release['id']}"
    assert release["_links"]["self"]["href"] == release["url"]
    assert api(emu, "orgA/ProjectX/_apis/packaging/feeds/feedx/views/release").json() == release
    one = api(emu, f"orgA/ProjectX/_apis/packaging/feeds/{feed['id']}/views/{release['id']}")
    assert one.json() == release
    missing = api(emu, "orgA/ProjectX/_apis/packaging/feeds/feedx/views/nope")
    assert missing.status == 404
    assert api(emu, "orgA/_apis/packaging/feeds/feedx/views").status == 404
    # A feed addressed through a view.
    via_view = api(emu, "orgA/ProjectX/_apis/packaging/feeds/feedx%40Release").json()
    assert via_view["viewId"] == release["id"]
    assert via_view["fullyQualifiedId"] == f"{feed['id']}@{release['id']}"
    assert via_view["fullyQualifiedName"] == "feedx@Release"


def test_projects_paging(emulator_factory: Factory) -> None:
    names = [f"P{i}" for i in range(5)]
    emu = emulator_factory(
        {
            "organizations": [
                {"name": "orgP", "pats": ["p"], "projects": [{"name": n} for n in names]}
            ]
        }
    )
    auth = ("", "p")
    seen: list[str] = []
    tokens: list[str] = []
    url = f"{emu.url}/orgP/_apis/projects?api-version=7.1&$top=2"
    result = http_request("GET", url, auth=auth)
    while True:
        assert result.status == 200
        data = result.json()
        assert data["count"] == len(data["value"])
        seen += [project["name"] for project in data["value"]]
        token = result.header("x-ms-continuationtoken")
        if token is None:
            break
        tokens.append(token)
        result = http_request("GET", f"{url}&continuationToken={token}", auth=auth)
    assert seen == names
    assert len(tokens) == 2
    everything = http_request("GET", f"{emu.url}/orgP/_apis/projects", auth=auth)
    assert everything.json()["count"] == 5
    assert everything.header("x-ms-continuationtoken") is None
    skipped = http_request("GET", f"{emu.url}/orgP/_apis/projects?$top=2&$skip=3", auth=auth)
    assert [p["name"] for p in skipped.json()["value"]] == ["P3", "P4"]
    project = http_request("GET", f"{emu.url}/orgP/_apis/projects/p2", auth=auth).json()
    assert project["name"] == "P2"
    assert project["url"] == f"{emu.url}/orgP/_apis/projects/{project['id']}"
    by_id = http_request("GET", f"{emu.url}/orgP/_apis/projects/{project['id']}", auth=auth)
    assert by_id.json() == project
    missing = http_request("GET", f"{emu.url}/orgP/_apis/projects/nope", auth=auth)
    assert missing.status == 404
    assert missing.json()["typeKey"] == "ProjectDoesNotExistWithNameException"


def test_api_versions(emu: Emulator) -> None:
    for version in ("7.1", "7.1-preview.1", "7.1-preview", "7.0", "6.0-preview.1", "7.2-preview.1"):
        assert api(emu, "orgA/_apis/packaging/feeds", version=version).status == 200, version
    header = {"Accept": "application/json;api-version=7.1-preview.1"}
    assert api(emu, "orgA/_apis/packaging/feeds", version=None, headers=header).status == 200
    preview = api(emu, "orgA/_apis/packaging/feeds", version="7.2")
    assert preview.status == 400
    assert preview.json()["typeKey"] == "VssInvalidPreviewVersionException"
    assert '"7.2-preview"' in preview.json()["message"]
    bad_header = {"Accept": "application/json; api-version=7.2"}
    assert api(emu, "orgA/_apis/packaging/feeds", version=None, headers=bad_header).status == 400
    # Without require_api_version, a GET with no version is served.
    assert api(emu, "orgA/_apis/packaging/feeds", version=None).status == 200


def test_require_api_version(emulator_factory: Factory) -> None:
    config = sample_config()
    config["require_api_version"] = True
    emu = emulator_factory(config)
    missing = api(emu, "orgA/_apis/packaging/feeds", version=None)
    assert missing.status == 400
    assert missing.json()["typeKey"] == "VssVersionNotSpecifiedException"
    assert api(emu, "orgA/_apis/packaging/feeds").status == 200
    # PyPI routes never need a version.
    assert http_request("GET", emu.index_url("orgA", "shared"), auth=A).status == 200


def test_server_generations(emulator_factory: Factory) -> None:
    config = sample_config()
    config["organizations"][0]["server"] = "2019.1"
    emu = emulator_factory(config)
    state = {o["name"]: o["server"] for o in emu.state()["organizations"]}
    assert state["orgA"]["ceiling"] == "5.1" and state["orgA"]["lists_projects"] is False
    assert state["orgB"]["release"] == "services" and state["orgB"]["lists_projects"] is True
    too_new = api(emu, "orgA/_apis/packaging/feeds", version="7.1")
    assert too_new.status == 400
    assert too_new.json()["typeKey"] == "VssVersionOutOfRangeException"
    assert too_new.json()["message"] == (
        "The requested REST API version of 7.1 is out of range for this server. "
        "The latest REST API version this server supports is 5.1."
    )
    plain = api(emu, "orgA/_apis/packaging/feeds", version="5.1")
    assert plain.status == 400
    assert plain.json()["typeKey"] == "VssInvalidPreviewVersionException"
    assert plain.json()["message"].startswith(
        'The requested version "5.1" of the resource is under'
    )
    listed = api(emu, "orgA/_apis/packaging/feeds", version="5.1-preview.1")
    assert listed.status == 200
    feedx = next(f for f in listed.json()["value"] if f["name"] == "feedx")
    assert "project" not in feedx
    assert feedx["url"].endswith(
        f"/orgA/{emu.feed_info('orgA', 'feedx')['project_id']}/_apis/Packaging/Feeds/{feedx['id']}"
    )
    # the projects API is released: a plain version is fine below 7.0
    assert api(emu, "orgA/_apis/projects", version="5.1").status == 200
    # Services refuses a plain version below 7.0 on the feeds routes too
    assert api(emu, "orgB/_apis/packaging/feeds", auth=B, version="6.0").status == 400
    assert api(emu, "orgB/_apis/packaging/feeds", auth=B, version="7.0").status == 200
    # switched at run time; the log names release and version
    emu.set_server("orgA", server="2022", legacy_views=True, projects_api="403")
    assert api(emu, "orgA/_apis/packaging/feeds", version="7.0").status == 200
    views = api(emu, "orgA/ProjectX/_apis/packaging/feeds/feedx/views", version="7.0").json()[
        "value"
    ]
    assert [v["name"] for v in views] == ["Prerelease", "Release"]
    assert all("visibility" not in v for v in views)
    assert api(emu, "orgA/_apis/projects", version="7.0").status == 403
    assert api(emu, "orgA/_apis/projects", version="7.0", auth=None).status in (203, 401)
    record = [r for r in emu.log() if r["route"] == "views"][-1]
    assert (record["server"], record["api_version"]) == ("2022", "7.0")
    with pytest.raises(EmulatorError, match="unknown server"):
        emu.set_server("orgA", server="2017")


# --------------------------------------------------------------------------------------------
# Auth


def test_auth_accepts_own_credentials(emu: Emulator) -> None:
    url = f"{emu.url}/orgA/_apis/packaging/feeds?api-version=7.1"
    for auth in [("", "pat-a"), ("anyone", "pat-a"), ("VssSessionToken", "token-a")]:
        assert http_request("GET", url, auth=auth).status == 200, auth
    assert http_request("GET", url, bearer="token-a").status == 200
    url_b = f"{emu.url}/orgB/_apis/packaging/feeds?api-version=7.1"
    assert http_request("GET", url_b, bearer="token-b").status == 200


def test_auth_rejections_with_suppress(emu: Emulator) -> None:
    url = f"{emu.url}/orgA/_apis/packaging/feeds?api-version=7.1"
    for kwargs in [
        {"auth": ("", "pat-b")},  # the other org's PAT
        {"bearer": "token-b"},
        {"bearer": "pat-a"},  # a PAT is not a bearer token
        {"auth": ("", "wrong")},
        {},
    ]:
        result = http_request("GET", url, headers=SUPPRESS, **kwargs)  # type: ignore[arg-type]
        assert result.status == 401, kwargs
        body = result.json()
        assert body["typeKey"] == "UnauthorizedRequestException"
        assert body["message"].startswith("TF400813")
        tenant = result.header("X-VSS-ResourceTenant")
        assert tenant and re.fullmatch(UUID, tenant)
        challenge = result.header("WWW-Authenticate") or ""
        assert f"Bearer authorization_uri=https://login.microsoftonline.com/{tenant}" in challenge
        assert f'Basic realm="{emu.url}/"' in challenge
        assert result.header("X-VSS-AuthorizationEndpoint") == f"{emu.url}/_vssps"
        assert result.header("X-TFS-FedAuthRealm")
        assert result.header("X-TFS-FedAuthIssuer")
        assert (result.header("X-TFS-ServiceError") or "").startswith("TF400813%3A")
        assert result.header("ActivityId")


def test_auth_rejection_without_suppress_is_203_html(emu: Emulator) -> None:
    url = f"{emu.url}/orgA/_apis/packaging/feeds?api-version=7.1"
    result = http_request("GET", url, auth=("", "pat-b"))
    assert result.status == 203
    assert (result.header("Content-Type") or "").startswith("text/html")
    assert "<html" in result.text
    with pytest.raises(ValueError):
        result.json()


def test_pypi_auth_is_always_401_challenge(emu: Emulator) -> None:
    url = emu.index_url("orgA", "feedx", "ProjectX")
    for kwargs in [{}, {"auth": ("", "pat-b")}, {"headers": SUPPRESS}]:
        result = http_request("GET", url, **kwargs)  # type: ignore[arg-type]
        assert result.status == 401
        assert f'Basic realm="{emu.url}/"' in (result.header("WWW-Authenticate") or "")
    assert http_request("GET", url, auth=A).status == 200


def test_session_header_echoed(emu: Emulator) -> None:
    session = "0f0e0d0c-0b0a-0908-0706-050403020100"
    result = api(emu, "orgA/_apis/packaging/feeds", headers={"X-TFS-Session": session})
    assert result.header("X-TFS-Session") == session


def test_anonymous_org(emulator_factory: Factory) -> None:
    emu = emulator_factory(
        {
            "organizations": [
                {
                    "name": "pub",
                    "anonymous": True,
                    "pats": ["p"],
                    "feeds": [{"name": "f", "packages": [{"name": "x", "version": "1"}]}],
                }
            ]
        }
    )
    assert http_request("GET", emu.index_url("pub", "f")).status == 200
    assert http_request("GET", f"{emu.url}/pub/_apis/packaging/feeds").status == 200
    bad = http_request("GET", emu.index_url("pub", "f"), auth=("", "bad"))
    assert bad.status == 401


# --------------------------------------------------------------------------------------------
# PyPI


def test_simple_index_and_project_pages(emu: Emulator) -> None:
    feedx = emu.feed_info("orgA", "feedx")
    index = http_request("GET", emu.index_url("orgA", "feedx", "ProjectX"), auth=A)
    assert index.status == 200
    assert (index.header("Content-Type") or "").startswith("text/html")
    assert links(index.text) == ["alpha/", "beta/"]
    page = http_request("GET", emu.index_url("orgA", "feedx", "ProjectX") + "alpha/", auth=A)
    hrefs = links(page.text)
    prefix = f"{emu.url}/orgA/{feedx['project_id']}/_packaging/{feedx['id']}/pypi/download/alpha/"
    assert hrefs == [
        f"{prefix}1/alpha-1.0.0-py3-none-any.whl#sha256=" + _sha(feedx, "alpha", "1.0.0"),
        f"{prefix}1.1/alpha-1.1.0-py3-none-any.whl#sha256=" + _sha(feedx, "alpha", "1.1.0"),
    ]
    assert all('data-requires-python="&gt;=3.8"' in a for a in anchors(page.text))
    for href in hrefs:
        url, _, digest = href.partition("#sha256=")
        download = http_request("GET", url, auth=A)
        assert download.status == 200
        assert download.header("Content-Type") == "application/octet-stream"
        assert int(download.header("Content-Length") or 0) == len(download.body)
        assert hashlib.sha256(download.body).hexdigest() == digest
        head = http_request("HEAD", url, auth=A)
        assert head.status == 200 and head.body == b""
        assert int(head.header("Content-Length") or 0) == len(download.body)
    # Same page at the UUID-form path, and any PEP 503 spelling, with or without a slash.
    uuid_page = http_request("GET", emu.uuid_index_url("orgA", "feedx") + "ALPHA", auth=A)
    assert links(uuid_page.text) == hrefs
    beta = http_request("GET", emu.index_url("orgA", "feedx", "ProjectX") + "Beta/", auth=A)
    assert "/pypi/download/beta/1.2/beta-1.2.0-py3-none-any.whl#sha256=" in beta.text


def _sha(feed: dict[str, Any], name: str, version: str) -> str:
    for package in feed["packages"]:
        if package["name"] == name and package["version"] == version:
            return str(package["sha256"])
    raise AssertionError((name, version))


def test_simple_views_and_scopes(emu: Emulator) -> None:
    feedx = emu.feed_info("orgA", "feedx")
    release = next(v["id"] for v in feedx["views"] if v["name"] == "Release")
    url = emu.index_url("orgA", "feedx", "ProjectX").replace("feedx", "feedx%40Release")
    page = http_request("GET", url + "alpha/", auth=A)
    hrefs = links(page.text)
    assert len(hrefs) == 1 and "alpha-1.0.0" in hrefs[0]
    assert f"/_packaging/{feedx['id']}@{release}/pypi/download/alpha/1/" in hrefs[0]
    assert http_request("GET", hrefs[0].split("#")[0], auth=A).status == 200
    prerelease = http_request(
        "GET", emu.index_url("orgA", "feedx", "ProjectX", view="Prerelease") + "alpha/", auth=A
    )
    assert len(links(prerelease.text)) == 2
    # UUID-form view segment.
    by_uuid = http_request("GET", emu.uuid_index_url("orgA", "feedx", "Release") + "alpha/", auth=A)
    assert links(by_uuid.text) == hrefs
    # Org-scoped feed: no project segment, in the path or in the links.
    shared = emu.feed_info("orgA", "shared")
    gamma = http_request("GET", emu.index_url("orgA", "shared") + "gamma/", auth=A)
    assert links(gamma.text)[0].startswith(f"{emu.url}/orgA/_packaging/{shared['id']}/pypi/")
    assert http_request("GET", emu.index_url("orgA", "shared", "ProjectX"), auth=A).status == 404
    # Project-scoped feed needs its project.
    assert http_request("GET", emu.index_url("orgA", "feedx"), auth=A).status == 404
    # A project name with a space.
    feedy = emu.feed_info("orgB", "feedy")
    delta = http_request("GET", emu.index_url("orgB", "feedy", "Project Y") + "delta/", auth=B)
    assert "%20" in emu.index_url("orgB", "feedy", "Project Y")
    assert links(delta.text)[0].startswith(
        f"{emu.url}/orgB/{feedy['project_id']}/_packaging/{feedy['id']}/pypi/download/delta/2/"
    )
    zeta = http_request("GET", emu.index_url("orgB", "feedy", "Project Y") + "Zeta_Tools/", auth=B)
    assert "zeta_tools-0.3.0-py3-none-any.whl" in zeta.text
    # Unknown package, unknown view, wrong org's credentials.
    assert http_request("GET", emu.index_url("orgA", "shared") + "nope/", auth=A).status == 404
    url = emu.index_url("orgA", "feedx", "ProjectX", view="Nope")
    assert http_request("GET", url, auth=A).status == 404
    assert http_request("GET", emu.index_url("orgB", "feedy", "Project Y"), auth=A).status == 401


def test_pep691_request_still_gets_html(emu: Emulator) -> None:
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    result = http_request("GET", emu.index_url("orgA", "shared") + "gamma/", auth=A, headers=accept)
    assert result.status == 200
    assert (result.header("Content-Type") or "").startswith("text/html")


def test_pep658_metadata(emulator_factory: Factory) -> None:
    config = sample_config()
    config["pep658"] = True
    emu = emulator_factory(config)
    page = http_request("GET", emu.index_url("orgA", "feedx", "ProjectX") + "alpha/", auth=A)
    anchor = anchors(page.text)[0]
    match = re.search(r'data-core-metadata="sha256=([0-9a-f]{64})"', anchor)
    assert match
    assert f'data-dist-info-metadata="sha256={match.group(1)}"' in anchor
    url = links(anchor)[0].split("#")[0]
    metadata = http_request("GET", url + ".metadata", auth=A)
    assert metadata.status == 200
    assert hashlib.sha256(metadata.body).hexdigest() == match.group(1)
    assert b"Requires-Dist: beta>=1" in metadata.body
    wheel = zipfile.ZipFile(io.BytesIO(http_request("GET", url, auth=A).body))
    assert wheel.read("alpha-1.0.0.dist-info/METADATA") == metadata.body
    # Without pep658 there is no metadata file.
    plain = emulator_factory(sample_config())
    assert http_request("GET", url.replace(emu.url, plain.url) + ".metadata", auth=A).status == 404


def test_wheels_are_deterministic_and_valid(emu: Emulator, emulator_factory: Factory) -> None:
    other = emulator_factory(sample_config())
    for org, feed, project, auth, name in [
        ("orgA", "feedx", "ProjectX", A, "alpha"),
        ("orgB", "feedy", "Project Y", B, "zeta-tools"),
    ]:
        bodies = []
        for server in (emu, other):
            page = http_request("GET", server.index_url(org, feed, project) + f"{name}/", auth=auth)
            url = links(page.text)[-1].split("#")[0]
            bodies.append(http_request("GET", url, auth=auth).body)
        assert bodies[0] == bodies[1]
        _check_wheel(bodies[0], emu.feed_info(org, feed))


def _check_wheel(data: bytes, feed: dict[str, Any]) -> None:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == sorted(names)
    record_name = next(n for n in names if n.endswith(".dist-info/RECORD"))
    dist_info = record_name.rsplit("/", 1)[0]
    for info in archive.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert (info.external_attr >> 16) & 0o777 == 0o644
    rows = [line.split(",") for line in archive.read(record_name).decode().splitlines()]
    assert sorted(row[0] for row in rows) == sorted(names)
    for path, digest, size in rows:
        if path == record_name:
            assert digest == size == ""
            continue
        content = archive.read(path)
        expected = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=")
        assert digest == f"sha256={expected.decode()}"
        assert int(size) == len(content)
    wheel_text = archive.read(f"{dist_info}/WHEEL").decode()
    assert "Root-Is-Purelib: true" in wheel_text and "Tag: py3-none-any" in wheel_text
    metadata = archive.read(f"{dist_info}/METADATA").decode()
    assert metadata.startswith("Metadata-Version: 2.1\nName: ")
    package = dist_info.split("-")[0]
    init = archive.read(f"{package}/__init__.py").decode()
    assert f'FEED = "{feed["name"]}"' in init
    assert f'FEED_ID = "{feed["id"]}"' in init


# --------------------------------------------------------------------------------------------
# Faults


def test_fault_429_and_times(emulator_factory: Factory) -> None:
    emu = emulator_factory(sample_config())
    emu.set_faults("orgA", [{"kind": 429, "times": 2, "retry_after": 3}])
    for _ in range(2):
        result = api(emu, "orgA/_apis/packaging/feeds")
        assert result.status == 429
        assert result.header("Retry-After") == "3"
        assert result.header("X-RateLimit-Remaining") == "0"
        for name in ("X-RateLimit-Resource", "X-RateLimit-Delay", "X-RateLimit-Limit"):
            assert result.header(name)
        assert int(result.header("X-RateLimit-Reset") or 0) >= int(time.time())
        assert "TF400733" in result.json()["message"]
    assert api(emu, "orgA/_apis/packaging/feeds").status == 200
    assert api(emu, "orgB/_apis/packaging/feeds", auth=B).status == 200
    assert [r["fault"] for r in emu.log() if r["route"] == "feeds"] == ["429", "429", None, None]
    assert emu.count(route="feeds", status=429) == 2
    # Scope: "api" faults leave PyPI alone, "pypi" faults leave the API alone.
    emu.set_faults("orgA", [{"kind": "500", "times": None}])
    assert http_request("GET", emu.index_url("orgA", "shared"), auth=A).status == 200
    assert api(emu, "orgA/_apis/projects").status == 500
    emu.set_faults("orgA", [{"kind": "503", "times": 1, "scope": "pypi"}])
    assert api(emu, "orgA/_apis/packaging/feeds").status == 200
    assert http_request("GET", emu.index_url("orgA", "shared"), auth=A).status == 503
    assert http_request("GET", emu.index_url("orgA", "shared"), auth=A).status == 200
    # Control requests are never faulted.
    emu.set_faults("orgA", [{"kind": "500", "times": None, "scope": "all"}])
    assert emu.health()
    assert emu.state()["organizations"][0]["faults"][0]["kind"] == "500"


@pytest.mark.parametrize(
    ("kind", "status", "content_type"),
    [
        ("500", 500, "application/json"),
        ("503", 503, "application/json"),
        ("401", 401, "application/json"),
        ("403", 403, "application/json"),
        ("203", 203, "text/html"),
        ("nonjson", 200, "text/html"),
    ],
)
def test_simple_fault_kinds(emu: Emulator, kind: str, status: int, content_type: str) -> None:
    emu.set_faults("orgA", [{"kind": kind, "times": 1}])
    try:
        result = api(emu, "orgA/_apis/packaging/feeds")
    finally:
        emu.set_faults("orgA", [])
    assert result.status == status
    assert (result.header("Content-Type") or "").startswith(content_type)
    if kind == "403":
        assert "ReadPackages" in result.json()["message"]
    if kind == "401":
        assert result.header("WWW-Authenticate")
    if kind == "nonjson":
        with pytest.raises(ValueError):
            result.json()


def test_fault_latency(emulator_factory: Factory) -> None:
    emu = emulator_factory(sample_config())
    emu.set_faults("orgA", [{"kind": "latency", "latency_ms": 300, "times": 1}])
    started = time.monotonic()
    assert api(emu, "orgA/_apis/packaging/feeds").status == 200
    assert time.monotonic() - started >= 0.3
    emu.set_latency("orgB", 200)
    started = time.monotonic()
    assert http_request("GET", emu.index_url("orgB", "feedy", "Project Y"), auth=B).status == 200
    assert time.monotonic() - started >= 0.2
    emu.set_latency("orgB", 0)
    assert [r["fault"] for r in emu.log() if r["route"] == "feeds"] == ["latency"]


def test_fault_truncated(emulator_factory: Factory) -> None:
    emu = emulator_factory(sample_config())
    full = api(emu, "orgA/_apis/packaging/feeds").body
    emu.set_faults("orgA", [{"kind": "truncated", "times": 1}])
    result = api(emu, "orgA/_apis/packaging/feeds")
    assert result.status == 200
    assert int(result.header("Content-Length") or 0) == len(result.body) == len(full) // 2
    assert full.startswith(result.body)
    with pytest.raises(ValueError):
        result.json()


@pytest.mark.parametrize("reset", [True, False])
def test_fault_drop(emulator_factory: Factory, reset: bool) -> None:
    emu = emulator_factory(sample_config())
    emu.set_faults("orgA", [{"kind": "drop", "times": 2, "reset": reset}])
    path = "/orgA/_apis/packaging/feeds?api-version=7.1"
    headers = {"Authorization": f"Basic {_b64(':pat-a')}"}
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        with pytest.raises((http.client.HTTPException, OSError)):
            conn.request("GET", path, headers=headers)
            conn.getresponse().read()
    finally:
        conn.close()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(f"{emu.root_url}{path}", headers=headers)
    with pytest.raises((http.client.HTTPException, OSError)):
        opener.open(request, timeout=5).read()
    with opener.open(request, timeout=5) as response:
        assert json.loads(response.read())["count"] == 2
    faults = [r["fault"] for r in emu.log() if r["route"] == "feeds"]
    assert faults == ["drop", "drop", None]


# --------------------------------------------------------------------------------------------
# Control API: recreate, rename, delete, publish


def test_recreate_feed(emulator_factory: Factory) -> None:
    emu = emulator_factory(sample_config())
    old = emu.feed_info("orgA", "feedx")
    old_uuid_index = emu.uuid_index_url("orgA", "feedx")
    old_page = http_request("GET", old_uuid_index + "beta/", auth=A)
    old_download = links(old_page.text)[0].split("#")[0]
    new = emu.recreate_feed("orgA", "feedx")
    assert new["name"] == "feedx" and new["id"] != old["id"]
    assert new["project"]["id"] == old["project_id"]
    info = emu.feed_info("orgA", "feedx")
    assert info["generation"] == 1
    assert {v["id"] for v in info["views"]}.isdisjoint({v["id"] for v in old["views"]})
    # The old UUID is gone everywhere.
    assert http_request("GET", old_uuid_index, auth=A).status == 404
    assert http_request("GET", old_download, auth=A).status == 404
    gone = api(emu, f"orgA/ProjectX/_apis/packaging/feeds/{old['id']}")
    assert gone.status == 404 and gone.json()["typeKey"] == "FeedIdNotFoundException"
    # The name resolves to the new feed, whose wheels embed the new id.
    page = http_request("GET", emu.index_url("orgA", "feedx", "ProjectX") + "beta/", auth=A)
    url = links(page.text)[0].split("#")[0]
    assert new["id"] in url
    wheel = zipfile.ZipFile(io.BytesIO(http_request("GET", url, auth=A).body))
    assert f'FEED_ID = "{new["id"]}"' in wheel.read("beta/__init__.py").decode()
    assert emu.recreate_feed("orgA", "feedx")["id"] not in (old["id"], new["id"])


def test_rename_delete_publish(emulator_factory: Factory) -> None:
    emu = emulator_factory(sample_config())
    feed_id = emu.feed_info("orgA", "shared")["id"]
    renamed = emu.rename_feed("orgA", "shared", "common")
    assert renamed["id"] == feed_id and renamed["name"] == "common"
    assert api(emu, "orgA/_apis/packaging/feeds/shared").status == 404
    assert api(emu, "orgA/_apis/packaging/feeds/common").json()["id"] == feed_id
    assert http_request("GET", emu.index_url("orgA", "common"), auth=A).status == 200

    project = emu.rename_project("orgA", "ProjectX", "ProjectZ")
    assert project["name"] == "ProjectZ"
    feed = api(emu, "orgA/ProjectZ/_apis/packaging/feeds/feedx").json()
    assert feed["project"] == {"id": project["id"], "name": "ProjectZ", "visibility": "private"}
    assert api(emu, "orgA/ProjectX/_apis/packaging/feeds/feedx").status == 404

    published = emu.publish("orgA", "common", {"name": "gamma", "version": "0.2.0"})
    assert published["filename"] == "gamma-0.2.0-py3-none-any.whl"
    page = http_request("GET", emu.index_url("orgA", "common") + "gamma/", auth=A)
    assert "gamma-0.2.0-py3-none-any.whl" in page.text
    with pytest.raises(EmulatorError, match="409"):
        emu.publish("orgA", "common", {"name": "gamma", "version": "0.2.0"})

    emu.delete_feed("orgA", "common")
    assert api(emu, f"orgA/_apis/packaging/feeds/{feed_id}").status == 404
    assert http_request("GET", emu.index_url("orgA", "common"), auth=A).status == 404
    assert api(emu, "orgA/_apis/packaging/feeds").json()["count"] == 1
    with pytest.raises(EmulatorError, match="404"):
        emu.delete_feed("orgA", "common")
    # A feed created again under a deleted name gets a fresh id.
    again = emu.create_feed("orgA", {"name": "common"})
    assert again["id"] != feed_id


def test_prefix(emulator_factory: Factory) -> None:
    config = sample_config()
    config["prefix"] = "tfs"
    emu = emulator_factory(config)
    assert emu.url == f"{emu.root_url}/tfs"
    feeds = api(emu, "orgA/_apis/packaging/feeds").json()
    assert all(f["url"].startswith(f"{emu.root_url}/tfs/orgA/") for f in feeds["value"])
    page = http_request("GET", emu.index_url("orgA", "shared") + "gamma/", auth=A)
    assert links(page.text)[0].startswith(f"{emu.root_url}/tfs/orgA/_packaging/")
    outside = http_request("GET", f"{emu.root_url}/orgA/_apis/packaging/feeds", auth=A)
    assert outside.status == 404
    assert emu.health()


def test_https(emulator_factory: Factory, tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path)
    cert, key = tls.cert, tls.key
    emu = emulator_factory(sample_config(), extra_args=["--cert", str(cert), "--key", str(key)])
    assert emu.url.startswith("https://127.0.0.1:")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.URLError) as info:
        opener.open(f"{emu.url}/_emulator/health", timeout=5)
    assert isinstance(info.value.reason, ssl.SSLCertVerificationError)
    trusted = ssl.create_default_context(cafile=str(cert))
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=trusted)
    )
    with opener.open(f"{emu.url}/_emulator/health", timeout=5) as response:
        assert json.loads(response.read()) == {"ok": True}


# --------------------------------------------------------------------------------------------
# Request log


def test_log_records_and_no_secrets(emulator_factory: Factory) -> None:
    pat, token, wrong = "canary-PAT-7f3a9c1e2b", "canary-TOKEN-51d2e8aa", "canary-WRONG-0b8e44"
    config = sample_config()
    config["organizations"][0]["pats"] = ["first-pat", pat]
    config["organizations"][0]["tokens"] = [token]
    emu = emulator_factory(config)
    feeds = f"{emu.url}/orgA/_apis/packaging/feeds?api-version=7.1"
    assert http_request("GET", feeds, auth=("user", pat)).status == 200
    assert http_request("GET", feeds, bearer=token).status == 200
    assert http_request("GET", feeds, auth=("", wrong), headers=SUPPRESS).status == 401
    assert http_request("GET", feeds, bearer=wrong).status == 203
    index = emu.index_url("orgA", "feedx", "ProjectX")
    assert http_request("GET", index, auth=(pat, pat)).status == 200
    assert http_request("GET", f"{emu.url}/_emulator/state").status == 200
    records = emu.log()
    assert [r["route"] for r in records] == ["feeds"] * 4 + ["simple_index", "control"]
    for record in records:
        assert set(record) == LOG_FIELDS
        assert isinstance(record["ts"], float) and isinstance(record["duration_ms"], float)
    assert [(r["auth"], r["credential"], r["status"]) for r in records[:5]] == [
        ("basic", "pat:1", 200),
        ("bearer", "token:0", 200),
        ("basic", None, 401),
        ("bearer", None, 203),
        ("basic", "pat:1", 200),
    ]
    assert records[0]["org"] == "orgA" and records[-1]["org"] is None
    assert records[0]["path"] == "/orgA/_apis/packaging/feeds"
    assert records[0]["query"] == "api-version=7.1"
    assert records[0]["user_agent"].startswith("Python-urllib/")
    assert emu.requests() == records
    state = json.dumps(emu.state())
    emu.clear_log()
    assert emu.log() == [] and emu.requests() == []
    assert emu.stop() == 0
    everything = emu.log_path.read_text() + emu.stderr_text() + emu.stdout_text() + state
    for secret in (pat, token, wrong, "first-pat"):
        assert secret not in everything
        assert _b64(f"user:{secret}") not in everything
        assert _b64(f":{secret}") not in everything
