"""Table-driven tests of the URL model (DESIGN.md section 3)."""

from __future__ import annotations

import pytest

from azfeeds.urls import (
    HostKind,
    UrlError,
    decode_segment,
    parse_azure_url,
    parse_readable,
    redact_text,
)

U1 = "5f438b59-28eb-43af-a876-2059441d943a"
U2 = "1f682db7-3995-4f32-afeb-fa23a36322da"
U3 = "0d9a3f2c-7b77-4d27-9d1c-3f2a1c6b8e01"

# raw URL -> (host kind, org, project, feed, view, view_sep, endpoint, rest)
VALID = [
    (
        "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/",
        (HostKind.CLOUD, "orgA", "ProjectX", "feedx", None, "", "simple", "/"),
    ),
    (
        "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/",
        (HostKind.CLOUD, "orgA", None, "shared", None, "", "simple", "/"),
    ),
    (
        "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx@Release/pypi/simple/",
        (HostKind.CLOUD, "orgA", "ProjectX", "feedx", "Release", "@", "simple", "/"),
    ),
    (
        "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx%40Release/pypi/simple",
        (HostKind.CLOUD, "orgA", "ProjectX", "feedx", "Release", "%40", "simple", ""),
    ),
    (
        "https://pkgs.dev.azure.com/orgA/My%20Project/_packaging/feedx/pypi/upload/",
        (HostKind.CLOUD, "orgA", "My%20Project", "feedx", None, "", "upload", "/"),
    ),
    (
        "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/upload",
        (HostKind.CLOUD, "orgA", "ProjectX", "feedx", None, "", "upload", ""),
    ),
    (
        f"https://pkgs.dev.azure.com/orgA/{U1}/_packaging/{U2}@{U3}/pypi/simple/",
        (HostKind.CLOUD, "orgA", U1, U2, U3, "@", "simple", "/"),
    ),
    (
        "HTTPS://PKGS.DEV.AZURE.COM/OrgA/ProjectX/_Packaging/Feedx/PyPI/Simple/?x=1#frag",
        (HostKind.CLOUD, "OrgA", "ProjectX", "Feedx", None, "", "Simple", "/?x=1#frag"),
    ),
    (
        "https://orgA.pkgs.visualstudio.com/_packaging/shared/pypi/simple/",
        (HostKind.LEGACY, "orga", None, "shared", None, "", "simple", "/"),
    ),
    (
        "https://orga.pkgs.visualstudio.com/ProjectX/_packaging/feedx/pypi/simple/",
        (HostKind.LEGACY, "orga", "ProjectX", "feedx", None, "", "simple", "/"),
    ),
    (
        "https://orga.pkgs.visualstudio.com/DefaultCollection/ProjectX/_packaging/feedx/pypi/simple/",
        (HostKind.LEGACY, "orga", "ProjectX", "feedx", None, "", "simple", "/"),
    ),
    (
        "https://tfs.example.com/tfs/DefaultCollection/_packaging/onprem/pypi/simple/",
        (HostKind.SERVER, "DefaultCollection", None, "onprem", None, "", "simple", "/"),
    ),
    (
        "https://tfs.example.com/TFS/Coll/Tools/_packaging/onprem/pypi/simple/",
        (HostKind.SERVER, "Coll", "Tools", "onprem", None, "", "simple", "/"),
    ),
    (
        "https://ado.example.com/Coll/Tools/_packaging/onprem/pypi/simple/",
        (HostKind.SERVER, "Coll", "Tools", "onprem", None, "", "simple", "/"),
    ),
    (
        "https://ado.example.com:8443/Coll/_packaging/onprem/pypi/simple/",
        (HostKind.SERVER, "Coll", None, "onprem", None, "", "simple", "/"),
    ),
    (
        "http://127.0.0.1:8080/orgA/ProjectX/_packaging/feedx/pypi/simple/",
        (HostKind.SERVER, "orgA", "ProjectX", "feedx", None, "", "simple", "/"),
    ),
    (
        "https://pkgs.dev.azure.com.evil.example/orgA/ProjectX/_packaging/feedx/pypi/simple/",
        (HostKind.SERVER, "orgA", "ProjectX", "feedx", None, "", "simple", "/"),
    ),
    (
        "https://evilpkgs.dev.azure.com/orgA/_packaging/feedx/pypi/simple/",
        (HostKind.SERVER, "orgA", None, "feedx", None, "", "simple", "/"),
    ),
    (
        "https://user:s3cret@pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/",
        (HostKind.CLOUD, "orgA", None, "shared", None, "", "simple", "/"),
    ),
]

NOT_AZURE = [
    "https://pypi.org/simple/",
    "https://example.com/_packaging/feed/",
    "https://pkgs.dev.azure.com/orgA/_packaging/feedx/npm/registry/",
    "ftp://pkgs.dev.azure.com/orgA/_packaging/feedx/pypi/simple/",
    "file:///srv/_packaging/feedx/pypi/simple/",
    "not a url at all",
    "",
]

MALFORMED = [
    ("https://pkgs.dev.azure.com/_packaging/feedx/pypi/simple/", "organization is missing"),
    ("https://pkgs.dev.azure.com/a/b/c/_packaging/feedx/pypi/simple/", "too many path segments"),
    (
        "https://pkgs.dev.azure.com/orgA/_packaging/feedx/pypi/download/x/1/x-1-py3-none-any.whl",
        "not an index URL",
    ),
    ("https://pkgs.dev.azure.com/orgA/_packaging/feedx/pypi", "not an index URL"),
    ("https://pkgs.dev.azure.com/orgA/_packaging/feedx@/pypi/simple/", "view after '@' is empty"),
    ("https://pkgs.dev.azure.com/orgA//_packaging/feedx/pypi/simple/", "empty segment"),
    ("https://server.example.com/_packaging/feedx/pypi/simple/", "collection is missing"),
    ("https:///orgA/_packaging/feedx/pypi/simple/", "no host"),
    ("https://a.b.pkgs.visualstudio.com/_packaging/feedx/pypi/simple/", "legacy host"),
]


