"""Which credential each organization gets, and where a credential may go (DESIGN.md section 6).

Order for ``--auth auto``, per organization, first that applies:

1. ``--pat-file``, then ``AZFEEDS_PAT``, then ``AZURE_DEVOPS_EXT_PAT``;
2. the credential the user already gives a package client for an index of that organization
   (``clientcreds``): uv's ``UV_INDEX_<NAME>_PASSWORD``, Poetry's
   ``POETRY_HTTP_BASIC_<NAME>_PASSWORD`` or ``auth.toml``, PDM's ``pdm.toml`` or global config, a
   ``${VAR}`` that PDM or pip expands in the URL, or ``user:secret@`` written in the URL;
3. ``SYSTEM_ACCESSTOKEN`` when ``TF_BUILD`` is set (Azure Pipelines);
4. a service principal: ``AZURE_TENANT_ID`` + ``AZURE_CLIENT_ID`` + ``AZURE_CLIENT_SECRET`` or
   ``AZURE_CLIENT_CERTIFICATE_PATH``;
5. workload identity federation: ``AZURE_FEDERATED_TOKEN_FILE``, GitHub Actions OIDC, or an Azure
   Pipelines service connection;
6. managed identity, when its environment is detected;
7. the token cached by ``azfeeds login``;
8. the Azure CLI session;
9. device code, only on a terminal outside CI.

Where a credential may go: cloud-wide credentials (``--pat-file``, ``AZFEEDS_PAT``,
``AZURE_DEVOPS_EXT_PAT``, Entra tokens) go only to Azure DevOps Services hosts over https.
``SYSTEM_ACCESSTOKEN`` also goes to the host of ``SYSTEM_TEAMFOUNDATIONCOLLECTIONURI``. Any other
host (a server, a look-alike, loopback, an ``--api-url``) receives a credential only when it is the
own credential (step 2) of an index of that organization, or when the user named that host explicitly
(``--org <collection URL>`` or ``--api-url``) together with ``--pat-file``. Entra tokens may also go
to an explicitly named loopback host (tests and local proxies). Azure DevOps Server takes PATs only.

This module never imports msal: ``auth`` is imported only when an Entra source is used.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .client import Credential
from .clientcreds import ConfigFiles as ClientConfigFiles
from .clientcreds import IndexRef, own_credential, where_to_set
from .errors import AuthError, UsageError
from .secrets import register_secret
from .urls import shown_host

if TYPE_CHECKING:
    from .auth import TokenProvider

log = logging.getLogger("azfeeds.credentials")

AUTH_METHODS = (
    "auto",
    "pat",
    "pipeline",
    "service-principal",
    "workload-identity",
    "managed-identity",
    "azure-cli",
    "device-code",
    "browser",
)
_AZURE_SERVICE_SUFFIXES = (".dev.azure.com", ".visualstudio.com")
_AZURE_SERVICE_HOSTS = frozenset({"dev.azure.com"})
KNOWN_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.microsoftonline.de",
        "login.windows.net",
        "login.microsoft.com",
        "login.sts.microsoft.com",
    }
)
_CI_MARKERS = ("CI", "TF_BUILD", "GITHUB_ACTIONS", "BUILD_BUILDID", "GITLAB_CI", "JENKINS_URL")


@dataclass(frozen=True)
class Target:
    """Where one organization's feeds API lives, and what the run knows about it."""

    name: str  # organization or collection name
    api_base: str  # ``{api}/<org>`` or the collection URL; /_apis/packaging/feeds is appended
    cloud: bool  # an Azure DevOps Services organization
    explicit: bool  # the user named this host (--org <collection URL> or --api-url)
    indexes: tuple[IndexRef, ...] = ()  # this organization's indexes, as their clients see them


def host_of(url: str) -> str:
    """Lower-case host without port or userinfo."""
    rest = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].lower()
    if rest.startswith("["):
        return rest[1:].split("]", 1)[0]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def is_https(url: str) -> bool:
    """True for an https URL."""
    return url.lower().startswith("https://")


