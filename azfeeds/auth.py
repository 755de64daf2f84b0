"""Microsoft Entra ID tokens for Azure DevOps: the only module that imports msal.

Every source of DESIGN.md section 6 that yields an Entra token is a ``TokenProvider``: service
principals (secret, certificate, federated assertion), managed identity, the Azure CLI, and the
user sign-in of ``azfeeds login`` (device code or browser, persisted in ``TokenCacheStore``).
Facts and msal calls: ``reference/auth.md``.

Rules kept here:

- msal and msal_extensions are imported inside functions only, so importing this module costs
  nothing (offline commands never load them); requests is reached through ``client`` only.
- Every secret loaded or received (client secrets, certificate passwords, assertions, access,
  refresh and id tokens) goes through ``register_secret`` before anything else happens to it.
- Errors are one ``AuthError`` naming the source, with msal's ``error`` / ``error_description``
  scrubbed, and a hint; no exception text from a transport library is passed on verbatim.
- App-only tokens live in memory only (one ``msal.TokenCache`` per provider). Each provider keeps
  its token until about five minutes before expiry, behind a lock, so that organizations resolved
  concurrently share one acquisition.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from . import __version__
from .errors import AuthError, AzfeedsError, FileError, UsageError
from .secrets import register_secret, scrub

log = logging.getLogger("azfeeds.auth")

ADO_SCOPE = "499b84ac-1321-427f-aa17-267ca6975798/.default"
ADO_RESOURCE = "499b84ac-1321-427f-aa17-267ca6975798"
DEFAULT_PUBLIC_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
GITHUB_AUDIENCE = "api://AzureADTokenExchange"

REFRESH_MARGIN = 300.0  # seconds before expiry at which a kept token is acquired again
HTTP_TIMEOUT = (10.0, 30.0)  # (connect, read) for every request azfeeds or msal sends here
CACHE_POLICIES = ("auto", "encrypted-only", "none")
ENCRYPTED_CACHE_NAME = "msal_token_cache.bin"
PLAIN_CACHE_NAME = "msal_token_cache.json"

_MULTI_TENANT = {"common", "organizations", "consumers"}
_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{0,253}\Z")
_AZ_TOKEN_RE = re.compile(r"\"accessToken\"\s*:\s*\"[^\"]*(\"|$)")
_WINDOWS = sys.platform == "win32"
_RELOGIN = "run 'azfeeds login' again"

# AADSTS codes worth a specific hint (Entra error reference).
_AADSTS_HINTS = {
    "AADSTS700016": "the application (client id) is not known in this tenant: "
    "check AZURE_CLIENT_ID and AZURE_TENANT_ID",
    "AADSTS90002": "the tenant does not exist: check AZURE_TENANT_ID",
    "AADSTS900023": "the tenant id is malformed: check AZURE_TENANT_ID",
    "AADSTS7000215": "the client secret is wrong: use the secret's value, not its id",
    "AADSTS7000222": "the client secret has expired: create a new one on the app registration",
    "AADSTS700027": "the certificate is not registered on the app registration (or has expired)",
    "AADSTS700024": "the client assertion is expired or not yet valid: check the clock",
    "AADSTS70021": "no federated identity credential on the app matches the token's issuer, "
    "subject and audience",
    "AADSTS700211": "no federated identity credential on the app matches the token's issuer",
    "AADSTS700213": "no federated identity credential on the app matches the token's subject",
    "AADSTS53003": "Conditional Access blocked the sign-in; ask your Entra administrator",
    "AADSTS50076": "multi-factor authentication is required: " + _RELOGIN,
    "AADSTS50079": "multi-factor authentication is required: " + _RELOGIN,
}


# -- configuration ---------------------------------------------------------------------------


def normalize_authority_host(value: str | None) -> str:
    """``AZURE_AUTHORITY_HOST`` as azure-identity reads it.

    Adds ``https://`` when no scheme is given, rejects any other scheme, strips trailing ``/``;
    empty means ``https://login.microsoftonline.com``.
    """
    text = (value or "").strip()
    if not text:
        return DEFAULT_AUTHORITY_HOST
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme.lower() != "https":
        raise AuthError(
            f"the Entra authority host must use https, not {parts.scheme or 'no scheme'}",
            hint="set AZURE_AUTHORITY_HOST to e.g. https://login.microsoftonline.com",
        )
    if not parts.hostname or "@" in parts.netloc or parts.query or parts.fragment:
        raise AuthError(
            "the Entra authority host is not a valid https URL",
            hint="set AZURE_AUTHORITY_HOST to e.g. https://login.microsoftonline.com",
        )
    return text.rstrip("/")


@dataclass(frozen=True)
class EntraConfig:
    """Where and as which app to ask Entra ID for tokens."""

    tenant: str | None = None  # tenant id or domain; None -> "organizations" for user flows
    client_id: str | None = None  # app id; user flows default to DEFAULT_PUBLIC_CLIENT_ID
    authority_host: str = DEFAULT_AUTHORITY_HOST  # normalised as azure-identity does
    session: Any = field(default=None, repr=False, compare=False)  # requests.Session for msal
    validate_authority: bool = True  # False for non-Microsoft (loopback test) authority hosts

    def __post_init__(self) -> None:
        object.__setattr__(self, "authority_host", normalize_authority_host(self.authority_host))


class TokenProvider(Protocol):
    """A source of Azure DevOps access tokens."""

    description: str  # names the source, used in every error

    def token(self) -> str:
        """An access token for Azure DevOps; raises AuthError."""
        ...


class CliUnavailable(AuthError):
    """The Azure CLI is missing or not signed in (``--auth auto`` moves on to the next source)."""


# -- msal plumbing ---------------------------------------------------------------------------


def _msal() -> Any:
    """The msal module, imported on first use (it has no type information: Any)."""
    return importlib.import_module("msal")


def _new_session() -> Any:
    from .client import new_session

    return new_session()


class _TimeoutHttpClient:
    """The msal ``http_client`` shape around a requests session, with a default timeout.

    requests has no session-wide timeout, and msal only adds one to sessions it builds itself.
    """

    def __init__(self, session: Any) -> None:
        self._session = session

    def get(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self._session.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", HTTP_TIMEOUT)
        return self._session.post(url, **kwargs)

    def close(self) -> None:
        self._session.close()


def _host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1] or url
    except ValueError:
        return "the server"


def _transport_problem(exc: BaseException, where: str) -> str:
    """A one-line description of a transport failure, from the exception class only."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "SSLError" in names or "SSLCertVerificationError" in names:
        return f"TLS certificate verification failed for {where}"
    if names & {"Timeout", "ConnectTimeout", "ReadTimeout", "TimeoutError"}:
        return f"{where} did not answer in time"
    if "ConnectionError" in names:
        return f"cannot connect to {where}"
    if "HTTPError" in names:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        return f"{where} answered with HTTP {status}" if status else f"{where} answered an error"
    if "JSONDecodeError" in names:
        return f"{where} answered with something that is not JSON"
    return f"the request to {where} failed ({type(exc).__name__})"


