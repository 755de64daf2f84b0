"""Shared fixtures: an isolated environment for every test, and the emulator factory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_client import emulator_factory  # noqa: F401  (a fixture)
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("AZFEEDS_HYPOTHESIS_PROFILE", "default"))

_ISOLATED_PREFIXES = (
    "AZFEEDS_",
    "UV_INDEX_",
    "AZURE_",
    "AZURESUBSCRIPTION_",
    "ACTIONS_ID_TOKEN_",
    "SYSTEM_",
    "IDENTITY_",
    "MSI_",
    "IMDS_",
    "UV_",
    "POETRY_",
    "PDM_",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_CONFIG_FILE",
    "VSS_NUGET_",
    "ARTIFACTS_CREDENTIALPROVIDER_",
)
_ISOLATED = {
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "NO_COLOR",
    "FORCE_COLOR",
    "PIP_INDEX_URL",  # doctor reports the index variables of the environment
    "PIP_EXTRA_INDEX_URL",
}


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """No credential, cache or proxy of the machine leaks into a test."""
    for key in list(os.environ):
        if key.startswith(_ISOLATED_PREFIXES) or key in _ISOLATED:
            monkeypatch.delenv(key, raising=False)
    cache = tmp_path_factory.mktemp("azfeeds-cache")
    monkeypatch.setenv("AZFEEDS_CACHE_DIR", str(cache))
    # Poetry's auth.toml and PDM's global config of the machine are never read by a test
    clients = tmp_path_factory.mktemp("client-config")
    monkeypatch.setenv("POETRY_CONFIG_DIR", str(clients / "pypoetry"))
    monkeypatch.setenv("PDM_CONFIG_FILE", str(clients / "pdm" / "config.toml"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # The user's own uv/pip config and netrc stay out of doctor (system files are the machine's).
    outside = tmp_path_factory.mktemp("outside")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(outside / "config"))
    monkeypatch.setenv("NETRC", str(outside / "netrc"))
    yield


FIXTURES = Path(__file__).parent / "fixtures"