def is_azure_services_host(host: str) -> bool:
    """A host of Azure DevOps Services (dev.azure.com and its subdomains, *.visualstudio.com)."""
    host = host.lower().rstrip(".")
    return host in _AZURE_SERVICE_HOSTS or host.endswith(_AZURE_SERVICE_SUFFIXES)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cloud_wide_allowed(target: Target) -> bool:
    """May a cloud-wide credential be sent to this target?

    Only an Azure DevOps Services organization (its URLs on pkgs.dev.azure.com or
    <org>.pkgs.visualstudio.com), whose API is on an Azure DevOps Services host, over https. A
    server URL never qualifies, whatever its host name says (``evilpkgs.dev.azure.com``).
    """
    return (
        target.cloud
        and is_https(target.api_base)
        and is_azure_services_host(host_of(target.api_base))
    )


def in_ci(env: Mapping[str, str]) -> bool:
    """Running under a CI system."""
    return any(env.get(marker) for marker in _CI_MARKERS)


@dataclass(frozen=True)
class AuthSettings:
    """Authentication options of one run."""

    method: str = "auto"
    pat_file: str | None = None  # a path, or "-" for stdin
    tenant: str | None = None
    client_id: str | None = None  # public client id for user sign-in
    interactive: bool = False  # stdin and stderr are terminals
    cache_policy: str = "auto"


