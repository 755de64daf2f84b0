"""Entra sources end to end through the CLI: token from a loopback HTTPS fake authority, sent to
the emulator as the feeds API (named with --api-url, so loopback may receive it)."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config
from fake_entra import FakeEntra, FakeMetadata, TlsFiles, make_tls_files
from helpers import run_cli, write_fake_az

CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "CANARY-SP-SECRET-a9d2"
TOKEN = "CANARY-AT-0001-q7Zx"  # the first token the fake authority issues
MI_TOKEN = "CANARY-MI-0001-imds"  # the first token the fake IMDS issues


def config() -> dict[str, Any]:
    cfg = sample_config()
    for org in cfg["organizations"]:
        org["tokens"] = [TOKEN, MI_TOKEN]
    return cfg


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def entra(tls: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEntra]:
    fake = FakeEntra(tls, secrets={CLIENT_ID: SECRET}).start()
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", fake.base)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.cert))
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def emu(emulator_factory: Any) -> Emulator:
    emulator: Emulator = emulator_factory(config())
    return emulator


def cloud_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "uv.toml").write_text(
        'index-url = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"\n'
        'extra-index-url = ["https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"]\n'
    )
    return root


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and TOKEN not in text


def bearer_200s(emu: Emulator) -> int:
    return sum(
        1
        for r in emu.log()
        if r["route"] == "feeds" and r["auth"] == "bearer" and r["status"] == 200
    )


def test_service_principal_secret(
    entra: FakeEntra, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = cloud_project(tmp_path / "p")
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-a")
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    result = run_cli(["rewrite", "--api-url", emu.root_url, "--verbose"], cwd=project)
    assert result.code == 0, result.stderr
    assert "service principal" in result.stderr
    assert bearer_200s(emu) == 2
    assert len(entra.token_posts(grant_type="client_credentials")) == 1, "one token for both orgs"
    assert_clean(result.output, (project / "uv.toml").read_text())


def test_service_principal_needs_an_explicit_api_host(
    entra: FakeEntra, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emu: Emulator
) -> None:
    (tmp_path / "uv.toml").write_text(
        f'index-url = "{emu.root_url}/orgA/_packaging/shared/pypi/simple/"\n'
    )
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-a")
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
    result = run_cli(["rewrite", "--check"], cwd=tmp_path)
    assert result.code == 3
    assert entra.token_posts() == [], "no token is even acquired for a server URL"


def test_wrong_secret_is_exit_3_naming_the_service_principal(
    entra: FakeEntra, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = cloud_project(tmp_path / "p")
    monkeypatch.setenv("AZURE_TENANT_ID", "tenant-a")
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "CANARY-wrong-secret-77")
    before = (project / "uv.toml").read_bytes()
    result = run_cli(["rewrite", "--api-url", emu.root_url], cwd=project)
    assert result.code == 3
    assert "service principal" in result.stderr and "invalid_client" in result.stderr
    assert "CANARY-wrong-secret-77" not in result.output
    assert (project / "uv.toml").read_bytes() == before


def test_github_actions_oidc(
    entra: FakeEntra, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = FakeMetadata().start()
    try:
        project = cloud_project(tmp_path / "p")
        monkeypatch.setenv("AZURE_TENANT_ID", "tenant-a")
        monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv(
            "ACTIONS_ID_TOKEN_REQUEST_URL", f"{meta.base}/github/token?api-version=2.0"
        )
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", meta.github_request_token)
        result = run_cli(
            ["rewrite", "--api-url", emu.root_url, "--auth", "workload-identity"], cwd=project
        )
        assert result.code == 0, result.stderr
        assert bearer_200s(emu) == 2
        assert len(meta.find("/github/token")) == 1
        assert entra.token_posts()[0].form["client_assertion"] == meta.served_assertions[0]
        assert meta.github_request_token not in result.output
        assert meta.served_assertions[0] not in result.output
        assert_clean(result.output)
    finally:
        meta.stop()


def test_managed_identity(
    entra: FakeEntra, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = FakeMetadata().start()
    try:
        project = cloud_project(tmp_path / "p")
        monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", meta.base)
        result = run_cli(
            ["rewrite", "--check", "--api-url", emu.root_url, "--auth", "managed-identity"],
            cwd=project,
        )
        assert result.code == 1, result.stderr
        assert len(meta.find("/metadata/identity/oauth2/token")) == 1
        assert bearer_200s(emu) == 2
        assert MI_TOKEN not in result.output
    finally:
        meta.stop()


def test_azure_cli_session(emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    doc = json.dumps({"accessToken": TOKEN, "expires_on": 4_102_444_800, "tokenType": "Bearer"})
    write_fake_az(bin_dir, f"import sys\nprint({doc!r})\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    project = cloud_project(tmp_path / "p")
    result = run_cli(["rewrite", "--api-url", emu.root_url, "--verbose"], cwd=project)
    assert result.code == 0, result.stderr
    assert "Azure CLI" in result.stderr
    assert bearer_200s(emu) == 2
    assert_clean(result.output)


def test_login_then_rewrite_with_the_cached_token(
    entra: FakeEntra, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZFEEDS_TENANT", "tenant-a")
    entra.pending = 1
    login = run_cli(["login", "--method", "device-code"], cwd=tmp_path)
    assert login.code == 0, login.stderr
    assert "enter the code FAKE-CODE" in login.stderr
    assert login.stdout.startswith("signed in as ")
    cache_dir = Path(os.environ["AZFEEDS_CACHE_DIR"])
    if sys.platform != "win32":
        assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
        for path in cache_dir.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    project = cloud_project(tmp_path / "p")
    result = run_cli(["rewrite", "--api-url", emu.root_url, "--verbose"], cwd=project)
    assert result.code == 0, result.stderr
    assert "azfeeds login" in result.stderr
    assert bearer_200s(emu) == 2
    assert len(entra.token_posts(grant_type="urn:ietf:params:oauth:grant-type:device_code")) == 2
    logout = run_cli(["logout"], cwd=tmp_path)
    assert logout.code == 0 and logout.stdout == "signed out\n"
    assert not any(cache_dir.glob("msal_token_cache*"))
    assert_clean(login.output, result.output, logout.output)


def test_login_and_logout_json_documents(
    entra: FakeEntra, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AZFEEDS_TENANT", "tenant-a")
    login = run_cli(["login", "--method", "device-code", "--json"], cwd=tmp_path)
    assert login.code == 0, login.stderr
    doc = json.loads(login.stdout)
    assert doc["command"] == "login" and doc["status"] == "ok" and doc["schema_version"] == 1
    assert doc["result"]["user"] and Path(doc["result"]["token_cache"]).exists()
    logout = run_cli(["logout", "--json"], cwd=tmp_path)
    assert json.loads(logout.stdout)["result"]["removed"] is True
    again = run_cli(["logout", "--json"], cwd=tmp_path)
    assert json.loads(again.stdout)["result"]["removed"] is False
    assert_clean(login.output, logout.output, again.output)
