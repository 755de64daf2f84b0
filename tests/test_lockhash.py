"""azfeeds.kinds.lockhash against hashes the real Poetry and PDM wrote.

``fixtures/lockhash/real-clients.json`` holds pyproject files of our own, each locked against the
emulator by a real client (Poetry 1.8.5, 2.2.1 and 2.5.1; PDM 2.2.1, 2.15.4, 2.19.3 and 2.29.4),
with the content hash that client stored. Every case must be reproduced by exactly the variant
of the algorithm that belongs to that client version, from the data tomlkit parses (the parser
azfeeds itself uses).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from azfeeds.kinds import lockhash
from azfeeds.kinds.lockhash import (
    PDM_VARIANTS,
    POETRY_VARIANTS,
    compute,
    find_variant,
    pdm_content_hash,
    pdm_lock_input_sources,
    pdm_source_fingerprint,
    poetry_content_hash,
    poetry_locked_url,
)

CASES: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "fixtures" / "lockhash" / "real-clients.json").read_text("utf-8")
)["cases"]


def parsed(text: str) -> dict[str, Any]:
    data: dict[str, Any] = tomlkit.parse(text).unwrap()
    return data


def variants(client: str) -> tuple[lockhash.HashVariant, ...]:
    return POETRY_VARIANTS if client == "poetry" else PDM_VARIANTS


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_real_clients_hash_is_reproduced_by_its_own_variant(name: str) -> None:
    case = CASES[name]
    data = parsed(case["pyproject"])
    found = find_variant(variants(case["client"]), data, case["stored"])
    assert found is not None, f"{name}: no variant reproduces {case['stored']}"
    assert found.versions == case["variant"]


def test_the_fixtures_cover_every_variant() -> None:
    matched = {(c["client"], c["variant"]) for c in CASES.values()}
    known = {(v.client, v.versions) for v in (*POETRY_VARIANTS, *PDM_VARIANTS)}
    # Poetry 1.x equals 2.0-2.2 on a [tool.poetry]-only project, so it is matched as that one;
    # the 1.x variant itself is checked against the legacy layout below.
    assert known - matched == {("poetry", "1.x")}


def test_poetry_1x_hashes_only_tool_poetry() -> None:
    case = CASES["poetry-1.8-legacy-groups"]
    data = parsed(case["pyproject"])
    assert poetry_content_hash(data, project=False, groups=False) == case["stored"]
    data["project"] = {"name": "x", "dependencies": ["alpha"]}
    assert poetry_content_hash(data, project=False, groups=False) == case["stored"]
    assert poetry_content_hash(data, groups=False) != case["stored"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_source_url_change_changes_the_hash_and_reverting_it_restores_it(name: str) -> None:
    case = CASES[name]
    data = parsed(case["pyproject"])
    variant = find_variant(variants(case["client"]), data, case["stored"])
    assert variant is not None
    tool = data["tool"][case["client"]]
    sources = tool["source"]
    original = sources[-1]["url"]
    sources[-1]["url"] = original.replace("/simple/", "/Simple/")
    changed = compute(variant, data, case["stored"])
    assert changed is not None and changed != case["stored"]
    assert find_variant(variants(case["client"]), data, case["stored"]) is None
    sources[-1]["url"] = original
    assert compute(variant, data, case["stored"]) == case["stored"]


def test_a_trailing_slash_and_percent_encoding_are_hashed_as_written() -> None:
    case = CASES["poetry-2.5-project"]
    data = parsed(case["pyproject"])
    url = data["tool"]["poetry"]["source"][1]["url"]
    assert "%20" in url and url.endswith("/")
    data["tool"]["poetry"]["source"][1]["url"] = url.rstrip("/")
    assert poetry_content_hash(data) != case["stored"]
    data["tool"]["poetry"]["source"][1]["url"] = url.replace("%20", " ")
    assert poetry_content_hash(data) != case["stored"]


def test_pdm_hashes_the_placeholder_text_not_its_value() -> None:
    case = CASES["pdm-2.29-placeholder"]
    assert "${PDM_ORGB_PAT}" in case["pyproject"]
    data = parsed(case["pyproject"])
    assert pdm_content_hash(data) == case["stored"]


def test_pdm_takes_the_algorithm_from_the_stored_value() -> None:
    data = parsed(CASES["pdm-2.29-project"]["pyproject"])
    md5 = pdm_content_hash(data, "md5")
    assert md5.startswith("md5:") and len(md5) == 4 + 32
    found = find_variant(PDM_VARIANTS, data, md5)
    assert found is not None and found.versions == ">=2.20"
    assert find_variant(PDM_VARIANTS, data, "nosuchalgo:" + md5[4:]) is None
    assert find_variant(PDM_VARIANTS, data, md5[4:]) is None  # no prefix: not PDM's form


def test_unhashable_data_matches_nothing() -> None:
    data = parsed(CASES["poetry-2.5-project"]["pyproject"])
    data["project"]["dependencies"] = [datetime.date(2026, 1, 1)]
    for variant in POETRY_VARIANTS[:2]:
        assert compute(variant, data, "x") is None
    assert find_variant(POETRY_VARIANTS, data, CASES["poetry-2.5-project"]["stored"]) is None


def test_pdm_duplicate_normalised_groups_fail_only_the_variants_that_normalise() -> None:
    data = parsed(CASES["pdm-2.29-project"]["pyproject"])
    data["dependency-groups"] = {"Dev_Tools": ["beta"], "dev.tools": ["delta"]}
    stored = pdm_content_hash(data, version="2.16")
    assert compute(PDM_VARIANTS[0], data, stored) is None
    found = find_variant(PDM_VARIANTS, data, stored)
    assert found is not None and found.versions == "2.16-2.19"


def test_poetry_locked_url_drops_the_trailing_slash() -> None:
    assert poetry_locked_url("https://h/o/_packaging/f/pypi/simple/") == (
        "https://h/o/_packaging/f/pypi/simple"
    )
    assert poetry_locked_url("https://h/o/_packaging/f/pypi/simple") == (
        "https://h/o/_packaging/f/pypi/simple"
    )


LOCK_INPUTS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "lockhash" / "real-clients.json").read_text("utf-8")
)["lock_inputs"]


@pytest.mark.parametrize("name", sorted(LOCK_INPUTS))
def test_pdm_lock_input_sources_as_the_real_pdm_recorded_them(name: str) -> None:
    case = LOCK_INPUTS[name]
    data = parsed(case["pyproject"])
    assert pdm_lock_input_sources(data) == case["recorded_sources"]
    data["tool"]["pdm"]["source"][0]["url"] += "x"
    assert pdm_lock_input_sources(data) != case["recorded_sources"]


def test_pdm_lock_input_sources_drop_credentials_and_fingerprint_every_url() -> None:
    data = {
        "tool": {
            "pdm": {
                "source": [
                    {
                        "name": "a",
                        "url": "https://h/simple/",
                        "username": "u",
                        "password": "secret",
                        "include_packages": ["z", "a"],
                        "note": "see https://example.invalid/",
                        "since": datetime.date(2026, 1, 2),
                    }
                ]
            }
        }
    }
    (source,) = pdm_lock_input_sources(data) or [None]
    assert source == {
        "name": "a",
        "url": pdm_source_fingerprint("https://h/simple/"),
        "include_packages": ["a", "z"],
        "note": pdm_source_fingerprint("see https://example.invalid/"),
        "since": "2026-01-02",
    }
    assert pdm_lock_input_sources({"tool": {"pdm": {"source": "nope"}}}) is None