class Broker:
    """Hands each target its credential, following the order and the placement rules."""

    def __init__(
        self,
        settings: AuthSettings,
        env: Mapping[str, str] | None = None,
        *,
        prompt: Callable[[str], None] | None = None,
        discover_tenant: Callable[[str], str | None] | None = None,
        session_factory: Callable[[], Any] | None = None,
    ) -> None:
        if settings.method not in AUTH_METHODS:
            raise UsageError(f"--auth must be one of {', '.join(AUTH_METHODS)}")
        self.settings = settings
        self.env = dict(os.environ if env is None else env)
        self.prompt: Callable[[str], None] = prompt or _stderr_prompt
        self.discover_tenant = discover_tenant
        self.session_factory = session_factory
        self.warnings: list[str] = []
        self._lock = threading.Lock()
        self._entra: dict[str, TokenProvider | None] = {}
        self._pat_file_value: str | None = None
        for name in (
            "AZFEEDS_PAT",
            "AZURE_DEVOPS_EXT_PAT",
            "SYSTEM_ACCESSTOKEN",
            "AZURE_CLIENT_SECRET",
        ):
            register_secret(self.env.get(name))
        for key, value in self.env.items():
            if key.startswith(("UV_INDEX_", "POETRY_HTTP_BASIC_")) and key.endswith("_PASSWORD"):
                register_secret(value)
        self._client_files = ClientConfigFiles(self.env)
        if settings.pat_file is not None:
            self._pat_file_value = _read_pat_file(settings.pat_file)

    # -- public ---------------------------------------------------------------------------

    def credential_for(self, target: Target) -> Credential | None:
        """The credential for a target (None: try without one). Raises AuthError."""
        method = self.settings.method
        steps: list[Callable[[Target], Credential | None]]
        if method == "auto":
            steps = [
                self._pat,
                self._own_index,
                self._pipeline,
                self._service_principal,
                self._workload_identity,
                self._managed_identity,
                self._cached_login,
                self._azure_cli,
                self._device_code,
            ]
        else:
            steps = [self._pinned]
        for step in steps:
            credential = step(target)
            if credential is not None:
                log.info("organization '%s': using %s", target.name, credential.source)
                return credential
        return None

    # -- sources --------------------------------------------------------------------------

    def _pat(self, target: Target, pinned: bool = False) -> Credential | None:
        if self._pat_file_value is not None:
            if cloud_wide_allowed(target) or target.explicit:
                self._warn_plain_http(target)
                return Credential("--pat-file", "basic", self._pat_file_value)
            self._refuse(
                target, "--pat-file", "the host was not named with --org <URL> or --api-url"
            )
        for name in ("AZFEEDS_PAT", "AZURE_DEVOPS_EXT_PAT"):
            value = self.env.get(name)
            if not value:
                continue
            if cloud_wide_allowed(target):
                return Credential(name, "basic", value)
            self._refuse(
                target, name, "it is sent only to Azure DevOps Services organizations over https"
            )
        return None

    def _own_index(self, target: Target) -> Credential | None:
        """Step 2: the credential a package client already has for an index of this organization.

        It goes to this organization only (the indexes are grouped by organization), to its
        feeds API, whatever the host: the user already gives it to that host.
        """
        for ref in target.indexes:
            with self._lock:
                lookup = own_credential(ref, self.env, self._client_files)
                for warning in [*self._client_files.warnings, *lookup.warnings]:
                    if warning not in self.warnings:
                        self.warnings.append(warning)
                        log.info("%s", warning)
            if lookup.found is not None:
                register_secret(lookup.found.password)
                self._warn_plain_http(target)
                return Credential(lookup.found.source, "basic", lookup.found.password)
        return None

    def _pipeline(self, target: Target) -> Credential | None:
        token = self.env.get("SYSTEM_ACCESSTOKEN")
        if not token or not self.env.get("TF_BUILD"):
            return None
        collection = self.env.get("SYSTEM_TEAMFOUNDATIONCOLLECTIONURI") or self.env.get(
            "SYSTEM_COLLECTIONURI", ""
        )
        same_host = bool(collection) and host_of(collection) == host_of(target.api_base)
        if cloud_wide_allowed(target) or same_host:
            return Credential("SYSTEM_ACCESSTOKEN", "bearer", token)
        self._refuse(target, "SYSTEM_ACCESSTOKEN", "the host is not this pipeline's collection")
        return None

    def _entra_allowed(self, target: Target, source: str) -> bool:
        if not target.cloud:
            self._refuse(
                target, source, "it is a server URL, and Azure DevOps Server takes PATs only"
            )
            return False
        if cloud_wide_allowed(target):
            return True
        if target.explicit and is_loopback(host_of(target.api_base)):
            return True
        self._refuse(target, source, "Entra tokens go only to Azure DevOps Services over https")
        return False

    def refreshed(self, credential: Credential) -> Credential | None:
        """A new token from the same Entra source (after a 401), or None."""
        if not credential.entra:
            return None
        with self._lock:
            provider = next(
                (p for p in self._entra.values() if p and p.description == credential.source), None
            )
        invalidate = getattr(provider, "invalidate", None)
        if provider is None or invalidate is None:
            return None
        invalidate()
        token = provider.token()
        register_secret(token)
        if token == credential.secret:
            return None
        return Credential(provider.description, "bearer", token, entra=True)

    def _entra_credential(
        self, target: Target, key: str, build: Callable[[], TokenProvider | None]
    ) -> Credential | None:
        if not self._entra_allowed(target, key):
            return None
        with self._lock:
            if key not in self._entra:
                self._entra[key] = build()
            provider = self._entra[key]
        if provider is None:
            return None
        token = provider.token()
        register_secret(token)
        return Credential(provider.description, "bearer", token, entra=True)

    def _config(self, tenant: str | None, client_id: str | None) -> Any:
        session = self.session_factory() if self.session_factory else None
        return entra_config(self.env, tenant, client_id, session)

    def _service_principal(self, target: Target) -> Credential | None:
        tenant, client = self.env.get("AZURE_TENANT_ID"), self.env.get("AZURE_CLIENT_ID")
        secret = self.env.get("AZURE_CLIENT_SECRET")
        cert = self.env.get("AZURE_CLIENT_CERTIFICATE_PATH")
        if not (tenant and client and (secret or cert)):
            return None

        def build() -> TokenProvider:
            from . import auth

            cfg = self._config(tenant, client)
            if secret:
                return auth.client_secret_provider(
                    cfg, secret, description=f"service principal {client} (AZURE_CLIENT_SECRET)"
                )
            assert cert is not None
            password = self.env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD")
            register_secret(password)
            return auth.client_certificate_provider(
                cfg,
                cert,
                password,
                send_chain=self.env.get("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "").lower()
                in ("1", "true"),
                description=f"service principal {client} (AZURE_CLIENT_CERTIFICATE_PATH)",
            )

        return self._entra_credential(target, "service-principal", build)

    def _workload_identity(self, target: Target) -> Credential | None:
        env = self.env
        tenant, client = env.get("AZURE_TENANT_ID"), env.get("AZURE_CLIENT_ID")
        token_file = env.get("AZURE_FEDERATED_TOKEN_FILE")
        gh_url, gh_token = (
            env.get("ACTIONS_ID_TOKEN_REQUEST_URL"),
            env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        )
        connection = env.get("AZFEEDS_SERVICE_CONNECTION_ID") or env.get(
            "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"
        )
        oidc_uri, system_token = env.get("SYSTEM_OIDCREQUESTURI"), env.get("SYSTEM_ACCESSTOKEN")
        register_secret(gh_token)
        if token_file and tenant and client:

            def build_file() -> TokenProvider:
                from . import auth

                return auth.client_assertion_provider(
                    self._config(tenant, client),
                    auth.federated_token_file(token_file),
                    description=f"workload identity {client} (AZURE_FEDERATED_TOKEN_FILE)",
                )

            return self._entra_credential(target, "workload-identity-file", build_file)
        if gh_url and gh_token and tenant and client:

            def build_github() -> TokenProvider:
                from . import auth

                session = self.session_factory() if self.session_factory else None
                audience = env.get("AZFEEDS_OIDC_AUDIENCE", "api://AzureADTokenExchange")
                return auth.client_assertion_provider(
                    self._config(tenant, client),
                    auth.github_oidc_assertion(gh_url, gh_token, audience, session=session),
                    description=f"workload identity {client} (GitHub Actions OIDC)",
                )

            return self._entra_credential(target, "workload-identity-github", build_github)
        p_client = env.get("AZURESUBSCRIPTION_CLIENT_ID") or client
        p_tenant = env.get("AZURESUBSCRIPTION_TENANT_ID") or tenant
        if connection and oidc_uri and system_token and p_client and p_tenant:

            def build_pipeline() -> TokenProvider:
                from . import auth

                session = self.session_factory() if self.session_factory else None
                return auth.client_assertion_provider(
                    self._config(p_tenant, p_client),
                    auth.pipelines_oidc_assertion(
                        oidc_uri, connection, system_token, session=session
                    ),
                    description=f"workload identity {p_client} (Azure Pipelines service connection)",
                )

            return self._entra_credential(target, "workload-identity-pipelines", build_pipeline)
        return None

    def _managed_identity(self, target: Target, pinned: bool = False) -> Credential | None:
        env = self.env
        detected = (env.get("IDENTITY_ENDPOINT") and env.get("IDENTITY_HEADER")) or env.get(
            "MSI_ENDPOINT"
        )
        wanted = env.get("AZFEEDS_MANAGED_IDENTITY", "").lower() in ("1", "true", "yes")
        if not (detected or wanted or pinned):
            return None
        client = env.get("AZURE_CLIENT_ID")

        def build() -> TokenProvider:
            from . import auth

            session = self.session_factory() if self.session_factory else None
            what = f"user-assigned {client}" if client else "system-assigned"
            return auth.managed_identity_provider(
                client, session=session, description=f"managed identity ({what})"
            )

        return self._entra_credential(target, "managed-identity", build)

    def _tenant_for(self, target: Target) -> str | None:
        tenant = self.settings.tenant or self.env.get("AZURE_TENANT_ID")
        if tenant:
            return tenant
        if self.discover_tenant is not None:
            from .client import feeds_url

            return self.discover_tenant(feeds_url(target.api_base))
        return None

    def _store(self) -> Any:
        from .auth import TokenCacheStore, default_cache_dir

        store = TokenCacheStore(default_cache_dir(), policy=self.settings.cache_policy)
        return store

    def _cached_login(self, target: Target) -> Credential | None:
        from .auth import default_cache_dir

        directory = default_cache_dir()
        if not directory.is_dir() or not any(directory.iterdir()):
            return None
        if not self._entra_allowed(target, "the 'azfeeds login' token"):
            return None

        def build() -> TokenProvider | None:
            from . import auth

            cfg = self._config(self._tenant_for(target), self.settings.client_id)
            store = self._store()
            provider = auth.cached_user_provider(cfg, store)
            self.warnings.extend(getattr(store, "warnings", []))
            return provider

        return self._entra_credential(target, "cached-login", build)

    def _azure_cli(self, target: Target, pinned: bool = False) -> Credential | None:
        from . import auth

        if not pinned and not auth.azure_cli_available():
            return None
        if not self._entra_allowed(target, "the Azure CLI token"):
            return None

        def build() -> TokenProvider:
            return auth.azure_cli_provider(self.settings.tenant or self.env.get("AZURE_TENANT_ID"))

        try:
            return self._entra_credential(target, "azure-cli", build)
        except auth.CliUnavailable:
            if pinned:
                raise
            with self._lock:
                self._entra["azure-cli"] = None
            return None

    def _device_code(self, target: Target, pinned: bool = False) -> Credential | None:
        if not pinned and (not self.settings.interactive or in_ci(self.env)):
            return None

        def build() -> TokenProvider:
            from . import auth

            cfg = self._config(self._tenant_for(target), self.settings.client_id)
            cached = auth.cached_user_provider(cfg, self._store())
            if cached is not None:
                return cached
            return auth.device_code_provider(cfg, self._store(), self.prompt)

        return self._entra_credential(target, "device-code", build)

    def _browser(self, target: Target) -> Credential | None:
        def build() -> TokenProvider:
            from . import auth

            cfg = self._config(self._tenant_for(target), self.settings.client_id)
            cached = auth.cached_user_provider(cfg, self._store())
            if cached is not None:
                return cached
            return auth.browser_provider(cfg, self._store())

        return self._entra_credential(target, "browser", build)

    # -- --auth <method> ------------------------------------------------------------------

    def _pinned(self, target: Target) -> Credential | None:
        method = self.settings.method
        found: Credential | None
        if method == "pat":
            found = self._pat(target) or self._own_index(target)
            own = list(dict.fromkeys(where_to_set(ref) for ref in target.indexes))
            need = "--pat-file, AZFEEDS_PAT, AZURE_DEVOPS_EXT_PAT" + (
                f" or {' or '.join(own)}" if own else ""
            )
        elif method == "pipeline":
            found = self._pipeline(target)
            need = "SYSTEM_ACCESSTOKEN (mapped from $(System.AccessToken)) and TF_BUILD"
        elif method == "service-principal":
            found = self._service_principal(target)
            need = "AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH"
        elif method == "workload-identity":
            found = self._workload_identity(target)
            need = (
                "AZURE_TENANT_ID and AZURE_CLIENT_ID with AZURE_FEDERATED_TOKEN_FILE, or GitHub "
                "OIDC (permissions: id-token: write), or an Azure Pipelines service connection"
            )
        elif method == "managed-identity":
            found = self._managed_identity(target, pinned=True)
            need = "a managed identity environment"
        elif method == "azure-cli":
            found = self._azure_cli(target, pinned=True)
            need = "'az login'"
        elif method == "device-code":
            found = self._device_code(target, pinned=True)
            need = "a terminal"
        else:
            found = self._browser(target)
            need = "a desktop browser"
        if found is None:
            blocked = [w for w in self.warnings if f"'{target.name}'" in w]
            reason = (
                blocked[-1] if blocked else f"--auth {method} is not configured: it needs {need}"
            )
            raise AuthError(f"organization '{target.name}': {reason}")
        return found

    # -- helpers --------------------------------------------------------------------------

    def _refuse(self, target: Target, source: str, why: str) -> None:
        message = (
            f"not sending {source} to {shown_host(host_of(target.api_base))} for organization "
            f"'{target.name}': {why}"
        )
        if message not in self.warnings:
            self.warnings.append(message)
            log.info("%s", message)

    def _warn_plain_http(self, target: Target) -> None:
        host = host_of(target.api_base)
        if not is_https(target.api_base) and not is_loopback(host):
            message = f"sending a PAT to {shown_host(host)} over plain http; use https"
            if message not in self.warnings:
                self.warnings.append(message)


def entra_config(
    env: Mapping[str, str], tenant: str | None, client_id: str | None, session: Any = None
) -> Any:
    """The EntraConfig for a run: authority from AZURE_AUTHORITY_HOST (imports ``auth``)."""
    from .auth import EntraConfig, normalize_authority_host

    authority = normalize_authority_host(env.get("AZURE_AUTHORITY_HOST"))
    return EntraConfig(
        tenant=tenant,
        client_id=client_id,
        authority_host=authority,
        session=session,
        # msal validates only hosts it knows; others were chosen by whoever set the variable
        validate_authority=host_of(authority) in KNOWN_AUTHORITY_HOSTS,
    )


def _stderr_prompt(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _read_pat_file(spec: str) -> str:
    if spec == "-":
        value = sys.stdin.readline()
        source = "standard input"
    else:
        path = Path(spec)
        try:
            value = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise AuthError(
                f"--pat-file {spec}: cannot read it ({exc.strerror})",
                hint="give --pat-file a readable file that holds the PAT alone on one line, "
                "or '-' to read the PAT from standard input",
            ) from None
        source = spec
    value = value.strip()
    where = "on standard input" if spec == "-" else "in the file"
    if not value:
        raise AuthError(
            f"--pat-file: {source} holds no PAT",
            hint=f"give a PAT with the Packaging (Read) scope {where}, alone on one line",
        )
    if any(ch.isspace() for ch in value):
        raise AuthError(
            f"--pat-file: {source} must hold the PAT alone, on one line",
            hint=f"give only the PAT {where}: no user name, no other words or lines",
        )
    register_secret(value)
    return value
