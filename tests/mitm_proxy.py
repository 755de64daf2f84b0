"""A recording, TLS-intercepting HTTP proxy on 127.0.0.1 for tests (stdlib + cryptography).

The azfeeds process under test is pointed at it with ``HTTP_PROXY`` / ``HTTPS_PROXY``:

- a plain-http request through the proxy arrives whole (absolute URI, headers, body);
- ``CONNECT host:port`` is answered 200, then the proxy terminates TLS itself with a leaf
  certificate made on the fly for that host and signed by a CA made at test time
  (``REQUESTS_CA_BUNDLE`` points at it), and reads the requests inside the tunnel;
- a request sent straight to it (no proxy) is served as well, so the same class plays a foreign
  host reached directly (``http://127.0.0.1:PORT/...``).

Every request is recorded (target host, method, path, every header, body) and answered with
something plausible: a 401 challenge for the feeds API (``/_apis/``), 404 for anything else.
Nothing is ever forwarded: no byte leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RESOURCE_TENANT = "00000000-0000-0000-0000-0000000e0111"

__all__ = [
    "RESOURCE_TENANT",
    "CertAuthority",
    "MitmProxy",
    "Reply",
    "Seen",
    "default_reply",
]


# -- certificates ----------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class CertAuthority:
    """A CA made at test time, and a TLS server context per host name, signed by it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        self._not_before = now - datetime.timedelta(minutes=5)
        self._not_after = now + datetime.timedelta(days=2)
        self._key = ec.generate_private_key(ec.SECP256R1())
        public = self._key.public_key()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("azfeeds test interception CA"))
            .issuer_name(_name("azfeeds test interception CA"))
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_path = directory / "mitm-ca.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._leaf_key = ec.generate_private_key(ec.SECP256R1())
        self._leaf_key_path = directory / "mitm-leaf.key"
        self._leaf_key_path.write_bytes(
            self._leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self.hosts: list[str] = []  # every host a leaf certificate was made for

    def context_for(self, host: str) -> ssl.SSLContext:
        """A server context whose certificate names ``host`` (made on first use, then cached)."""
        host = host.lower().strip("[]")
        with self._lock:
            context = self._contexts.get(host)
            if context is None:
                context = self._make_context(host)
                self._contexts[host] = context
                self.hosts.append(host)
            return context

    def _make_context(self, host: str) -> ssl.SSLContext:
        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        public = self._leaf_key.public_key()
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name(host[:64]))
            .issuer_name(self.cert.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        digest = hashlib.sha256(host.encode()).hexdigest()[:16]
        chain = self.directory / f"leaf-{digest}.pem"
        chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(chain), str(self._leaf_key_path))
        return context


# -- what the proxy saw ----------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the proxy (or the direct listener) received it."""

    via: str  # "connect" (the CONNECT itself), "tunnel" (https inside it), "proxy" (plain http
    # through the proxy) or "direct" (sent straight to the listener)
    scheme: str  # the scheme of the URL the client asked for: "http" or "https"
    host: str  # lower case, no port
    port: int
    method: str
    target: str  # path and query as sent (the absolute URI for plain http through the proxy)
    headers: list[tuple[str, str]]  # every header, names as sent, in order
    body: bytes = b""
    run: str = ""  # set by the test: which azfeeds run sent it

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive name)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def path(self) -> str:
        """The path without the query ("" for a CONNECT)."""
        if self.via == "connect":
            return ""
        return urlsplit(self.target).path if "://" in self.target else self.target.split("?")[0]

    def basic_secrets(self) -> list[str]:
        """The decoded ``user:password`` of every Basic credential header."""
        out = []
        for name, value in self.headers:
            if name.lower() not in ("authorization", "proxy-authorization"):
                continue
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() != "basic":
                continue
            try:
                out.append(base64.b64decode(token.strip() + "==", validate=False).decode("latin-1"))
            except ValueError:
                out.append("<undecodable Basic credential>")
        return out

    def texts(self) -> list[str]:
        """Everything in the request that could carry a secret, raw and decoded."""
        body = self.body.decode("latin-1")
        return [
            self.host,
            self.target,
            unquote(self.target),
            *(f"{k}: {v}" for k, v in self.headers),
            *self.basic_secrets(),
            body,
            unquote(body.replace("+", " ")),
        ]

    def describe(self) -> str:
        """One line, for assertion messages (the test decides whether to show header values)."""
        return f"[{self.run}] {self.via} {self.method} {self.scheme}://{self.host}:{self.port}{self.path}"


# A reply: status, extra headers, JSON body.
Reply = tuple[int, dict[str, str], Any]