@pytest.mark.parametrize(("raw", "expected"), VALID, ids=[v[0][:60] for v in VALID])
def test_parse_valid(raw: str, expected: tuple[object, ...]) -> None:
    url = parse_azure_url(raw)
    assert url is not None
    got = (
        url.host_kind,
        url.org,
        url.project,
        url.feed,
        url.view,
        url.view_sep,
        url.endpoint,
        url.rest,
    )
    assert got == expected
    assert str(url) == raw, "every accepted URL must round-trip byte for byte"


@pytest.mark.parametrize("raw", NOT_AZURE)
def test_not_azure(raw: str) -> None:
    assert parse_azure_url(raw) is None


@pytest.mark.parametrize(("raw", "reason"), MALFORMED)
def test_malformed(raw: str, reason: str) -> None:
    with pytest.raises(UrlError, match=reason):
        parse_azure_url(raw)


def test_uuid_form_and_readable() -> None:
    url = parse_azure_url(
        "https://pkgs.dev.azure.com/orgA/My%20Project/_packaging/feedx%40Release/pypi/simple/"
    )
    assert url is not None
    assert not url.is_uuid_form
    assert url.readable == "My%20Project/feedx%40Release"
    assert url.project_name == "My Project"
    assert url.view_name == "Release"
    moved = url.with_segments(U1, U2, U3)
    assert moved.is_uuid_form
    assert str(moved) == f"https://pkgs.dev.azure.com/orgA/{U1}/_packaging/{U2}%40{U3}/pypi/simple/"


def test_with_segments_keeps_shape() -> None:
    url = parse_azure_url("https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/")
    assert url is not None
    with pytest.raises(ValueError):
        url.with_segments(U1, U2, None)


def test_org_keys() -> None:
    cloud = parse_azure_url("https://pkgs.dev.azure.com/OrgA/_packaging/x/pypi/simple/")
    legacy = parse_azure_url("https://orga.pkgs.visualstudio.com/_packaging/x/pypi/simple/")
    server = parse_azure_url("https://tfs.example.com/tfs/Coll/_packaging/x/pypi/simple/")
    server2 = parse_azure_url("https://TFS.example.com/tfs/coll/P/_packaging/x/pypi/simple/")
    assert cloud and legacy and server and server2
    assert cloud.org_key == legacy.org_key
    assert server.org_key == server2.org_key
    assert server.org_key != cloud.org_key
    assert cloud.org_base_url == "https://pkgs.dev.azure.com/OrgA"
    assert server.org_base_url == "https://tfs.example.com/tfs/Coll"


def test_pinned_collection_overrides_rules() -> None:
    raw = "https://ado.example.com/a/b/_packaging/onprem/pypi/simple/"
    default = parse_azure_url(raw)
    assert default and default.org == "a" and default.project == "b"
    pinned = parse_azure_url(raw, pinned_bases=("https://ado.example.com/a/b",))
    assert pinned and pinned.org == "b" and pinned.project is None
    assert str(pinned) == raw


@pytest.mark.parametrize(
    ("raw", "secret", "shown"),
    [
        (
            "https://user:s3cret@pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/",
            True,
            "https://***@pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/",
        ),
        (
            "https://VssSessionToken@pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/",
            False,  # a user name alone is a keyring hint, not a secret (still masked when shown)
            "https://***@pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/",
        ),
        (
            "https://${USER}:${PAT}@pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/",
            False,
            "https://${USER}:${PAT}@pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/",
        ),
        (
            "https://pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/",
            False,
            "https://pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/",
        ),
    ],
)
def test_credentials_are_redacted(raw: str, secret: bool, shown: str) -> None:
    url = parse_azure_url(raw)
    assert url is not None
    assert url.has_secret is secret
    assert url.redacted == shown
    assert redact_text(f"see {raw} here") == f"see {shown} here"
    assert (
        str(url.without_userinfo()) == "https://pkgs.dev.azure.com/orgA/_packaging/x/pypi/simple/"
    )


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("ProjectX/feedx", ("ProjectX", "feedx", None, "")),
        ("shared", (None, "shared", None, "")),
        ("My%20Project/feedx%40Release", ("My%20Project", "feedx", "Release", "%40")),
        ("shared@Release", (None, "shared", "Release", "@")),
    ],
)
def test_parse_readable(text: str, parts: tuple[object, ...]) -> None:
    readable = parse_readable(text)
    assert readable is not None
    assert (readable.project, readable.feed, readable.view, readable.view_sep) == parts
    assert str(readable) == text


@pytest.mark.parametrize("text", ["", "?", "a/b/c", "/feed", "feed@", "two words"])
def test_parse_readable_rejects(text: str) -> None:
    assert parse_readable(text) is None


@pytest.mark.parametrize(
    ("segment", "decoded"),
    [
        ("My%20Project", "My Project"),
        ("nope%0aazfeeds:%20all%20good", "nope%0Aazfeeds: all good"),
        ("x%1b]0;t%07", "x%1B]0;t%07"),
        ("raw\x1besc", "raw%1Besc"),
        ("caf%C3%A9", "café"),
        ("c1%C2%85", "c1%C2%85"),
    ],
)
def test_decoded_names_never_hold_control_characters(segment: str, decoded: str) -> None:
    assert decode_segment(segment) == decoded