def _guarded(description: str, where: str, call: Callable[[], Any]) -> Any:
    """Run an msal call; any exception becomes one AuthError naming the source."""
    try:
        return call()
    except AuthError as exc:  # from our own callables (assertions): add the source
        if exc.message.startswith(description):
            raise
        raise AuthError(f"{description}: {exc.message}", hint=exc.hint) from None
    except AzfeedsError:
        raise
    except Exception as exc:
        text = str(exc)
        if isinstance(exc, ValueError) and (
            "authority configuration" in text or "OIDC Discovery" in text
        ):
            raise AuthError(
                f"{description}: {where} did not return the Entra ID configuration of the tenant",
                hint="check the tenant id (AZURE_TENANT_ID / --tenant) and AZURE_AUTHORITY_HOST",
            ) from None
        log.debug("%s: %s", description, type(exc).__name__)
        raise AuthError(
            f"{description}: {_transport_problem(exc, where)}",
            hint="check the network, proxies (HTTPS_PROXY) and REQUESTS_CA_BUNDLE",
        ) from None


def _register_result(result: Any) -> None:
    if isinstance(result, dict):
        for key in ("access_token", "refresh_token", "id_token", "device_code"):
            value = result.get(key)
            if isinstance(value, str):
                register_secret(value)


def _entra_error(description: str, result: Any, default_hint: str, what: str) -> AuthError:
    """An AuthError for an msal error dict (error + first line of error_description)."""
    error = str(result.get("error") or "unknown_error") if isinstance(result, dict) else "no answer"
    detail = str(result.get("error_description") or "") if isinstance(result, dict) else ""
    first = detail.strip().splitlines()[0].strip() if detail.strip() else ""
    text = scrub(f"{error}: {first}" if first else error)
    if len(text) > 400:
        text = text[:397] + "..."
    hint = default_hint
    for code, code_hint in _AADSTS_HINTS.items():
        if re.search(rf"\b{code}\b", detail):
            hint = code_hint
            break
    return AuthError(f"{description}: {what} ({text})", hint=hint)


def _accept(result: Any, description: str, hint: str) -> tuple[str, float]:
    """(token, expires_at) from an msal result dict, or AuthError."""
    _register_result(result)
    if not isinstance(result, dict) or not isinstance(result.get("access_token"), str):
        raise _entra_error(description, result, hint, "Entra ID did not issue a token")
    try:
        lifetime = float(result.get("expires_in", 0))
    except (TypeError, ValueError):
        lifetime = 0.0
    return str(result["access_token"]), time.time() + lifetime


def _authority(cfg: EntraConfig, *, user: bool, description: str) -> str:
    tenant = (cfg.tenant or "").strip()
    if not tenant:
        if not user:
            raise AuthError(
                f"{description}: a tenant is required",
                hint="set AZURE_TENANT_ID (or --tenant) to the tenant id of the app registration",
            )
        tenant = "organizations"
    if not _TENANT_RE.match(tenant):
        raise AuthError(
            f"{description}: the tenant {tenant!r} is not a tenant id or domain",
            hint="check AZURE_TENANT_ID / --tenant",
        )
    if not user and tenant.lower() in _MULTI_TENANT:
        raise AuthError(
            f"{description}: a service principal needs its own tenant, not '{tenant}'",
            hint="set AZURE_TENANT_ID to the tenant id (GUID) of the app registration",
        )
    return f"{cfg.authority_host}/{tenant}"


