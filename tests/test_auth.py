"""The msal auth layer end to end against loopback fakes (reference/auth.md section 6, recipe B).

Every test also runs under ``_no_leaks``: the canary secrets and tokens used here must not show up
in logs (DEBUG, msal and urllib3 included), stdout, stderr, exception texts, or any file written
except the token cache itself (whose mode is checked instead).
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_entra import (
    USERNAME,
    ClientCert,
    FakeEntra,
    FakeMetadata,
    TlsFiles,
    make_client_cert,
    make_jwt,
    make_tls_files,
)
from helpers import write_fake_az

from azfeeds import auth
from azfeeds.auth import (
    ADO_RESOURCE,
    ADO_SCOPE,
    CliUnavailable,
    EntraConfig,
    TokenCacheStore,
)
from azfeeds.client import new_session
from azfeeds.errors import AuthError, ExitCode, UsageError

CANARY = "CANARY-"  # every secret and token below starts with it
CLIENT_SECRET = "CANARY-SECRET-2c8e-Zt9~v"
WRONG_SECRET = "CANARY-WRONGSECRET-41d7"
PFX_PASSWORD = "CANARY-PFXPW-0b3e"
SP_ID = "11111111-aaaa-bbbb-cccc-000000000001"
POSIX = os.name == "posix"


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def client_cert(tmp_path_factory: pytest.TempPathFactory) -> ClientCert:
    return make_client_cert(tmp_path_factory.mktemp("sp-cert"), PFX_PASSWORD)


@pytest.fixture
def entra(tls: TlsFiles, client_cert: ClientCert) -> Iterator[FakeEntra]:
    fake = FakeEntra(tls, secrets={SP_ID: CLIENT_SECRET})
    fake.certs[client_cert.thumbprint_s256] = client_cert.public_key
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def meta() -> Iterator[FakeMetadata]:
    fake = FakeMetadata().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def no_extensions(monkeypatch: pytest.MonkeyPatch) -> None:
    """msal_extensions unimportable, whatever is installed (the plaintext fallback path)."""
    monkeypatch.setitem(sys.modules, "msal_extensions", None)


def make_cfg(entra: FakeEntra, tls: TlsFiles, **kwargs: Any) -> EntraConfig:
    kwargs.setdefault("tenant", "tenant-a")
    return EntraConfig(
        authority_host=entra.base,
        session=new_session(trust_env=False, verify=str(tls.cert)),
        validate_authority=False,
        **kwargs,
    )


def plain_session() -> Any:
    return new_session(trust_env=False)


def _walk_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture(autouse=True)
def _no_leaks(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    for name in ("msal", "urllib3", "requests", "azfeeds"):
        caplog.set_level(logging.DEBUG, logger=name)
    threads = set(threading.enumerate())
    yield
    out, err = capsys.readouterr()
    assert CANARY not in out
    assert CANARY not in err
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for when in ("setup", "call", "teardown"):  # caplog.text alone is the current phase only
        for record in caplog.get_records(when):
            assert CANARY not in formatter.format(record), record.name
    cache_dirs = [tmp_path, Path(os.environ.get("AZFEEDS_CACHE_DIR", str(tmp_path)))]
    for root in cache_dirs:
        for path in _walk_files(root):
            if path.name == auth.PLAIN_CACHE_NAME:
                if POSIX:
                    assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
                continue
            assert CANARY.encode() not in path.read_bytes(), path
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - threads and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not (set(threading.enumerate()) - threads), "a thread was left running"


def clean(exc: BaseException) -> str:
    """The error's text (message, hint, formatted traceback) after checking it holds no canary."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    hint = getattr(exc, "hint", None) or ""
    assert CANARY not in text
    assert CANARY not in hint
    assert CANARY not in repr(exc)
    return f"{exc}\n{hint}"


# -- 11. authority host ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "https://login.microsoftonline.com"),
        ("", "https://login.microsoftonline.com"),
        ("   ", "https://login.microsoftonline.com"),
        ("login.microsoftonline.us", "https://login.microsoftonline.us"),
        ("login.chinacloudapi.cn/", "https://login.chinacloudapi.cn"),
        ("https://login.microsoftonline.com/", "https://login.microsoftonline.com"),
        ("https://127.0.0.1:8443//", "https://127.0.0.1:8443"),
        (" HTTPS://Login.Example ", "HTTPS://Login.Example"),
    ],
)
def test_normalize_authority_host(value: str | None, expected: str) -> None:
    assert auth.normalize_authority_host(value) == expected


@pytest.mark.parametrize(
    "value", ["http://login.microsoftonline.com", "ftp://x.example", "https://", "https://u:p@h"]
)
def test_normalize_authority_host_rejects(value: str) -> None:
    with pytest.raises(AuthError) as info:
        auth.normalize_authority_host(value)
    assert info.value.exit_code == ExitCode.AUTH
    assert "AZURE_AUTHORITY_HOST" in (info.value.hint or "")


