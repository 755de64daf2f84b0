"""Userinfo in Azure URLs (issue 12 items 5 and 7, issue 15 item 1 URL side): placeholders and a
user name alone are kept byte for byte, never warned about and never sent; --strip-credentials
removes passwords only and names, per site, what to set instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli

from azfeeds.inspect import Index, Names, check_probes
from azfeeds.kinds.base import FileKind, Role, Site
from azfeeds.urls import parse_azure_url

MAP = str(Path(__file__).parent / "fixtures" / "map.json")
HOST = "pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
UUID_PATH = (
    "pkgs.dev.azure.com/orgA/a1a1a1a1-0000-4000-8000-00000000b001/_packaging/"
    "a1a1a1a1-0000-4000-8000-00000000f001/pypi/simple/"
)
SECRET = "canary-pat-7f3e1"
PLACEHOLDERS = [
    "{env:AZ_PAT:}",  # tox
    "${{ secrets.AZ_PAT }}",  # GitHub Actions (its spaces belong to it)
    "$(System.AccessToken)",  # Azure Pipelines
    "pat:${PAT}",
    "${AZ_USER}:${AZ_PAT}",
    "$AZ_USER:$AZ_PAT",
    "VssSessionToken",  # a user name alone: a keyring hint
]


def _pyproject(userinfo: str) -> str:
    return f'[[tool.uv.index]]\nname = "corp"\nurl = "https://{userinfo}@{HOST}"\n'


@pytest.mark.parametrize("userinfo", PLACEHOLDERS)
def test_placeholders_and_user_names_are_kept_and_not_warned_about(
    tmp_path: Path, userinfo: str
) -> None:
    original = _pyproject(userinfo)
    path = tmp_path / "pyproject.toml"
    path.write_text(original)
    result = run_cli(["rewrite", "--strip-credentials", "--map", MAP], cwd=tmp_path)
    assert result.code == 0, result.output
    assert "credentials" not in result.stderr
    assert f'url = "https://{userinfo}@{UUID_PATH}"  # azfeeds: ProjectX/feedx' in path.read_text()
    assert run_cli(["rewrite", "--mode", "names", "--offline"], cwd=tmp_path).code == 0
    assert path.read_text() == original


@pytest.mark.parametrize("userinfo", [u for u in PLACEHOLDERS if " " not in u])
def test_placeholders_in_requirements_and_pip_conf(tmp_path: Path, userinfo: str) -> None:
    files = {
        "requirements.txt": f"--extra-index-url https://{userinfo}@{HOST}\nrequests\n",
        "pip.conf": f"[global]\nindex-url = https://{userinfo}@{HOST}\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = run_cli(["rewrite", "--map", MAP], cwd=tmp_path)
    assert result.code == 0 and "credentials" not in result.stderr, result.output
    for name in files:
        assert f"https://{userinfo}@{UUID_PATH}" in (tmp_path / name).read_text()
    run_cli(["rewrite", "--mode", "names", "--offline"], cwd=tmp_path)
    assert {n: (tmp_path / n).read_text() for n in files} == files


def test_a_twin_carries_a_user_name_but_never_a_password(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        _pyproject("VssSessionToken")
        + f'\n[[tool.uv.index]]\nname = "other"\nurl = "https://build:{SECRET}@'
        'pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple/"\n'
    )
    result = run_cli(["rewrite", "--mode", "add", "--map", MAP], cwd=tmp_path)
    assert result.code == 0
    text = path.read_text()
    assert f'url = "https://VssSessionToken@{UUID_PATH}"' in text
    assert 'url = "https://pkgs.dev.azure.com/orgB/b2b2b2b2' in text  # the twin of "other"
    assert text.count(SECRET) == 1 and SECRET not in result.output


def test_strip_credentials_removes_the_password_and_names_the_variables(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        _pyproject(f"build:{SECRET}")
        + f'\n[[tool.poetry.source]]\nname = "poet"\nurl = "https://u:{SECRET}@{HOST}"\n'
    )
    (tmp_path / "requirements.txt").write_text(f"-i https://u:{SECRET}@{HOST}\n")
    (tmp_path / "pip.conf").write_text(f"[global]\nindex-url = https://u:{SECRET}@{HOST}\n")
    check = run_cli(
        ["rewrite", "--check", "--json", "--strip-credentials", "--map", MAP], cwd=tmp_path
    )
    assert SECRET not in check.output
    notes = {
        (c["path"], c["line"]): c["note"] for c in json.loads(check.stdout)["result"]["changes"]
    }
    assert "UV_INDEX_CORP_USERNAME and UV_INDEX_CORP_PASSWORD" in notes[("pyproject.toml", 3)]
    assert "POETRY_HTTP_BASIC_POET_PASSWORD" in notes[("pyproject.toml", 7)]
    assert "${PAT}" in notes[("requirements.txt", 1)]
    assert "pip.conf cannot hold a variable" in notes[("pip.conf", 2)]
    text = run_cli(["rewrite", "--strip-credentials", "--map", MAP], cwd=tmp_path)
    assert text.code == 0 and SECRET not in text.output
    assert "pyproject.toml:3  set UV_INDEX_CORP_USERNAME and UV_INDEX_CORP_PASSWORD" in text.stdout
    assert "netrc" not in text.output
    pyproject = (tmp_path / "pyproject.toml").read_text()
    assert SECRET not in pyproject and f'"https://build@{UUID_PATH}"' in pyproject
    assert f"-i https://u@{UUID_PATH}" in (tmp_path / "requirements.txt").read_text()


def test_the_doctor_probe_never_sends_the_urls_own_userinfo() -> None:
    seen: list[str] = []

    def probe(url: str, password: str | None) -> tuple[int | None, float, str]:
        seen.append(url)
        return 200, 1.0, ""

    indexes = []
    for userinfo in ("$(System.AccessToken)", "{env:AZ_PAT:}", f"me:{SECRET}"):
        raw = f"https://{userinfo}@{HOST}"
        url = parse_azure_url(raw)
        assert url is not None
        site = Site(Path("x"), FileKind.PYPROJECT, Role.UV_INDEX, "k", 1, 0, 0, raw, url)
        indexes.append(Index(site, url, Names(None, None, None, "unknown"), None))
    check_probes(indexes, {}, probe)
    assert seen == [f"https://{HOST}"] * 3
    # a placeholder is no credential: nothing of it was taken (and registered) as a password
    from azfeeds.secrets import scrub

    assert scrub("x {env:AZ_PAT:} $(System.AccessToken)") == "x {env:AZ_PAT:} $(System.AccessToken)"