def _app_kwargs(cfg: EntraConfig, authority: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "authority": authority,
        "validate_authority": cfg.validate_authority,
        "http_client": _TimeoutHttpClient(
            cfg.session if cfg.session is not None else _new_session()
        ),
        "app_name": "azfeeds",
        "app_version": __version__,
    }
    if not cfg.validate_authority:
        kwargs["instance_discovery"] = False
    return kwargs


# -- the provider skeleton -------------------------------------------------------------------


class _Provider:
    """Keeps a token in memory until REFRESH_MARGIN before expiry; one acquisition at a time."""

    def __init__(self, description: str) -> None:
        self.description = description
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._force = False

    def token(self) -> str:
        """An access token for Azure DevOps (kept in memory while it is fresh)."""
        with self._lock:
            now = time.time()
            if (
                self._token is not None
                and not self._force
                and now < self._expires_at - REFRESH_MARGIN
            ):
                return self._token
            token, expires_at = self._fetch(self._force)
            register_secret(token)
            self._token, self._expires_at, self._force = token, expires_at, False
            return token

    def invalidate(self) -> None:
        """Forget the kept token; the next ``token()`` gets a new one (e.g. after a 401)."""
        with self._lock:
            self._token = None
            self._force = True

    def _fetch(self, force: bool) -> tuple[str, float]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


# -- service principals (confidential clients) -----------------------------------------------


class _ConfidentialProvider(_Provider):
    def __init__(
        self, cfg: EntraConfig, credential: Callable[[], Any], description: str, hint: str
    ) -> None:
        super().__init__(description)
        self._cfg = cfg
        self._credential = credential
        self._hint = hint
        self._authority = _authority(cfg, user=False, description=description)
        if not (cfg.client_id or "").strip():
            raise AuthError(
                f"{description}: a client id is required",
                hint="set AZURE_CLIENT_ID to the application (client) id of the app registration",
            )
        self._app: Any = None

    def _fetch(self, force: bool) -> tuple[str, float]:
        where = _host_of(self._authority)
        if self._app is None:
            msal = _msal()
            credential = self._credential()
            self._app = _guarded(
                self.description,
                where,
                lambda: msal.ConfidentialClientApplication(
                    str(self._cfg.client_id).strip(),
                    client_credential=credential,
                    token_cache=msal.TokenCache(),
                    **_app_kwargs(self._cfg, self._authority),
                ),
            )
        app = self._app
        if force:
            app.remove_tokens_for_client()
        result = _guarded(
            self.description, where, lambda: app.acquire_token_for_client(scopes=[ADO_SCOPE])
        )
        return _accept(result, self.description, self._hint)


def _sp_description(cfg: EntraConfig, how: str) -> str:
    return f"service principal (AZURE_CLIENT_ID={cfg.client_id}) with {how}"


_SP_HINT = (
    "check AZURE_TENANT_ID, AZURE_CLIENT_ID and the credential of the app registration; "
    "the service principal must also be added to the Azure DevOps organization"
)


def client_secret_provider(
    cfg: EntraConfig, secret: str, description: str | None = None
) -> TokenProvider:
    """A service principal that signs in with a client secret."""
    register_secret(secret)
    description = description or _sp_description(cfg, "a client secret (AZURE_CLIENT_SECRET)")
    if not secret.strip():
        raise AuthError(f"{description}: the client secret is empty")
    return _ConfidentialProvider(cfg, lambda: secret, description, _SP_HINT)


