"""Error hints seen by a new user: each must name a fix that works, never one that was just refused."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config
from helpers import run_cli

CANARY = "canary-hint-" + secrets.token_hex(6)


def test_no_credential_hint_behind_api_url_does_not_offer_the_refused_pat(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AZFEEDS_PAT is refused for an http --api-url: the hint must not say 'set AZFEEDS_PAT'."""
    emu: Emulator = emulator_factory(sample_config())
    monkeypatch.setenv("AZFEEDS_PAT", CANARY)
    result = run_cli(["map", "--org", "orgA", "--api-url", emu.url], cwd=tmp_path)
    assert result.code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("azfeeds: warning: not sending AZFEEDS_PAT to 127.0.0.1")
    hint = next(line for line in lines if line.startswith("azfeeds: hint: "))
    assert "set AZFEEDS_PAT" not in hint and "azfeeds login" not in hint, hint
    assert "--pat-file FILE" in hint, hint
    assert [r["credential"] for r in emu.log() if r["route"] == "feeds"] == [None]
    assert CANARY not in result.output

    # and the fix the hint names works
    pat = tmp_path / "pat"
    pat.write_text("pat-a\n")
    fixed = run_cli(
        ["map", "--org", "orgA", "--api-url", emu.url, "--pat-file", str(pat)], cwd=tmp_path
    )
    assert fixed.code == 0, fixed.output


@pytest.mark.parametrize(
    ("content", "said", "fix"),
    [
        (None, "cannot read it (No such file or directory)", "a readable file"),
        ("", "holds no PAT", "give a PAT with the Packaging (Read) scope in the file"),
        ("user " + CANARY + "\n", "must hold the PAT alone", "give only the PAT in the file"),
    ],
)
def test_a_bad_pat_file_is_one_error_and_a_hint_that_names_the_fix(
    tmp_path: Path, content: str | None, said: str, fix: str
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "a"\n'
        'url = "https://pkgs.dev.azure.com/orgA/P/_packaging/f/pypi/simple/"\n'
    )
    pat = tmp_path / "pat.txt"
    if content is not None:
        pat.write_text(content)
    result = run_cli(["rewrite", "--check", "--pat-file", str(pat)], cwd=tmp_path)
    assert result.code == 3, result.output
    error, hint = result.stderr.strip().splitlines()
    assert error.startswith("azfeeds: error: --pat-file") and said in error, error
    assert hint.startswith("azfeeds: hint: ") and fix in hint, hint
    assert CANARY not in result.output


def test_an_empty_pat_on_standard_input_says_standard_input(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[[tool.uv.index]]\nname = "a"\n'
        'url = "https://pkgs.dev.azure.com/orgA/P/_packaging/f/pypi/simple/"\n'
    )
    result = run_cli(["rewrite", "--check", "--pat-file", "-"], cwd=tmp_path, stdin="\n")
    assert result.code == 3, result.output
    assert result.stderr.splitlines() == [
        "azfeeds: error: --pat-file: standard input holds no PAT",
        "azfeeds: hint: give a PAT with the Packaging (Read) scope on standard input, alone on "
        "one line",
    ]


def test_https_to_a_plain_http_server_is_not_called_a_certificate_failure(
    emulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index URL written with https for a server that speaks http: the TLS handshake fails,
    but no certificate was ever checked, and a CA bundle would not help."""
    emu: Emulator = emulator_factory(sample_config())
    https = emu.url.replace("http://", "https://", 1)
    (tmp_path / "pyproject.toml").write_text(
        f'[[tool.uv.index]]\nname = "a"\nurl = "{https}/orgA/_packaging/shared/pypi/simple/"\n'
    )
    monkeypatch.setenv("UV_INDEX_A_USERNAME", "u")
    monkeypatch.setenv("UV_INDEX_A_PASSWORD", CANARY)
    result = run_cli(["map"], cwd=tmp_path)
    assert result.code == 4, result.output
    host = emu.url.split("//", 1)[1]
    error, hint = result.stderr.strip().splitlines()
    assert error.startswith(
        f"azfeeds: error: collection 'orgA': TLS handshake with {host} failed ("
    ), error
    assert "certificate" not in error
    assert "check the URL's scheme and port" in hint, hint
    assert CANARY not in result.output


@pytest.mark.parametrize(
    "given",
    [
        "https://dev.azure.com/orgA",
        "https://dev.azure.com/orgA/",
        "https://feeds.dev.azure.com/orgA",
        "https://orgA.visualstudio.com",
        "https://orga.visualstudio.com/",
    ],
)
def test_org_given_as_the_services_organization_url_is_that_organization(given: str) -> None:
    """The URL the browser shows for an organization is Services, not a server named
    dev.azure.com (which would get no cloud credential and the wrong feeds API host)."""
    from azfeeds.resolve import LiveSettings, org_request_from_option, target_for

    request = org_request_from_option(given)
    assert request.url.is_cloud, given
    assert request.url.org.casefold() == "orga"
    assert request.key == org_request_from_option("orgA").key
    target = target_for(request, LiveSettings())
    assert target.cloud and target.api_base.lower() == "https://feeds.dev.azure.com/orga"


@pytest.mark.parametrize(
    "given",
    [
        "https://dev.azure.com.evil.example/orgA",
        "http://dev.azure.com/orgA",
        "https://evildev.azure.com/orgA",
    ],
)
def test_look_alike_organization_urls_stay_servers(given: str) -> None:
    from azfeeds.resolve import org_request_from_option

    assert not org_request_from_option(given).url.is_cloud
