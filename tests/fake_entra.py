"""Loopback fakes of Microsoft Entra ID, managed identity endpoints and CI OIDC issuers.

Recipe B of ``reference/auth.md`` section 6: msal insists on an https authority, so the fake
authority serves TLS with a self-signed certificate for 127.0.0.1 made at test time; the managed
identity endpoints (IMDS, App Service) and the GitHub / Azure Pipelines OIDC endpoints are plain
http, as they are in real life. Each server runs in a thread and records every request so that
tests can assert on the wire. Nothing here contacts anything but 127.0.0.1.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADO_RESOURCE = "499b84ac-1321-427f-aa17-267ca6975798"
ADO_SCOPE = f"{ADO_RESOURCE}/.default"
USER_OID = "00000000-0000-0000-0000-0000000a11ce"
TENANT_ID = "00000000-0000-0000-0000-00000000beef"
USERNAME = "alice@contoso.example"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (alg none), good enough for id_tokens and fake federated assertions."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}."


# -- certificates ----------------------------------------------------------------------------


def _self_signed(key: rsa.RSAPrivateKey, name: str, *, server: bool) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if server:
        builder = (
            builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
    return builder.sign(key, hashes.SHA256())


@dataclass(frozen=True)
class TlsFiles:
    """The loopback server's certificate (also the client's CA bundle) and key."""

    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1, written to ``directory``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _self_signed(key, "127.0.0.1", server=True)
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsFiles(cert_path, key_path)


@dataclass(frozen=True)
class ClientCert:
    """A service principal certificate in both shapes azfeeds accepts."""

    pem: Path  # private key + certificate in one PEM file
    pem_encrypted: Path  # the same with the key encrypted with ``password``
    pfx: Path  # PKCS12, password protected
    password: str
    thumbprint_s256: str  # base64url SHA-256 of the DER certificate (x5t#S256)
    der_b64: str  # standard base64 DER (the x5c entry)
    public_key: rsa.RSAPublicKey


def make_client_cert(directory: Path, password: str) -> ClientCert:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _self_signed(key, "azfeeds-test-sp", server=False)
    der = cert.public_bytes(serialization.Encoding.DER)
    pem = directory / "sp.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    pem_encrypted = directory / "sp-encrypted.pem"
    pem_encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    pfx = directory / "sp.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"sp",
            key,
            cert,
            None,
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    return ClientCert(
        pem=pem,
        pem_encrypted=pem_encrypted,
        pfx=pfx,
        password=password,
        thumbprint_s256=b64url(hashlib.sha256(der).digest()),
        der_b64=base64.b64encode(der).decode("ascii"),
        public_key=key.public_key(),
    )


# -- the HTTP plumbing -----------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    form: dict[str, str]
    assertion_header: dict[str, Any] | None = None
    assertion_claims: dict[str, Any] | None = None
    signature_ok: bool | None = None


Reply = tuple[int, dict[str, Any]]


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread, optionally with TLS."""

    def __init__(self, route: Callable[[Recorded], Reply], tls: TlsFiles | None) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: no lingering threads

            def log_message(self, format: str, *args: Any) -> None:  # silence stderr
                return

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8") if length else ""
                form = {k: v[0] for k, v in parse_qs(body).items()}
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = Recorded(self.command, parts.path, query, headers, form)
                with outer._lock:
                    outer.requests.append(record)
                status, payload = route(record)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls.cert), str(tls.key))
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = int(self._httpd.server_address[1])
        self.base = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def find(self, path_suffix: str = "", **form: str) -> list[Recorded]:
        """Recorded requests whose path ends with ``path_suffix`` and whose form matches."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.path.endswith(path_suffix) and all(r.form.get(k) == v for k, v in form.items())
            ]


def _error(status: int, error: str, description: str) -> Reply:
    return status, {
        "error": error,
        "error_description": f"{description}\r\nTrace ID: 1f2e\r\nCorrelation ID: 3c4d\r\n"
        "Timestamp: 2026-01-01 00:00:00Z",
        "error_codes": [int(description[6:].split(":")[0])] if description[:6] == "AADSTS" else [],
    }


# -- the fake Entra ID authority -------------------------------------------------------------


class _Served:
    """Stop and base URL of a fake that serves through a _Server."""

    _server: _Server | None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def base(self) -> str:
        assert self._server is not None
        return self._server.base


@dataclass
class FakeEntra(_Served):
    """An https Entra authority: discovery, token endpoint (all grants), device code endpoint."""

    tls: TlsFiles
    token_prefix: str = "CANARY-AT"  # access tokens are f"{token_prefix}-{n}-q7Zx"
    refresh_token: str = "CANARY-RT-9b1f-initial"
    secrets: dict[str, str] = field(default_factory=dict)  # client id -> client secret
    certs: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)  # x5t#S256 -> public key
    known_tenants: set[str] = field(default_factory=lambda: {"tenant-a", "organizations"})
    app_lifetime: int = 3600  # expires_in of client-credential tokens
    user_lifetime: int = 3600  # expires_in of user tokens
    pending: int = 0  # authorization_pending answers before a device code succeeds
    issued: list[str] = field(default_factory=list)
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    _server: _Server | None = None

    def start(self) -> FakeEntra:
        self._server = _Server(self._route, self.tls)
        return self

    @property
    def requests(self) -> list[Recorded]:
        assert self._server is not None
        return list(self._server.requests)

    def token_posts(self, **form: str) -> list[Recorded]:
        assert self._server is not None
        return self._server.find("/oauth2/v2.0/token", **form)

    def _new_access_token(self) -> str:
        value = f"{self.token_prefix}-{next(self._counter):04d}-q7Zx"
        self.issued.append(value)
        return value

    def _route(self, r: Recorded) -> Reply:
        parts = r.path.strip("/").split("/")
        tenant = parts[0] if parts else ""
        if tenant not in self.known_tenants:
            return _error(400, "invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
        rest = "/".join(parts[1:])
        base = f"{self.base}/{tenant}"
        if r.method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            return 200, {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            }
        if r.method == "POST" and rest == "oauth2/v2.0/devicecode":
            return 200, {
                "device_code": "DEVCODE-7f3a-secret-ish",
                "user_code": "FAKE-CODE",
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 1,
                "message": "To sign in, use a web browser to open the page "
                "https://microsoft.com/devicelogin and enter the code FAKE-CODE to authenticate.",
            }
        if r.method == "POST" and rest == "oauth2/v2.0/token":
            return self._token(r, tenant)
        return 404, {"error": "not_found"}

    def _token(self, r: Recorded, tenant: str) -> Reply:
        grant = r.form.get("grant_type", "")
        if grant == "client_credentials":
            return self._client_credentials(r)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if self.pending > 0:
                self.pending -= 1
                return _error(400, "authorization_pending", "AADSTS70016: Pending end-user auth.")
            return 200, self._user_response(r, tenant)
        if grant == "refresh_token":
            if r.form.get("refresh_token") != self.refresh_token:
                return _error(400, "invalid_grant", "AADSTS70008: The refresh token has expired.")
            self.refresh_token = f"CANARY-RT-9b1f-{next(self._counter):04d}"
            return 200, self._user_response(r, tenant)
        return _error(400, "unsupported_grant_type", "AADSTS70003: unsupported grant type")

    def _client_credentials(self, r: Recorded) -> Reply:
        client_id = r.form.get("client_id", "")
        if "client_secret" in r.form:
            if self.secrets.get(client_id) != r.form["client_secret"]:
                # Nasty on purpose: the description echoes what was sent.
                return _error(
                    401,
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                    f"in the request is the client secret value; got {r.form['client_secret']}",
                )
        elif "client_assertion" in r.form:
            assertion = r.form["client_assertion"]
            head, body, signature = [*assertion.split("."), "", ""][:3]
            try:
                r.assertion_header = json.loads(b64url_decode(head))
                r.assertion_claims = json.loads(b64url_decode(body))
            except ValueError:
                return _error(400, "invalid_client", "AADSTS50027: malformed assertion")
            key = self.certs.get(str(r.assertion_header.get("x5t#S256", "")).rstrip("="))
            if key is not None:
                r.signature_ok = _verify_ps256(key, f"{head}.{body}", signature)
                if not r.signature_ok:
                    return _error(401, "invalid_client", "AADSTS700027: bad signature")
        else:
            return _error(400, "invalid_client", "AADSTS7000216: credential required")
        return 200, {
            "token_type": "Bearer",
            "expires_in": self.app_lifetime,
            "ext_expires_in": self.app_lifetime,
            "access_token": self._new_access_token(),
        }

    def _user_response(self, r: Recorded, tenant: str) -> dict[str, Any]:
        now = int(time.time())
        client_id = r.form.get("client_id", "")
        id_token = make_jwt(
            {
                "aud": client_id,
                "iss": f"{self.base}/{TENANT_ID}/v2.0",
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "name": "Alice",
                "oid": USER_OID,
                "preferred_username": USERNAME,
                "sub": "alice-subject",
                "tid": TENANT_ID,
                "ver": "2.0",
            }
        )
        return {
            "token_type": "Bearer",
            "scope": f"{ADO_RESOURCE}/user_impersonation {ADO_SCOPE}",
            "expires_in": self.user_lifetime,
            "ext_expires_in": self.user_lifetime,
            "access_token": self._new_access_token(),
            "refresh_token": self.refresh_token,
            "id_token": id_token,
            "client_info": b64url(json.dumps({"uid": USER_OID, "utid": TENANT_ID}).encode()),
        }


def _verify_ps256(key: rsa.RSAPublicKey, signed: str, signature: str) -> bool:
    try:
        key.verify(
            b64url_decode(signature),
            signed.encode("ascii"),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
            hashes.SHA256(),
        )
        return True
    except (InvalidSignature, ValueError):
        return False


# -- plain-http endpoints: managed identity and CI OIDC --------------------------------------


@dataclass
class FakeMetadata(_Served):
    """IMDS, App Service MI, GitHub Actions OIDC and Azure Pipelines OIDC on one http server."""

    token_prefix: str = "CANARY-MI"
    identity_header: str = "CANARY-IDHDR-51c0"
    github_request_token: str = "CANARY-GHREQ-8d2e"
    system_access_token: str = "CANARY-SYSAT-77aa"
    service_connection_id: str = "11111111-2222-3333-4444-555555555555"
    imds_error: bool = False
    served_assertions: list[str] = field(default_factory=list)
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    _server: _Server | None = None

    def start(self) -> FakeMetadata:
        self._server = _Server(self._route, None)
        return self

    def find(self, path_suffix: str) -> list[Recorded]:
        assert self._server is not None
        return self._server.find(path_suffix)

    def _assertion(self, issuer: str) -> str:
        value = make_jwt({"iss": issuer, "sub": "repo:o/r", "n": next(self._counter)})
        self.served_assertions.append(value)
        return value

    def _route(self, r: Recorded) -> Reply:
        n = next(self._counter)
        if r.path == "/metadata/identity/oauth2/token" and r.method == "GET":
            if r.headers.get("metadata") != "true":
                return 400, {"error": "invalid_request", "error_description": "Metadata header"}
            if self.imds_error:
                return 400, {
                    "error": "invalid_request",
                    "error_description": "Identity not found",
                }
            return 200, {
                "access_token": f"{self.token_prefix}-{n:04d}-imds",
                "expires_in": "3599",
                "expires_on": str(int(time.time()) + 3599),
                "resource": r.query.get("resource"),
                "token_type": "Bearer",
            }
        if r.path == "/msi/token" and r.method == "GET":
            if r.headers.get("x-identity-header") != self.identity_header:
                return 401, {"statusCode": 401, "message": "bad identity header"}
            return 200, {
                "access_token": f"{self.token_prefix}-{n:04d}-appsvc",
                "expires_on": str(int(time.time()) + 3600),
                "resource": r.query.get("resource"),
                "token_type": "Bearer",
            }
        if r.path == "/github/token" and r.method == "GET":
            if r.headers.get("authorization") != f"bearer {self.github_request_token}":
                return 401, {"message": "Unauthorized"}
            if r.query.get("audience") != "api://AzureADTokenExchange":
                return 400, {"message": "bad audience"}
            return 200, {"count": 1, "value": self._assertion("https://token.actions.example")}
        if r.path == "/pipelines/oidc" and r.method == "POST":
            if r.headers.get("authorization") != f"Bearer {self.system_access_token}":
                return 401, {"message": "TF400813: The user is not authorized."}
            if (
                r.query.get("api-version") != "7.1"
                or r.query.get("serviceConnectionId") != self.service_connection_id
                or r.headers.get("x-tfs-fedauthredirect") != "Suppress"
                or not r.headers.get("content-type", "").startswith("application/json")
            ):
                return 400, {"message": "bad request"}
            return 200, {"oidcToken": self._assertion("https://vstoken.dev.azure.example")}
        return 404, {"message": "not found"}
