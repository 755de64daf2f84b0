"""netrc never supplies a credential (DESIGN.md section 6).

requests reads ``~/.netrc`` (or ``$NETRC``) by itself for any request without auth of its own,
and its login then replaces the Authorization header the caller set. On a server the feeds API
shares one host with every collection, and netrc holds one login per host, so a single entry
sent one organization's PAT to another. These tests put a hostile netrc in place and prove that
no request carries its login: against the emulator as a real process (both organizations accept
the netrc canary, so the emulator's log says whenever it arrives), and across a redirect.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from emulator_client import Emulator, sample_config
from helpers import run_proc

NETRC_PAT = "canary-netrc-pat-5z8k"  # the emulator knows it as each org's PAT no. 1
PAT_A = "canary-netrc-test-pat-a"
PAT_B = "canary-netrc-test-pat-b"


def config() -> dict[str, Any]:
    cfg = sample_config()
    org_a, org_b = cfg["organizations"]
    org_a["pats"], org_b["pats"] = [PAT_A, NETRC_PAT], [PAT_B, NETRC_PAT]
    return cfg


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator.start(config(), tmp_path_factory.mktemp("emulator")) as emulator:
        yield emulator


def hostile_home(root: Path, hosts: tuple[str, ...]) -> dict[str, str]:
    """A HOME whose ~/.netrc (also named by $NETRC) holds a login for each host."""
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    netrc = home / ".netrc"
    netrc.write_text(
        "".join(f"machine {host}\n  login netrc-user\n  password {NETRC_PAT}\n" for host in hosts)
    )
    netrc.chmod(0o600)
    return {"HOME": str(home), "USERPROFILE": str(home), "NETRC": str(netrc)}


def project(root: Path, base: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        "[project]\n"
        'name = "demo"\n'
        'version = "0.1.0"\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orga"\n'
        f'url = "{base}/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
        "\n"
        "[[tool.uv.index]]\n"
        'name = "orgb"\n'
        f'url = "{base}/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
    )
    return root


def credentials_seen(emu: Emulator) -> list[tuple[str, str | None, str | None]]:
    return [(row["route"], row["org"], row["credential"]) for row in emu.log()]


@pytest.mark.parametrize("command", ["map", "rewrite", "doctor"])
def test_each_org_gets_its_own_pat_never_the_netrc_login(
    emu: Emulator, tmp_path: Path, command: str
) -> None:
    emu.clear_log()
    env = hostile_home(tmp_path, ("127.0.0.1", "localhost"))
    env.update(
        UV_INDEX_ORGA_USERNAME="u",
        UV_INDEX_ORGA_PASSWORD=PAT_A,
        UV_INDEX_ORGB_USERNAME="u",
        UV_INDEX_ORGB_PASSWORD=PAT_B,
    )
    result = run_proc([command], cwd=project(tmp_path / "p", emu.root_url), env=env)
    # doctor exits 1: name-form URLs on a shared host are the 401 risk it reports
    assert result.code == (1 if command == "doctor" else 0), result.stderr
    seen = credentials_seen(emu)
    assert {org for _, org, _ in seen} == {"orgA", "orgB"}, seen
    if command == "doctor":
        assert {route for route, _, _ in seen} > {"feeds"}, seen  # the index probes too
    assert all(credential == "pat:0" for _, _, credential in seen), seen
    assert NETRC_PAT not in result.output


def test_an_org_without_a_credential_gets_nothing_from_netrc(emu: Emulator, tmp_path: Path) -> None:
    emu.clear_log()
    env = hostile_home(tmp_path, ("127.0.0.1",))
    env.update(UV_INDEX_ORGA_USERNAME="u", UV_INDEX_ORGA_PASSWORD=PAT_A)
    result = run_proc(["map"], cwd=project(tmp_path / "p", emu.root_url), env=env)
    assert result.code == 3, result.stderr  # orgB has no credential of its own
    assert "orgB" in result.stderr
    seen = credentials_seen(emu)
    assert all(credential in ("pat:0", None) for _, _, credential in seen), seen
    assert all(org == "orgA" or credential is None for _, org, credential in seen), seen
    assert NETRC_PAT not in result.output


# -- the session itself --------------------------------------------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/start":
            port = self.server.server_address[1]
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/landed")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_session_adds_no_netrc_login_not_even_after_a_redirect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azfeeds.client import new_session

    for key, value in hostile_home(tmp_path, ("127.0.0.1", "localhost")).items():
        monkeypatch.setenv(key, value)
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        session = new_session()
        assert session.trust_env  # proxies and CA bundles from the environment still apply
        response = session.get(f"http://127.0.0.1:{port}/start", timeout=10)
        assert response.status_code == 200
        session.close()
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.seen == [("/start", None), ("/landed", None)]


def test_environment_proxies_and_ca_bundle_still_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azfeeds.client import new_session

    for key, value in hostile_home(tmp_path, ("feeds.dev.azure.com",)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not read here\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    session = new_session()
    settings = session.merge_environment_settings(
        "https://feeds.dev.azure.com/orgA/_apis/packaging/feeds", {}, None, None, None
    )
    assert settings["proxies"].get("https") == "http://127.0.0.1:9"
    assert settings["verify"] == str(bundle)
    prepared = session.prepare_request(
        requests.Request("GET", "https://feeds.dev.azure.com/orgA/_apis")
    )
    assert "Authorization" not in prepared.headers
    session.close()