def _load_certificate(path: str, password: str | None, description: str) -> dict[str, Any]:
    """The msal ``client_credential`` for a PEM (key + certificate) or PKCS12 file.

    The file is checked here with cryptography, so that a wrong password or a file without a
    private key is reported before any network traffic.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuthError(
            f"{description}: cannot read the certificate file ({exc.strerror or type(exc).__name__})",
            hint="check AZURE_CLIENT_CERTIFICATE_PATH",
        ) from None
    pw = password.encode("utf-8") if password else None
    is_pfx_name = Path(path).suffix.lower() in (".pfx", ".p12")
    if not is_pfx_name and b"-----BEGIN" in data:
        text = data.decode("utf-8", errors="replace")
        if "PRIVATE KEY-----" not in text or "CERTIFICATE-----" not in text:
            raise AuthError(
                f"{description}: the PEM file must hold both the private key and the certificate",
                hint="concatenate the key and the certificate into one PEM file",
            )
        try:
            x509.load_pem_x509_certificate(data)
        except ValueError:
            raise AuthError(f"{description}: the certificate in the PEM file is invalid") from None
        try:
            load_pem_private_key(data, password=pw)
        except TypeError:  # a password was given for an unencrypted key, or none for an encrypted
            if pw is None:
                raise AuthError(
                    f"{description}: the private key is encrypted and no password was given",
                    hint="set AZURE_CLIENT_CERTIFICATE_PASSWORD",
                ) from None
            pw = None
        except ValueError:
            raise AuthError(
                f"{description}: cannot load the private key (wrong password or unsupported key)",
                hint="check AZURE_CLIENT_CERTIFICATE_PASSWORD",
            ) from None
        credential: dict[str, Any] = {"private_key": text, "public_certificate": text}
        if pw is not None and password:
            credential["passphrase"] = password
        return credential
    try:
        key, cert, _ = pkcs12.load_key_and_certificates(data, pw)
    except (ValueError, TypeError):
        raise AuthError(
            f"{description}: cannot load the certificate file as PEM or PKCS12 "
            "(wrong password or not a certificate)",
            hint="check AZURE_CLIENT_CERTIFICATE_PATH and AZURE_CLIENT_CERTIFICATE_PASSWORD",
        ) from None
    if key is None or cert is None:
        raise AuthError(
            f"{description}: the PKCS12 file must hold both the private key and the certificate"
        )
    pfx: dict[str, Any] = {"private_key_pfx_path": str(path)}
    if password:
        pfx["passphrase"] = password
    return pfx


def client_certificate_provider(
    cfg: EntraConfig,
    cert_path: str,
    password: str | None = None,
    send_chain: bool = False,
    description: str | None = None,
) -> TokenProvider:
    """A service principal that signs in with a certificate (PEM key+cert, or PFX/P12).

    The assertion carries the SHA-256 thumbprint (``x5t#S256``, PS256). ``send_chain`` adds
    ``x5c`` for PFX files; for PEM files msal (>= 1.35) always sends ``x5c``, which Entra only
    uses for subject-name/issuer authentication and otherwise ignores.
    """
    register_secret(password)
    description = description or _sp_description(cfg, f"certificate {cert_path}")
    credential = _load_certificate(cert_path, password, description)
    if "private_key_pfx_path" in credential:
        credential["public_certificate"] = bool(send_chain)
    return _ConfidentialProvider(cfg, lambda: dict(credential), description, _SP_HINT)


def client_assertion_provider(
    cfg: EntraConfig, get_assertion: Callable[[], str], description: str
) -> TokenProvider:
    """A service principal that signs in with a federated assertion (workload identity).

    msal gets a callable, so a fresh assertion is fetched whenever a token request goes out.
    """

    def assertion() -> str:
        value = get_assertion()
        register_secret(value)
        return value

    hint = (
        "check the federated credential on the app registration (issuer, subject, audience), "
        "AZURE_TENANT_ID and AZURE_CLIENT_ID"
    )
    return _ConfidentialProvider(cfg, lambda: {"client_assertion": assertion}, description, hint)


def federated_token_file(path: str) -> Callable[[], str]:
    """An assertion source reading ``path`` on every call (the file is rotated)."""

    def read() -> str:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise AuthError(
                f"cannot read the federated token file {path} ({reason})",
                hint="check AZURE_FEDERATED_TOKEN_FILE",
            ) from None
        register_secret(value)
        if not value:
            raise AuthError(
                f"the federated token file {path} is empty", hint="check AZURE_FEDERATED_TOKEN_FILE"
            )
        return value

    return read


def _json_body(response: Any) -> Any:
    try:
        return json.loads(response.content.decode("utf-8-sig"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _fetch_json(
    what: str, method: str, url: str, headers: dict[str, str], session: Any
) -> tuple[int, Any, str]:
    """(status, JSON body or None, content type) of one request; AuthError on transport errors."""
    own = session is None
    http = _new_session() if own else session
    try:
        response = http.request(
            method, url, headers=headers, timeout=HTTP_TIMEOUT, allow_redirects=False
        )
        return (
            int(response.status_code),
            _json_body(response),
            str(response.headers.get("Content-Type", "")),
        )
    except Exception as exc:
        raise AuthError(
            f"{what}: {_transport_problem(exc, _host_of(url))}",
            hint="check the network and proxies (HTTPS_PROXY)",
        ) from None
    finally:
        if own:
            http.close()


def github_oidc_assertion(
    request_url: str,
    request_token: str,
    audience: str = GITHUB_AUDIENCE,
    session: Any = None,
) -> Callable[[], str]:
    """An assertion source asking GitHub Actions for an OIDC ID token (on every call)."""
    register_secret(request_token)
    what = "GitHub Actions OIDC (ACTIONS_ID_TOKEN_REQUEST_URL)"
    separator = "&" if "?" in request_url else "?"
    url = f"{request_url}{separator}audience={quote(audience, safe='')}"

    def fetch() -> str:
        headers = {"Authorization": f"bearer {request_token}", "Accept": "application/json"}
        status, body, _ = _fetch_json(what, "GET", url, headers, session)
        value = body.get("value") if isinstance(body, dict) else None
        if status != 200 or not isinstance(value, str) or not value:
            raise AuthError(
                f"{what}: the ID token request failed (HTTP {status}"
                + ("" if status != 200 else ", no 'value' in the answer")
                + ")",
                hint="the job needs 'permissions: id-token: write'",
            )
        register_secret(value)
        return value

    return fetch


def pipelines_oidc_assertion(
    oidc_request_uri: str,
    service_connection_id: str,
    system_access_token: str,
    session: Any = None,
) -> Callable[[], str]:
    """An assertion source asking Azure Pipelines for a service connection's OIDC token."""
    register_secret(system_access_token)
    what = f"Azure Pipelines OIDC (service connection {service_connection_id})"
    separator = "&" if "?" in oidc_request_uri else "?"
    url = (
        f"{oidc_request_uri}{separator}api-version=7.1"
        f"&serviceConnectionId={quote(service_connection_id, safe='')}"
    )

    def fetch() -> str:
        headers = {
            "Authorization": f"Bearer {system_access_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-TFS-FedAuthRedirect": "Suppress",
        }
        status, body, ctype = _fetch_json(what, "POST", url, headers, session)
        value = body.get("oidcToken") if isinstance(body, dict) else None
        if status == 200 and isinstance(value, str) and value:
            register_secret(value)
            return value
        detail = ""
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            detail = ": " + scrub(str(body["message"]).splitlines()[0])[:200]
        if status in (203, 401) or "html" in ctype.lower():
            raise AuthError(
                f"{what}: SYSTEM_ACCESSTOKEN was rejected (HTTP {status}){detail}",
                hint="map it in the pipeline: env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)",
            )
        raise AuthError(
            f"{what}: the OIDC token request failed (HTTP {status}){detail}",
            hint="check the service connection id and that it uses workload identity federation",
        )

    return fetch


# -- managed identity ------------------------------------------------------------------------


class _ManagedIdentityProvider(_Provider):
    def __init__(self, client_id: str | None, session: Any, description: str) -> None:
        super().__init__(description)
        self._client_id = client_id
        self._session = session
        self._client: Any = None

    def _fetch(self, force: bool) -> tuple[str, float]:
        register_secret(os.environ.get("IDENTITY_HEADER"))
        register_secret(os.environ.get("MSI_SECRET"))
        if self._client is None or force:
            msal = _msal()
            identity = (
                msal.UserAssignedManagedIdentity(client_id=self._client_id)
                if self._client_id
                else msal.SystemAssignedManagedIdentity()
            )
            session = self._session if self._session is not None else _new_session()
            # Service Fabric needs the requests.Session itself (msal derives a pinned one).
            http = (
                session
                if os.environ.get("IDENTITY_SERVER_THUMBPRINT")
                else _TimeoutHttpClient(session)
            )
            self._client = msal.ManagedIdentityClient(
                identity, http_client=http, token_cache=msal.TokenCache()
            )
        client = self._client
        result = _guarded(
            self.description,
            "the managed identity endpoint",
            lambda: client.acquire_token_for_client(resource=ADO_RESOURCE),
        )
        return _accept(
            result,
            self.description,
            "is a managed identity assigned to this resource, and is it added to the Azure "
            "DevOps organization?",
        )


def managed_identity_provider(
    client_id: str | None = None, session: Any = None, description: str | None = None
) -> TokenProvider:
    """The managed identity of this Azure resource (system- or user-assigned)."""
    description = description or (
        f"managed identity (client id {client_id})"
        if client_id
        else "managed identity (system-assigned)"
    )
    return _ManagedIdentityProvider(client_id, session, description)


# -- Azure CLI -------------------------------------------------------------------------------


def azure_cli_available() -> bool:
    """Whether ``az`` is on PATH."""
    return shutil.which("az") is not None


def _sanitize_cli_output(text: str) -> str:
    text = _AZ_TOKEN_RE.sub('"accessToken": "****"', text)
    text = scrub(text)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first[:300]


def _cli_expiry(doc: dict[str, Any]) -> float | None:
    value = doc.get("expires_on")
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    legacy = doc.get("expiresOn")  # a naive local datetime (az < 2.54)
    if isinstance(legacy, str):
        fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in legacy else "%Y-%m-%d %H:%M:%S"
        try:
            return datetime.strptime(legacy.strip(), fmt).timestamp()
        except ValueError:
            return None
    return None


class _AzureCliProvider(_Provider):
    def __init__(self, tenant: str | None, timeout: float) -> None:
        super().__init__("Azure CLI (az account get-access-token)")
        self._tenant = (tenant or "").strip() or None
        self._timeout = timeout

    def _fetch(self, force: bool) -> tuple[str, float]:
        d = self.description
        az = shutil.which("az")
        if az is None:
            raise CliUnavailable(f"{d}: az was not found on PATH", hint="install the Azure CLI")
        args = [az, "account", "get-access-token", "--output", "json", "--resource", ADO_RESOURCE]
        if self._tenant:
            if not _TENANT_RE.match(self._tenant):
                raise AuthError(f"{d}: the tenant {self._tenant!r} is not a tenant id or domain")
            args += ["--tenant", self._tenant]
        cwd = os.environ.get("SYSTEMROOT", "C:\\Windows") if _WINDOWS else "/bin"
        env = dict(os.environ, AZURE_CORE_NO_COLOR="true")
        try:
            done = subprocess.run(  # fixed arguments, no shell
                args,
                cwd=cwd if os.path.isdir(cwd) else None,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                timeout=self._timeout,
                check=False,
            )
        except FileNotFoundError:
            raise CliUnavailable(
                f"{d}: az could not be started", hint="install the Azure CLI"
            ) from None
        except subprocess.TimeoutExpired:
            raise CliUnavailable(
                f"{d}: az did not answer within {self._timeout:g} s", hint="run 'az login' again"
            ) from None
        except OSError as exc:
            raise CliUnavailable(
                f"{d}: az could not be started ({exc.strerror or type(exc).__name__})"
            ) from None
        stderr = done.stderr or ""
        if done.returncode != 0:
            if done.returncode == 127 or "is not recognized as an internal" in stderr:
                raise CliUnavailable(f"{d}: az was not found", hint="install the Azure CLI")
            if "az login" in stderr or "az account set" in stderr:
                raise CliUnavailable(f"{d}: the Azure CLI is not signed in", hint="run 'az login'")
            problem = _sanitize_cli_output(stderr) or f"exit code {done.returncode}"
            raise AuthError(f"{d}: az failed: {problem}", hint="run 'az login' again")
        try:
            doc = json.loads(done.stdout)
        except ValueError:
            doc = None
        token = doc.get("accessToken") if isinstance(doc, dict) else None
        if isinstance(token, str):
            register_secret(token)
        expires_at = _cli_expiry(doc) if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token or expires_at is None:
            raise AuthError(
                f"{d}: az printed something that is not an access token "
                f"({len(done.stdout)} characters of output)",
                hint="update the Azure CLI (2.54 or later) and run 'az login' again",
            )
        return token, expires_at


def azure_cli_provider(tenant: str | None = None, timeout: float = 10.0) -> TokenProvider:
    """The Azure CLI's signed-in account (``az account get-access-token``); no msal involved."""
    return _AzureCliProvider(tenant, timeout)


# -- the persisted user token cache ----------------------------------------------------------


def default_cache_dir() -> Path:
    """Where ``azfeeds login`` keeps its token cache."""
    override = os.environ.get("AZFEEDS_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if _WINDOWS:
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "azfeeds"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "azfeeds"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "azfeeds"
    return Path.home() / ".cache" / "azfeeds"


class _EncryptionUnavailable(Exception):
    pass


def _registered(cache: Any) -> Any:
    """``cache``, after registering every token it holds as a secret."""
    kinds = _msal().TokenCache.CredentialType
    for kind in (kinds.ACCESS_TOKEN, kinds.REFRESH_TOKEN, kinds.ID_TOKEN):
        for entry in list(cache.search(kind)):
            secret = entry.get("secret")
            if isinstance(secret, str):
                register_secret(secret)
    return cache


def _chmod(path: Path, mode: int) -> bool:
    """Best-effort chmod (a no-op on Windows, where the profile directory's ACL applies)."""
    if _WINDOWS:
        return True
    try:
        os.chmod(path, mode)
        return True
    except OSError:
        return False


@dataclass
class TokenCacheStore:
    """The user token cache of ``azfeeds login``.

    Encrypted with msal-extensions where it works (DPAPI, Keychain, Secret Service); otherwise
    (policy ``auto``) a plaintext owner-only file with one warning; ``encrypted-only`` refuses the
    plaintext file; ``none`` keeps tokens in memory only.
    """

    directory: Path
    policy: str = "auto"
    warnings: list[str] = field(default_factory=list)
    _mode: str = field(default="", init=False, repr=False, compare=False)
    _warned: bool = field(default=False, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if self.policy not in CACHE_POLICIES:
            raise UsageError(
                f"unknown token cache policy {self.policy!r}",
                hint="use one of: " + ", ".join(CACHE_POLICIES),
            )

    def location(self) -> Path:
        """The cache file (encrypted or plaintext, whichever ``open`` uses)."""
        if self._mode == "encrypted":
            return self.directory / ENCRYPTED_CACHE_NAME
        if self._mode or self.policy == "none":
            return self.directory / PLAIN_CACHE_NAME
        if importlib.util.find_spec("msal_extensions") is not None:
            return self.directory / ENCRYPTED_CACHE_NAME
        return self.directory / PLAIN_CACHE_NAME

    def open(self) -> Any:
        """An msal token cache object for this store's policy."""
        msal = _msal()
        if self.policy == "none":
            self._mode = "memory"
            return msal.SerializableTokenCache()
        try:
            cache = self._open_encrypted()
        except _EncryptionUnavailable as exc:
            reason = str(exc)
        else:
            self._mode = "encrypted"
            return _registered(cache)
        if self.policy == "encrypted-only":
            raise AuthError(
                f"the token cache cannot be encrypted on this machine ({reason})",
                hint="install azfeeds[encrypted-cache] with a working keyring (on Linux: PyGObject "
                "and a Secret Service such as GNOME Keyring), or use the 'auto' cache policy",
            )
        self._mode = "plain"
        return _registered(self._open_plain(msal, reason))

    def _ensure_dir(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise FileError(
                f"cannot create the token cache directory ({exc.strerror or type(exc).__name__})",
                path=self.directory,
            ) from None
        if not _chmod(self.directory, 0o700):
            self._warn_once(f"could not make the token cache directory {self.directory} owner-only")

    def _warn_once(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
            log.warning("%s", text)

    def _open_encrypted(self) -> Any:
        try:
            extensions: Any = importlib.import_module("msal_extensions")
        except ImportError:
            raise _EncryptionUnavailable("msal-extensions is not installed") from None
        path = self.directory / ENCRYPTED_CACHE_NAME
        self._ensure_dir()
        try:
            persistence = extensions.build_encrypted_persistence(str(path))
            try:
                persistence.load()  # proves the keyring works (nothing saved yet is fine)
            except Exception as exc:
                if type(exc).__name__ != "PersistenceNotFound":
                    raise
            return extensions.PersistedTokenCache(persistence)
        except Exception as exc:
            reason = scrub(str(exc).splitlines()[0] if str(exc) else "")[:160]
            raise _EncryptionUnavailable(
                f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
            ) from None

    def _open_plain(self, msal: Any, reason: str) -> Any:
        path = self.directory / PLAIN_CACHE_NAME
        self._ensure_dir()
        if not self._warned:
            self._warned = True
            self._warn_once(
                f"the Entra token cache is not encrypted ({reason}); "
                f"it is kept in the owner-only file {path}"
            )
        cache = msal.SerializableTokenCache()
        try:
            if path.exists() and not _chmod(path, 0o600):
                self._warn_once(f"could not make the token cache file {path} owner-only")
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cache
        except (OSError, UnicodeDecodeError) as exc:
            raise FileError(
                f"cannot read the token cache ({getattr(exc, 'strerror', None) or type(exc).__name__})",
                path=path,
            ) from None
        try:
            valid = isinstance(json.loads(text), dict) if text.strip() else False
        except (ValueError, RecursionError):
            valid = False
        if valid:
            try:
                cache.deserialize(text)
                return cache
            except Exception:  # a cache msal cannot read: start again (login rewrites it)
                cache = msal.SerializableTokenCache()
        self._warn_once(f"the token cache file {path} is not readable; it is ignored")
        return cache

    def save(self, cache: Any) -> None:
        """Persist ``cache`` if it changed (the encrypted cache persists itself)."""
        if self._mode != "plain" or cache is None or not getattr(cache, "has_state_changed", False):
            return
        with self._lock:
            path = self.directory / PLAIN_CACHE_NAME
            state = str(cache.serialize())
            self._ensure_dir()
            tmp: str | None = None
            try:
                fd, tmp = tempfile.mkstemp(
                    prefix=".msal_token_cache.", suffix=".tmp", dir=self.directory
                )
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(state)
                    handle.flush()
                    os.fsync(handle.fileno())
                _chmod(Path(tmp), 0o600)
                os.replace(tmp, path)
                tmp = None
            except OSError as exc:
                raise FileError(
                    f"cannot write the token cache ({exc.strerror or type(exc).__name__})",
                    path=path,
                ) from None
            finally:
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)

    def clear(self) -> bool:
        """Delete the cache files (and lock or temporary files); True if a cache file went."""
        removed = False
        targets = [self.directory / ENCRYPTED_CACHE_NAME, self.directory / PLAIN_CACHE_NAME]
        extras = [Path(f"{p}.lockfile") for p in targets]
        if self.directory.is_dir():
            extras += list(self.directory.glob(".msal_token_cache.*.tmp"))
        for path in targets + extras:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise FileError(
                    f"cannot delete ({exc.strerror or type(exc).__name__})", path=path
                ) from None
            if path in targets:
                removed = True
        return removed


# -- user sign-in (public client) ------------------------------------------------------------


def _cached_accounts(cache: Any) -> list[dict[str, Any]]:
    accounts = cache.search(_msal().TokenCache.CredentialType.ACCOUNT)
    return [dict(a) for a in accounts]


class _UserProvider(_Provider):
    """Silent acquisition from the persisted cache, then (optionally) an interactive flow."""

    def __init__(
        self,
        cfg: EntraConfig,
        store: TokenCacheStore,
        description: str,
        interactive: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(description)
        self._cfg = cfg
        self._store = store
        self._interactive = interactive
        self._authority = _authority(cfg, user=True, description=description)
        self._cache: Any = None
        self._app: Any = None

    def _get_app(self) -> Any:
        if self._app is None:
            msal = _msal()
            if self._cache is None:
                self._cache = self._store.open()
            cache = self._cache
            client_id = (self._cfg.client_id or "").strip() or DEFAULT_PUBLIC_CLIENT_ID
            self._app = _guarded(
                self.description,
                _host_of(self._authority),
                lambda: msal.PublicClientApplication(
                    client_id, token_cache=cache, **_app_kwargs(self._cfg, self._authority)
                ),
            )
        return self._app

    def _silent(self, app: Any, force: bool) -> Any:
        accounts = app.get_accounts()
        if not accounts:
            return None
        return app.acquire_token_silent_with_error(
            [ADO_SCOPE], account=accounts[0], force_refresh=force
        )

    def _fetch(self, force: bool) -> tuple[str, float]:
        app = self._get_app()
        where = _host_of(self._authority)
        try:
            result = _guarded(self.description, where, lambda: self._silent(app, force))
            _register_result(result)
            if (result is None or "error" in result) and self._interactive is not None:
                result = self._interact(app)
                return _accept(result, self.description, "try the sign-in again")
        finally:
            self._store.save(self._cache)
        if result is None:
            raise AuthError(
                f"{self.description}: the token cache holds no usable sign-in; {_RELOGIN}",
                hint="the sign-in may have been made with another client id or tenant",
            )
        if "error" in result:
            raise _entra_error(
                self.description,
                result,
                _RELOGIN,
                f"the cached sign-in could not be renewed; {_RELOGIN}",
            )
        return _accept(result, self.description, _RELOGIN)

    def _interact(self, app: Any) -> Any:
        assert self._interactive is not None
        interactive = self._interactive
        result = _guarded(self.description, _host_of(self._authority), lambda: interactive(app))
        _register_result(result)
        return result

    def login(self) -> str:
        """Run the interactive flow now, keep only the new account, save; the username."""
        with self._lock:
            app = self._get_app()
            before = _cached_accounts(self._cache)
            try:
                result = self._interact(app)
                token, expires_at = _accept(result, self.description, "try 'azfeeds login' again")
                claims = result.get("id_token_claims") or {}
                username = str(claims.get("preferred_username") or claims.get("upn") or "unknown")
                if username != "unknown":
                    for account in before:
                        if str(account.get("username", "")).lower() != username.lower():
                            self._remove_account(app, account)
            finally:
                self._store.save(self._cache)
            self._token, self._expires_at, self._force = token, expires_at, False
            return username

    def _remove_account(self, app: Any, account: dict[str, Any]) -> None:
        for candidate in app.get_accounts():
            if candidate.get("home_account_id") == account.get("home_account_id"):
                app.remove_account(candidate)


def cached_user_provider(cfg: EntraConfig, store: TokenCacheStore) -> TokenProvider | None:
    """The sign-in kept by ``azfeeds login``, or None when the cache holds no account.

    With the ``encrypted-only`` policy on a machine that cannot encrypt, nothing can have been
    cached, so the answer is None too (``azfeeds login`` itself reports the problem).
    """
    try:
        cache = store.open()
    except AuthError:
        if store.policy != "encrypted-only":
            raise
        log.debug("no encrypted token cache on this machine: no cached sign-in")
        return None
    accounts = _cached_accounts(cache)
    if not accounts:
        return None
    username = str(accounts[0].get("username") or "unknown user")
    provider = _UserProvider(cfg, store, f"Entra sign-in from 'azfeeds login' ({username})")
    provider._cache = cache
    return provider


def device_code_provider(
    cfg: EntraConfig,
    store: TokenCacheStore,
    prompt: Callable[[str], object],
    timeout: float = 300.0,
) -> TokenProvider:
    """Sign in with a device code (``prompt`` shows the instructions, on stderr)."""
    description = "Entra device code sign-in"

    def interactive(app: Any) -> Any:
        flow = app.initiate_device_flow(scopes=[ADO_SCOPE])
        _register_result(flow)
        if not isinstance(flow, dict) or "user_code" not in flow:
            raise _entra_error(
                description,
                flow,
                "is 'Allow public client flows' enabled on the client app?",
                "the device code sign-in could not start",
            )
        prompt(str(flow.get("message") or f"Enter the code {flow['user_code']} to sign in."))
        deadline = time.time() + timeout

        def give_up(current: dict[str, Any]) -> bool:
            now = time.time()
            return now >= deadline or float(current.get("expires_at", 0)) < now

        result = app.acquire_token_by_device_flow(flow, exit_condition=give_up)
        if isinstance(result, dict) and result.get("error") in (
            "authorization_pending",
            "slow_down",
        ):
            raise AuthError(
                f"{description}: the sign-in was not completed within {timeout:g} s",
                hint="run 'azfeeds login' again and enter the code in time",
            )
        return result

    return _UserProvider(cfg, store, description, interactive)


def browser_provider(
    cfg: EntraConfig, store: TokenCacheStore, timeout: float = 300.0
) -> TokenProvider:
    """Sign in with the system browser (redirect to http://localhost)."""
    description = "Entra browser sign-in"

    def interactive(app: Any) -> Any:
        try:
            return app.acquire_token_interactive(
                scopes=[ADO_SCOPE], prompt="select_account", timeout=timeout, port=None
            )
        except Exception as exc:
            if "Timeout" in type(exc).__name__ or "Timeout" in str(exc):
                raise AuthError(
                    f"{description}: the sign-in was not completed within {timeout:g} s",
                    hint="run 'azfeeds login' again, or use --auth device-code without a browser",
                ) from None
            raise

    return _UserProvider(cfg, store, description, interactive)


def login(
    cfg: EntraConfig, store: TokenCacheStore, method: str, prompt: Callable[[str], object]
) -> str:
    """Sign in interactively and keep the result in ``store``; the signed-in username."""
    provider: TokenProvider
    if method == "device-code":
        provider = device_code_provider(cfg, store, prompt)
    elif method == "browser":
        provider = browser_provider(cfg, store)
        prompt("A browser window opens for the Entra ID sign-in; complete it there.")
    else:
        raise UsageError(
            f"unknown sign-in method {method!r}", hint="use 'device-code' or 'browser'"
        )
    assert isinstance(provider, _UserProvider)
    return provider.login()


def logout(cfg: EntraConfig, store: TokenCacheStore) -> bool:
    """Forget every cached account and token, delete the cache file; True if anything went.

    Entries are removed from the cache directly (the effect of ``app.remove_account``), so
    logging out needs no network.
    """
    removed = False
    if not store.directory.is_dir() or not any(store.directory.glob("msal_token_cache*")):
        return store.clear()
    try:
        cache = store.open()
    except AuthError:  # encryption refused: there is still a file to delete, maybe
        cache = None
    if cache is not None:
        kinds = _msal().TokenCache.CredentialType
        for kind in (
            kinds.ACCESS_TOKEN,
            kinds.REFRESH_TOKEN,
            kinds.ID_TOKEN,
            kinds.ACCOUNT,
            kinds.APP_METADATA,
        ):
            for entry in list(cache.search(kind)):
                cache.modify(kind, entry)
                removed = removed or kind == kinds.ACCOUNT
    return store.clear() or removed