def test_entra_config_normalises_and_rejects() -> None:
    assert EntraConfig(authority_host="login.microsoftonline.us/").authority_host == (
        "https://login.microsoftonline.us"
    )
    with pytest.raises(AuthError):
        EntraConfig(authority_host="http://login.microsoftonline.com")


# -- 9. import cost --------------------------------------------------------------------------


def test_import_does_not_load_msal_or_requests() -> None:
    code = (
        "import sys, azfeeds.auth\n"
        "loaded = [m for m in ('msal', 'msal_extensions', 'requests') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- 1. client secret ------------------------------------------------------------------------


def test_client_secret_token_is_kept_and_shared(entra: FakeEntra, tls: TlsFiles) -> None:
    provider = auth.client_secret_provider(make_cfg(entra, tls, client_id=SP_ID), CLIENT_SECRET)
    assert SP_ID in provider.description and CLIENT_SECRET not in repr(provider)
    results: list[str] = []

    def work() -> None:
        results.append(provider.token())

    workers = [threading.Thread(target=work) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(set(results)) == 1 and results[0] == entra.issued[0]
    assert provider.token() == results[0]
    posts = entra.token_posts()
    assert len(posts) == 1  # one acquisition for eight concurrent callers and a later one
    post = posts[0]
    assert post.path == "/tenant-a/oauth2/v2.0/token"
    assert post.form["grant_type"] == "client_credentials"
    assert post.form["client_id"] == SP_ID
    assert post.form["scope"] == ADO_SCOPE
    assert post.form["client_secret"] == CLIENT_SECRET  # the canary really went over the wire
    assert "client_assertion" not in post.form
    discovery = [r for r in entra.requests if r.method == "GET"]
    assert [r.path for r in discovery] == ["/tenant-a/v2.0/.well-known/openid-configuration"]


def test_client_secret_invalidate_gets_a_new_token(entra: FakeEntra, tls: TlsFiles) -> None:
    provider = auth.client_secret_provider(make_cfg(entra, tls, client_id=SP_ID), CLIENT_SECRET)
    first = provider.token()
    provider.invalidate()
    second = provider.token()
    assert first != second and len(entra.token_posts()) == 2


def test_wrong_client_secret_names_the_source(entra: FakeEntra, tls: TlsFiles) -> None:
    provider = auth.client_secret_provider(make_cfg(entra, tls, client_id=SP_ID), WRONG_SECRET)
    with pytest.raises(AuthError) as info:
        provider.token()
    text = clean(info.value)
    assert f"service principal (AZURE_CLIENT_ID={SP_ID})" in text
    assert "invalid_client" in text and "AADSTS7000215" in text
    assert "Trace ID" not in text  # one line
    assert "\n" not in info.value.message
    assert "secret's value" in (info.value.hint or "")
    assert info.value.exit_code == ExitCode.AUTH
    assert entra.token_posts()[0].form["client_secret"] == WRONG_SECRET


def test_service_principal_configuration_errors(entra: FakeEntra, tls: TlsFiles) -> None:
    for kwargs in ({"tenant": None}, {"tenant": "organizations"}, {"tenant": "a/b"}):
        with pytest.raises(AuthError) as info:
            auth.client_secret_provider(make_cfg(entra, tls, client_id=SP_ID, **kwargs), "x" * 8)
        assert "tenant" in clean(info.value).lower()
    with pytest.raises(AuthError) as info:
        auth.client_secret_provider(make_cfg(entra, tls), CLIENT_SECRET)
    assert "AZURE_CLIENT_ID" in clean(info.value)
    unknown = auth.client_secret_provider(
        make_cfg(entra, tls, client_id=SP_ID, tenant="no-such-tenant"), CLIENT_SECRET
    )
    with pytest.raises(AuthError) as info:
        unknown.token()
    assert "configuration of the tenant" in clean(info.value)


def test_transport_failures_become_one_line_auth_errors(entra: FakeEntra, tls: TlsFiles) -> None:
    # TLS: the loopback certificate is not trusted by the default CA bundle.
    cfg = EntraConfig(
        tenant="tenant-a",
        client_id=SP_ID,
        authority_host=entra.base,
        session=new_session(trust_env=False, verify=True),
        validate_authority=False,
    )
    with pytest.raises(AuthError) as info:
        auth.client_secret_provider(cfg, CLIENT_SECRET).token()
    text = clean(info.value)
    assert "TLS certificate verification failed for 127.0.0.1" in text
    assert info.value.__cause__ is None and info.value.__suppress_context__
    # Connection refused: a port nobody listens on.
    closed = FakeMetadata().start()
    closed.stop()
    cfg = EntraConfig(
        tenant="tenant-a",
        client_id=SP_ID,
        authority_host=closed.base.replace("http:", "https:"),
        session=plain_session(),
        validate_authority=False,
    )
    with pytest.raises(AuthError) as info:
        auth.client_secret_provider(cfg, CLIENT_SECRET).token()
    assert "cannot connect to 127.0.0.1" in clean(info.value)


# -- 2. certificates -------------------------------------------------------------------------


def test_certificate_pem(entra: FakeEntra, tls: TlsFiles, client_cert: ClientCert) -> None:
    provider = auth.client_certificate_provider(
        make_cfg(entra, tls, client_id=SP_ID), str(client_cert.pem)
    )
    assert provider.token() == entra.issued[0]
    post = entra.token_posts()[0]
    assert "client_secret" not in post.form
    assert post.form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    header = post.assertion_header or {}
    assert header["alg"] == "PS256"
    assert header["x5t#S256"].rstrip("=") == client_cert.thumbprint_s256
    assert ["".join(c.split()) for c in header["x5c"]] == [client_cert.der_b64]  # always, for PEM
    claims = post.assertion_claims or {}
    assert claims["iss"] == claims["sub"] == SP_ID
    assert claims["aud"] == f"{entra.base}/tenant-a/oauth2/v2.0/token"
    assert post.signature_ok is True


def test_certificate_pem_with_encrypted_key(
    entra: FakeEntra, tls: TlsFiles, client_cert: ClientCert
) -> None:
    cfg = make_cfg(entra, tls, client_id=SP_ID)
    with pytest.raises(AuthError) as info:
        auth.client_certificate_provider(cfg, str(client_cert.pem_encrypted))
    assert "AZURE_CLIENT_CERTIFICATE_PASSWORD" in clean(info.value)
    provider = auth.client_certificate_provider(
        cfg, str(client_cert.pem_encrypted), password=PFX_PASSWORD
    )
    assert provider.token() == entra.issued[0]
    assert entra.token_posts()[0].signature_ok is True


@pytest.mark.parametrize("send_chain", [False, True])
def test_certificate_pfx_with_password(
    entra: FakeEntra, tls: TlsFiles, client_cert: ClientCert, send_chain: bool
) -> None:
    provider = auth.client_certificate_provider(
        make_cfg(entra, tls, client_id=SP_ID),
        str(client_cert.pfx),
        password=PFX_PASSWORD,
        send_chain=send_chain,
    )
    assert provider.token() == entra.issued[0]
    post = entra.token_posts()[0]
    header = post.assertion_header or {}
    assert header["alg"] == "PS256"
    assert header["x5t#S256"].rstrip("=") == client_cert.thumbprint_s256
    assert ("x5c" in header) is send_chain
    if send_chain:
        assert "".join(header["x5c"][0].split()) == client_cert.der_b64
    assert post.signature_ok is True


def test_certificate_pfx_detected_without_extension(
    entra: FakeEntra, tls: TlsFiles, client_cert: ClientCert, tmp_path: Path
) -> None:
    renamed = tmp_path / "credential.bin"
    renamed.write_bytes(client_cert.pfx.read_bytes())
    provider = auth.client_certificate_provider(
        make_cfg(entra, tls, client_id=SP_ID), str(renamed), password=PFX_PASSWORD
    )
    assert provider.token() == entra.issued[0]


def test_certificate_errors_name_the_file(
    entra: FakeEntra, tls: TlsFiles, client_cert: ClientCert, tmp_path: Path
) -> None:
    cfg = make_cfg(entra, tls, client_id=SP_ID)
    with pytest.raises(AuthError) as info:
        auth.client_certificate_provider(cfg, str(client_cert.pfx), password=PFX_PASSWORD + "x")
    text = clean(info.value)
    assert str(client_cert.pfx) in text and "wrong password" in text
    cert_only = tmp_path / "cert-only.pem"
    pem = client_cert.pem.read_text()
    cert_only.write_text(pem[pem.index("-----BEGIN CERTIFICATE") :])
    with pytest.raises(AuthError) as info:
        auth.client_certificate_provider(cfg, str(cert_only))
    assert "private key and the certificate" in clean(info.value)
    with pytest.raises(AuthError) as info:
        auth.client_certificate_provider(cfg, str(tmp_path / "missing.pem"))
    assert "cannot read the certificate file" in clean(info.value)
    assert entra.token_posts() == []


# -- 3. client assertions --------------------------------------------------------------------


def test_federated_token_file_is_reread_when_a_token_is_needed(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path
) -> None:
    entra.app_lifetime = 60  # below the 5-minute margin: every token() goes to Entra
    token_file = tmp_path / "azure-identity-token"
    first, second = (
        make_jwt({"sub": "system:sa:a", "n": 1}),
        make_jwt({"sub": "system:sa:a", "n": 2}),
    )
    token_file.write_text(first + "\n")
    provider = auth.client_assertion_provider(
        make_cfg(entra, tls, client_id=SP_ID),
        auth.federated_token_file(str(token_file)),
        "workload identity (AZURE_FEDERATED_TOKEN_FILE)",
    )
    provider.token()
    token_file.write_text(second)  # rotated by the kubelet
    provider.token()
    sent = [p.form["client_assertion"] for p in entra.token_posts()]
    assert sent == [first, second]
    token_file.write_text("")
    with pytest.raises(AuthError) as info:
        provider.token()
    text = clean(info.value)
    assert text.startswith("workload identity (AZURE_FEDERATED_TOKEN_FILE): ")
    assert "is empty" in text


def test_federated_token_file_kept_token_needs_no_reread(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(make_jwt({"n": 1}))
    provider = auth.client_assertion_provider(
        make_cfg(entra, tls, client_id=SP_ID), auth.federated_token_file(str(token_file)), "wif"
    )
    token = provider.token()
    token_file.unlink()  # not read again while the token is fresh
    assert provider.token() == token
    assert len(entra.token_posts()) == 1


def test_github_actions_oidc(entra: FakeEntra, meta: FakeMetadata, tls: TlsFiles) -> None:
    assertion = auth.github_oidc_assertion(
        f"{meta.base}/github/token?api-version=2.0",
        meta.github_request_token,
        session=plain_session(),
    )
    provider = auth.client_assertion_provider(
        make_cfg(entra, tls, client_id=SP_ID), assertion, "GitHub Actions workload identity"
    )
    assert provider.token() == entra.issued[0]
    (request,) = meta.find("/github/token")
    assert request.method == "GET"
    assert request.headers["authorization"] == f"bearer {meta.github_request_token}"
    assert request.query == {"api-version": "2.0", "audience": "api://AzureADTokenExchange"}
    assert entra.token_posts()[0].form["client_assertion"] == meta.served_assertions[0]
    # Without a query string the audience starts one.
    bare = auth.github_oidc_assertion(
        f"{meta.base}/github/token", meta.github_request_token, session=plain_session()
    )
    assert bare() == meta.served_assertions[1]
    # A bad request token: the error names GitHub and the permission.
    bad = auth.client_assertion_provider(
        make_cfg(entra, tls, client_id=SP_ID),
        auth.github_oidc_assertion(f"{meta.base}/github/token?x=1", "CANARY-BADGH-0000"),
        "GitHub Actions workload identity",
    )
    with pytest.raises(AuthError) as info:
        bad.token()
    text = clean(info.value)
    assert text.startswith("GitHub Actions workload identity: GitHub Actions OIDC")
    assert "HTTP 401" in text and "id-token: write" in text


def test_azure_pipelines_oidc(entra: FakeEntra, meta: FakeMetadata, tls: TlsFiles) -> None:
    assertion = auth.pipelines_oidc_assertion(
        f"{meta.base}/pipelines/oidc",
        meta.service_connection_id,
        meta.system_access_token,
        session=plain_session(),
    )
    provider = auth.client_assertion_provider(
        make_cfg(entra, tls, client_id=SP_ID), assertion, "Azure Pipelines service connection"
    )
    assert provider.token() == entra.issued[0]
    (request,) = meta.find("/pipelines/oidc")
    assert request.method == "POST"
    assert request.query == {
        "api-version": "7.1",
        "serviceConnectionId": meta.service_connection_id,
    }
    assert request.headers["authorization"] == f"Bearer {meta.system_access_token}"
    assert request.headers["x-tfs-fedauthredirect"] == "Suppress"
    assert request.headers["content-type"] == "application/json"
    assert entra.token_posts()[0].form["client_assertion"] == meta.served_assertions[0]
    rejected = auth.pipelines_oidc_assertion(
        f"{meta.base}/pipelines/oidc", meta.service_connection_id, "CANARY-BADSYS-1234"
    )
    with pytest.raises(AuthError) as info:
        rejected()
    text = clean(info.value)
    assert "SYSTEM_ACCESSTOKEN was rejected (HTTP 401)" in text and "TF400813" in text


# -- 4. managed identity ---------------------------------------------------------------------


@pytest.fixture
def mi_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "IDENTITY_SERVER_THUMBPRINT",
        "IMDS_ENDPOINT",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "AZURE_POD_IDENTITY_AUTHORITY_HOST",
        "AZUREPS_HOST_ENVIRONMENT",
        "MSAL_FORCE_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_managed_identity_imds(meta: FakeMetadata, mi_env: pytest.MonkeyPatch) -> None:
    mi_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", meta.base)
    provider = auth.managed_identity_provider(session=plain_session())
    assert provider.description == "managed identity (system-assigned)"
    token = provider.token()
    assert token.startswith("CANARY-MI-") and token.endswith("-imds")
    assert provider.token() == token
    (request,) = meta.find("/metadata/identity/oauth2/token")
    assert request.headers["metadata"] == "true"
    assert request.query == {"api-version": "2018-02-01", "resource": ADO_RESOURCE}
    user = auth.managed_identity_provider(client_id="mi-client-id", session=plain_session())
    user.token()
    assert meta.find("/metadata/identity/oauth2/token")[1].query["client_id"] == "mi-client-id"
    assert "mi-client-id" in user.description


def test_managed_identity_app_service(meta: FakeMetadata, mi_env: pytest.MonkeyPatch) -> None:
    mi_env.setenv("IDENTITY_ENDPOINT", f"{meta.base}/msi/token")
    mi_env.setenv("IDENTITY_HEADER", meta.identity_header)
    provider = auth.managed_identity_provider(session=plain_session())
    token = provider.token()
    assert token.endswith("-appsvc")
    (request,) = meta.find("/msi/token")
    assert request.headers["x-identity-header"] == meta.identity_header
    assert request.query == {"api-version": "2019-08-01", "resource": ADO_RESOURCE}


def test_managed_identity_errors(meta: FakeMetadata, mi_env: pytest.MonkeyPatch) -> None:
    mi_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", meta.base)
    meta.imds_error = True
    with pytest.raises(AuthError) as info:
        auth.managed_identity_provider(session=plain_session()).token()
    text = clean(info.value)
    assert text.startswith("managed identity (system-assigned): ")
    assert "invalid_request: Identity not found" in text
    assert "managed identity assigned" in (info.value.hint or "")
    closed = FakeMetadata().start()
    closed.stop()
    mi_env.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", closed.base)
    with pytest.raises(AuthError) as info:
        auth.managed_identity_provider(session=plain_session()).token()
    assert "cannot connect to the managed identity endpoint" in clean(info.value)


# -- 5. Azure CLI ----------------------------------------------------------------------------


FAKE_AZ = """\
#!{python}
import json, os, sys, time
config = json.load(open(os.environ["FAKE_AZ_CONFIG"]))
with open(config["record"], "a") as record:
    record.write(json.dumps({{"args": sys.argv[1:], "cwd": os.getcwd(),
                             "no_color": os.environ.get("AZURE_CORE_NO_COLOR")}}) + "\\n")
token = bytes.fromhex(config["token_hex"]).decode()
mode = config["mode"]
if mode == "ok":
    print(json.dumps({{"accessToken": token, "expiresOn": "2099-01-01 00:00:00.000000",
                      "expires_on": int(time.time()) + 3600, "tokenType": "Bearer",
                      "subscription": "s", "tenant": "t"}}, indent=2))
elif mode == "login":
    print("ERROR: Please run 'az login' to setup account.", file=sys.stderr)
    sys.exit(1)
elif mode == "garbage":
    print('{{"accessToken": "' + token + '", "expires_on": "soon"}}')
elif mode == "fail":
    print('ERROR: boom {{"accessToken": "' + token + '", "x": 1}}', file=sys.stderr)
    sys.exit(2)
"""


@pytest.fixture
def fake_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    bindir = tmp_path / "bin"
    write_fake_az(bindir, FAKE_AZ.format(python=sys.executable))
    config = tmp_path / "az.json"
    record = tmp_path / "az-calls.jsonl"
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("FAKE_AZ_CONFIG", str(config))

    def configure(mode: str, token: str = "CANARY-AZAT-6e1d") -> Path:
        config.write_text(
            json.dumps({"mode": mode, "token_hex": token.encode().hex(), "record": str(record)})
        )
        return record

    return configure


def test_azure_cli_success(fake_az: Callable[[str], Path]) -> None:
    record = fake_az("ok")
    assert auth.azure_cli_available()
    provider = auth.azure_cli_provider(tenant="contoso.example")
    assert provider.token() == "CANARY-AZAT-6e1d"
    assert provider.token() == "CANARY-AZAT-6e1d"  # kept in memory: az ran once
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 1
    assert calls[0]["args"] == [
        "account",
        "get-access-token",
        "--output",
        "json",
        "--resource",
        ADO_RESOURCE,
        "--tenant",
        "contoso.example",
    ]
    assert calls[0]["cwd"] == os.path.realpath("/bin") and calls[0]["no_color"] == "true"


def test_azure_cli_not_signed_in(fake_az: Callable[[str], Path]) -> None:
    fake_az("login")
    with pytest.raises(CliUnavailable) as info:
        auth.azure_cli_provider().token()
    assert "not signed in" in clean(info.value) and info.value.hint == "run 'az login'"
    assert isinstance(info.value, AuthError)


def test_azure_cli_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert not auth.azure_cli_available()
    with pytest.raises(CliUnavailable) as info:
        auth.azure_cli_provider().token()
    assert "not found" in clean(info.value)


@pytest.mark.parametrize("mode", ["garbage", "fail"])
def test_azure_cli_bad_output_is_not_echoed(fake_az: Callable[[str], Path], mode: str) -> None:
    fake_az(mode)
    with pytest.raises(AuthError) as info:
        auth.azure_cli_provider().token()
    assert not isinstance(info.value, CliUnavailable)
    text = clean(info.value)
    assert text.startswith("Azure CLI (az account get-access-token): ")


def test_azure_cli_rejects_odd_tenant(fake_az: Callable[[str], Path]) -> None:
    record = fake_az("ok")
    with pytest.raises(AuthError):
        auth.azure_cli_provider(tenant="x & calc").token()
    assert not record.exists()


# -- 6. device code, the persisted cache and silent refresh ----------------------------------


def test_device_code_login_then_cache_then_refresh(
    entra: FakeEntra,
    tls: TlsFiles,
    tmp_path: Path,
    no_extensions: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entra.pending = 1
    store = TokenCacheStore(tmp_path / "cache")
    messages: list[str] = []
    assert auth.login(make_cfg(entra, tls), store, "device-code", messages.append) == USERNAME
    assert len(messages) == 1 and "FAKE-CODE" in messages[0]
    (devicecode,) = [r for r in entra.requests if r.path.endswith("/devicecode")]
    assert devicecode.form["client_id"] == auth.DEFAULT_PUBLIC_CLIENT_ID
    assert set(devicecode.form["scope"].split()) == {
        ADO_SCOPE,
        "offline_access",
        "openid",
        "profile",
    }
    polls = entra.token_posts(grant_type="urn:ietf:params:oauth:grant-type:device_code")
    assert len(polls) == 2  # authorization_pending once, then success
    # Persisted: plaintext fallback (no msal_extensions), owner-only, one warning line.
    location = store.location()
    assert location == tmp_path / "cache" / auth.PLAIN_CACHE_NAME and location.is_file()
    if POSIX:
        assert stat.S_IMODE(location.stat().st_mode) == 0o600
        assert stat.S_IMODE(location.parent.stat().st_mode) == 0o700
    assert len(store.warnings) == 1 and "not encrypted" in store.warnings[0]
    warnings = [
        r for r in caplog.records if r.name == "azfeeds.auth" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 1
    login_token = entra.issued[-1]
    assert login_token in location.read_text()

    # A later run: the cached account answers without any new sign-in or token request.
    later = auth.cached_user_provider(make_cfg(entra, tls), TokenCacheStore(tmp_path / "cache"))
    assert later is not None and USERNAME in later.description
    before = len(entra.token_posts())
    assert later.token() == login_token
    assert len(entra.token_posts()) == before

    # Forced refresh (e.g. after a 401) redeems the refresh token.
    entra.user_lifetime = 60  # the next tokens are "expired" at once for msal (< 5 min left)
    rt = entra.refresh_token
    later.invalidate()
    refreshed = later.token()
    (refresh,) = entra.token_posts(grant_type="refresh_token")
    assert refresh.form["refresh_token"] == rt and refreshed == entra.issued[-1]
    assert set(refresh.form["scope"].split()) >= {ADO_SCOPE}

    # Expired access token in the cache: another process refreshes silently, no device flow.
    third = auth.cached_user_provider(make_cfg(entra, tls), TokenCacheStore(tmp_path / "cache"))
    assert third is not None
    assert third.token() == entra.issued[-1] != refreshed
    assert len(entra.token_posts(grant_type="refresh_token")) == 2
    assert len([r for r in entra.requests if r.path.endswith("/devicecode")]) == 1


def test_cached_provider_none_without_account(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path, no_extensions: None
) -> None:
    assert auth.cached_user_provider(make_cfg(entra, tls), TokenCacheStore(tmp_path)) is None
    assert entra.requests == []  # no network needed to know


def test_cached_provider_with_revoked_refresh_token(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path, no_extensions: None
) -> None:
    entra.user_lifetime = 60
    store = TokenCacheStore(tmp_path / "c")
    auth.login(make_cfg(entra, tls), store, "device-code", lambda _: None)
    entra.refresh_token = "CANARY-RT-revoked-by-admin"
    provider = auth.cached_user_provider(make_cfg(entra, tls), TokenCacheStore(tmp_path / "c"))
    assert provider is not None
    with pytest.raises(AuthError) as info:
        provider.token()
    text = clean(info.value)
    assert "run 'azfeeds login' again" in text and "invalid_grant" in text


def test_device_code_times_out(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path, no_extensions: None
) -> None:
    entra.pending = 100
    provider = auth.device_code_provider(
        make_cfg(entra, tls), TokenCacheStore(tmp_path / "c"), lambda _: None, timeout=1.0
    )
    start = time.monotonic()
    with pytest.raises(AuthError) as info:
        provider.token()
    assert time.monotonic() - start < 10
    assert "not completed within 1 s" in clean(info.value)


def test_device_code_provider_uses_cache_before_a_new_flow(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path, no_extensions: None
) -> None:
    store = TokenCacheStore(tmp_path / "c")
    auth.login(make_cfg(entra, tls), store, "device-code", lambda _: None)
    prompts: list[str] = []
    provider = auth.device_code_provider(make_cfg(entra, tls), store, prompts.append)
    assert provider.token() == entra.issued[-1]
    assert prompts == []  # served from the cache: nobody was asked to sign in


# -- 7. cache file security and policies -----------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_cache_fixes_existing_permissions(tmp_path: Path, no_extensions: None) -> None:
    directory = tmp_path / "cache"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    existing = directory / auth.PLAIN_CACHE_NAME
    existing.write_text("{}")
    existing.chmod(0o644)
    store = TokenCacheStore(directory)
    cache = store.open()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    assert cache.has_state_changed is False


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_cache_save_is_atomic_and_owner_only(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path, no_extensions: None
) -> None:
    directory = tmp_path / "nested" / "cache"
    store = TokenCacheStore(directory)
    auth.login(make_cfg(entra, tls), store, "device-code", lambda _: None)
    assert sorted(p.name for p in directory.iterdir()) == [auth.PLAIN_CACHE_NAME]
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.location().stat().st_mode) == 0o600
    json.loads(store.location().read_text())  # a complete document


def test_cache_policy_encrypted_only_refuses_plaintext(tmp_path: Path, no_extensions: None) -> None:
    store = TokenCacheStore(tmp_path / "cache", policy="encrypted-only")
    with pytest.raises(AuthError) as info:
        store.open()
    text = clean(info.value)
    assert "cannot be encrypted" in text and "msal-extensions is not installed" in text
    assert "encrypted-cache" in (info.value.hint or "")
    assert not (tmp_path / "cache").exists()


def test_cache_policy_none_writes_nothing(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path, no_extensions: None
) -> None:
    store = TokenCacheStore(tmp_path / "cache", policy="none")
    assert auth.login(make_cfg(entra, tls), store, "device-code", lambda _: None) == USERNAME
    assert not (tmp_path / "cache").exists() and store.warnings == []
    assert auth.cached_user_provider(make_cfg(entra, tls), store) is None


def test_cache_unknown_policy() -> None:
    with pytest.raises(UsageError):
        TokenCacheStore(Path("x"), policy="plaintext")


def test_logout_removes_the_cache(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path, no_extensions: None
) -> None:
    store = TokenCacheStore(tmp_path / "cache")
    auth.login(make_cfg(entra, tls), store, "device-code", lambda _: None)
    assert store.location().exists()
    requests_before = len(entra.requests)
    assert auth.logout(make_cfg(entra, tls), TokenCacheStore(tmp_path / "cache")) is True
    assert not store.location().exists()
    assert len(entra.requests) == requests_before  # logout needs no network
    assert auth.logout(make_cfg(entra, tls), TokenCacheStore(tmp_path / "cache")) is False
    assert (
        auth.cached_user_provider(make_cfg(entra, tls), TokenCacheStore(tmp_path / "cache")) is None
    )


def test_tokens_loaded_from_the_cache_are_registered(tmp_path: Path, no_extensions: None) -> None:
    import msal

    from azfeeds.secrets import scrub

    seed = msal.SerializableTokenCache()
    seed.add(
        {
            "client_id": auth.DEFAULT_PUBLIC_CLIENT_ID,
            "scope": [ADO_SCOPE],
            "token_endpoint": "https://login.example/tenant-a/oauth2/v2.0/token",
            "response": {
                "access_token": "CANARY-AT-fromfile-3a3a",
                "refresh_token": "CANARY-RT-fromfile-4b4b",
                "expires_in": 3600,
                "token_type": "Bearer",
            },
        }
    )
    path = tmp_path / auth.PLAIN_CACHE_NAME
    path.write_text(seed.serialize())
    TokenCacheStore(tmp_path).open()
    text = scrub("at=CANARY-AT-fromfile-3a3a rt CANARY-RT-fromfile-4b4b")
    assert "CANARY" not in text


def test_corrupt_cache_is_ignored_with_a_warning(tmp_path: Path, no_extensions: None) -> None:
    (tmp_path / auth.PLAIN_CACHE_NAME).write_text("{not json")
    store = TokenCacheStore(tmp_path)
    assert store.open().serialize() == "{}"
    assert any("not readable" in w for w in store.warnings)


class _FakePersistence:
    """Stands in for msal_extensions' encrypted persistences (DPAPI, Keychain, libsecret)."""

    def __init__(self, location: str, broken: bool) -> None:
        self.location, self.broken, self.data = location, broken, None

    def load(self) -> str:
        if self.broken:
            raise RuntimeError("no Secret Service on the session bus")
        if self.data is None:
            raise type("PersistenceNotFound", (OSError,), {})()
        return self.data

    def save(self, content: str) -> None:
        self.data = content

    def get_location(self) -> str:
        return self.location


def _fake_extensions(broken: bool) -> types.ModuleType:
    import msal

    module = types.ModuleType("msal_extensions")
    persistences: list[_FakePersistence] = []

    def build_encrypted_persistence(location: str) -> _FakePersistence:
        persistences.append(_FakePersistence(location, broken))
        return persistences[-1]

    class PersistedTokenCache(msal.SerializableTokenCache):  # type: ignore[misc]
        def __init__(self, persistence: _FakePersistence) -> None:
            super().__init__()
            self.persistence = persistence

        def modify(self, *args: Any, **kwargs: Any) -> None:
            super().modify(*args, **kwargs)
            self.persistence.save(self.serialize())

    module.build_encrypted_persistence = build_encrypted_persistence  # type: ignore[attr-defined]
    module.PersistedTokenCache = PersistedTokenCache  # type: ignore[attr-defined]
    module.persistences = persistences  # type: ignore[attr-defined]
    return module


def test_encrypted_cache_is_preferred(
    entra: FakeEntra, tls: TlsFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _fake_extensions(broken=False)
    monkeypatch.setitem(sys.modules, "msal_extensions", module)
    store = TokenCacheStore(tmp_path / "cache", policy="encrypted-only")
    assert auth.login(make_cfg(entra, tls), store, "device-code", lambda _: None) == USERNAME
    assert store.warnings == []
    assert store.location() == tmp_path / "cache" / auth.ENCRYPTED_CACHE_NAME
    (persistence,) = module.persistences  # type: ignore[attr-defined]
    assert persistence.location == str(store.location())
    assert entra.issued[-1] in persistence.data  # the tokens went to the "encrypted" store
    assert not (tmp_path / "cache" / auth.PLAIN_CACHE_NAME).exists()


def test_broken_keyring_falls_back_or_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "msal_extensions", _fake_extensions(broken=True))
    with pytest.raises(AuthError) as info:
        TokenCacheStore(tmp_path / "strict", policy="encrypted-only").open()
    assert "no Secret Service" in clean(info.value)
    store = TokenCacheStore(tmp_path / "auto")
    store.open()
    store.open()
    assert len(store.warnings) == 1 and "RuntimeError: no Secret Service" in store.warnings[0]
    assert store.location().name == auth.PLAIN_CACHE_NAME


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AZFEEDS_CACHE_DIR", str(tmp_path / "override"))
    assert auth.default_cache_dir() == tmp_path / "override"
    monkeypatch.delenv("AZFEEDS_CACHE_DIR")
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert auth.default_cache_dir() == tmp_path / "xdg" / "azfeeds"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
        assert auth.default_cache_dir() == Path.home() / ".cache" / "azfeeds"


# -- 8. browser ------------------------------------------------------------------------------


def test_browser_login_wiring(
    entra: FakeEntra,
    tls: TlsFiles,
    tmp_path: Path,
    no_extensions: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import msal

    calls: list[dict[str, Any]] = []

    def fake_interactive(self: Any, scopes: list[str], **kwargs: Any) -> dict[str, Any]:
        calls.append({"scopes": scopes, **kwargs})
        return {
            "access_token": "CANARY-AT-browser-5f5f",
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token_claims": {"preferred_username": "bob@contoso.example"},
        }

    monkeypatch.setattr(msal.PublicClientApplication, "acquire_token_interactive", fake_interactive)
    prompts: list[str] = []
    store = TokenCacheStore(tmp_path / "cache")
    assert (
        auth.login(make_cfg(entra, tls), store, "browser", prompts.append) == "bob@contoso.example"
    )
    (call,) = calls
    assert call["scopes"] == [ADO_SCOPE]
    assert call["prompt"] == "select_account"
    assert call["timeout"] == 300.0
    assert prompts and "browser" in prompts[0]
    provider = auth.browser_provider(make_cfg(entra, tls), store, timeout=42)
    assert provider.token() == "CANARY-AT-browser-5f5f"
    assert calls[-1]["timeout"] == 42


def test_browser_timeout(
    entra: FakeEntra,
    tls: TlsFiles,
    tmp_path: Path,
    no_extensions: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import msal

    def timeout(self: Any, scopes: list[str], **kwargs: Any) -> dict[str, Any]:
        raise msal.BrowserInteractionTimeoutError("User did not complete the flow in time")

    monkeypatch.setattr(msal.PublicClientApplication, "acquire_token_interactive", timeout)
    provider = auth.browser_provider(make_cfg(entra, tls), TokenCacheStore(tmp_path), timeout=5)
    with pytest.raises(AuthError) as info:
        provider.token()
    assert "not completed within 5 s" in clean(info.value)


def test_login_rejects_unknown_method(entra: FakeEntra, tls: TlsFiles, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        auth.login(make_cfg(entra, tls), TokenCacheStore(tmp_path), "password", print)