def default_reply(seen: Seen) -> Reply:
    """401 with an Entra challenge for the feeds API, 404 for anything else."""
    if "/_apis/" in seen.path.lower():
        return (
            401,
            {
                "WWW-Authenticate": (
                    "Bearer authorization_uri=https://login.microsoftonline.com/"
                    f'{RESOURCE_TENANT}, Basic realm="https://{seen.host}/"'
                ),
                "X-VSS-ResourceTenant": RESOURCE_TENANT,
                "X-TFS-ProcessId": "00000000-0000-0000-0000-000000000000",
            },
            {
                "$id": "1",
                "message": "TF400813: The user '' is not authorized to access this resource.",
                "typeName": "Microsoft.TeamFoundation.Framework.Server.UnauthorizedRequestException",
            },
        )
    return 404, {}, {"message": "not found"}


# -- the server ------------------------------------------------------------------------------


class _Writer:
    """A write-only file over a socket that always sends everything (like socketserver's)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def write(self, data: bytes) -> int:
        self._sock.sendall(data)
        return len(data)

    def flush(self) -> None:
        return

    def close(self) -> None:
        return

    @property
    def closed(self) -> bool:
        return False


def _split_hostport(text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    try:
        number = int(port) if port else default_port
    except ValueError:
        number = default_port
    return host.lower(), number


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection (and per tunnel)
    timeout = 10
    server: _Server

    _tunnel: tuple[str, int] | None = None
    _tls: ssl.SSLSocket | None = None

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    # -- CONNECT: answer 200, then be the server ourselves ---------------------------------

    def do_CONNECT(self) -> None:
        host, port = _split_hostport(self.path, 443)
        owner = self.server.owner
        owner.record(Seen("connect", "https", host, port, "CONNECT", self.path, self._headers()))
        self.send_response(200, "Connection established")
        self.end_headers()
        try:
            tls = owner.ca.context_for(host).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            owner.note(f"TLS handshake for {host}:{port} failed: {exc}")
            self.close_connection = True
            return
        self._tls = tls
        self._tunnel = (host, port)
        self.connection = tls
        self.rfile.close()  # nothing is buffered: the client waited for the 200
        self.rfile = tls.makefile("rb")
        self.wfile = _Writer(tls)  # type: ignore[assignment]
        self.close_connection = False  # read the request inside the tunnel next

    # -- every other method ------------------------------------------------------------------

    def _headers(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.headers.items()]

    def _body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        headers = self._headers()
        body = self._body()
        if self._tunnel is not None:
            host, port = self._tunnel
            seen = Seen("tunnel", "https", host, port, self.command, self.path, headers, body)
        elif "://" in self.path:
            parts = urlsplit(self.path)
            default = 443 if parts.scheme.lower() == "https" else 80
            host, port = _split_hostport(parts.netloc.rsplit("@", 1)[-1], default)
            seen = Seen("proxy", parts.scheme.lower(), host, port, self.command, self.path, headers)
            seen.body = body
        else:
            host, port = _split_hostport(self.headers.get("Host") or "", self.server.port)
            seen = Seen("direct", "http", host, port, self.command, self.path, headers, body)
        self.server.owner.record(seen)
        status, extra, payload = self.server.owner.reply(seen)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._tls is not None:
                with contextlib.suppress(OSError):
                    self._tls.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every handler thread
    owner: MitmProxy
    port: int

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        self.owner.note(f"handler error from {client_address}: {sys.exc_info()[1]!r}")


@dataclass
class MitmProxy:
    """The proxy / direct listener. ``start()``, point the client at ``url``, ``stop()``."""

    ca: CertAuthority
    reply: Callable[[Seen], Reply] = default_reply
    seen: list[Seen] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # handshake failures, handler errors
    _server: _Server | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _label: str = ""

    def start(self) -> MitmProxy:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        server.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> MitmProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def label(self, run: str) -> None:
        """Tag every request recorded from now on with ``run``."""
        with self._lock:
            self._label = run

    def record(self, seen: Seen) -> None:
        with self._lock:
            seen.run = self._label
            self.seen.append(seen)

    def note(self, text: str) -> None:
        with self._lock:
            self.notes.append(f"[{self._label}] {text}")

    def requests(self) -> list[Seen]:
        """Every recorded request except the CONNECTs themselves."""
        with self._lock:
            return [s for s in self.seen if s.via != "connect"]

    def per_host(self) -> Counter[str]:
        """How many requests (CONNECTs excluded) each host received."""
        return Counter(f"{s.scheme}://{s.host}" for s in self.requests())
