"""``azfeeds url``: index URLs and whole index-variable values, for CI files, Dockerfiles and shell
profiles (DESIGN.md section 5). Offline with the fixture map, and live against the emulator."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from emulator_client import Emulator, sample_config
from helpers import JSON_KEYS, Result, run_cli, run_proc
from hypothesis import given
from hypothesis import strategies as st

from azfeeds.errors import FeedLookupError, UsageError
from azfeeds.table import load_map
from azfeeds.urlvalue import (
    convert,
    holds_secret,
    read_values,
    scan_value,
)

MAP = Path(__file__).parent / "fixtures" / "map.json"
CANARY = "canary-url-" + secrets.token_hex(8)
TOKEN_AS_USER = "canary" + secrets.token_hex(26)  # shaped like a PAT: letters and digits

A = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
A_UUID = (
    "https://pkgs.dev.azure.com/orgA/a1a1a1a1-0000-4000-8000-00000000b001/_packaging/"
    "a1a1a1a1-0000-4000-8000-00000000f001/pypi/simple/"
)
B = "https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy/pypi/simple"
B_UUID = (
    "https://pkgs.dev.azure.com/orgB/b2b2b2b2-0000-4000-8000-00000000b001/_packaging/"
    "b2b2b2b2-0000-4000-8000-00000000f001/pypi/simple"
)
SHARED = "https://pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/"
SHARED_UUID = (
    "https://pkgs.dev.azure.com/orgA/_packaging/a1a1a1a1-0000-4000-8000-00000000f002/pypi/simple/"
)

# name form -> UUID form: every other byte as written (host case, %40, query, no trailing slash)
PAIRS = [
    (A, A_UUID),
    (B, B_UUID),
    (SHARED, SHARED_UUID),
    (
        "https://PKGS.dev.azure.com/orgA/ProjectX/_packaging/feedx%40Release/pypi/simple/?x=1",
        "https://PKGS.dev.azure.com/orgA/a1a1a1a1-0000-4000-8000-00000000b001/_packaging/"
        "a1a1a1a1-0000-4000-8000-00000000f001%40a1a1a1a1-0000-4000-8000-00000000c002"
        "/pypi/simple/?x=1",
    ),
    (
        "https://orgA.pkgs.visualstudio.com/_packaging/shared@Release/pypi/upload",
        "https://orgA.pkgs.visualstudio.com/_packaging/a1a1a1a1-0000-4000-8000-00000000f002"
        "@a1a1a1a1-0000-4000-8000-00000000c003/pypi/upload",
    ),
    (
        "https://tfs.example.com/tfs/DefaultCollection/Tools/_packaging/onprem/pypi/simple/",
        "https://tfs.example.com/tfs/DefaultCollection/c3c3c3c3-0000-4000-8000-00000000b001"
        "/_packaging/c3c3c3c3-0000-4000-8000-00000000f001/pypi/simple/",
    ),
]


def url(*args: str, stdin: str = "") -> Result:
    return run_cli(["url", *args], stdin=stdin)


def offline(*args: str, stdin: str = "") -> Result:
    return url("--offline", "--map", str(MAP), *args, stdin=stdin)


def one_error(result: Result) -> tuple[str, str | None]:
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("azfeeds: error: ")]
    hints = [line for line in lines if line.startswith("azfeeds: hint: ")]
    assert len(errors) == 1 and len(hints) <= 1 and len(lines) == len(errors) + len(hints), lines
    assert "Traceback" not in result.output
    return errors[0], hints[0] if hints else None


# -- the value grammar --------------------------------------------------------------------------


def test_words_of_a_whole_value_keep_their_spans() -> None:
    value = f"a={A}  b={B}\thttps://pypi.org/simple/ ${{{{ env.EXTRA }}}}"
    words = scan_value(value)
    assert [(w.name, w.text) for w in words] == [("a", A), ("b", B)]
    assert [value[w.start : w.end] for w in words] == [A, B]


@pytest.mark.parametrize(
    ("userinfo", "secret"),
    [
        ("user:hunter2", True),
        ("hunter2:x", True),
        ("a" * 52, True),  # a PAT written as the user name, as git accepts it
        ("VssSessionToken", False),  # a keyring hint
        ("user:", False),
        ("user:${AZ_PAT}", False),
        ("$AZ_USER:$AZ_PAT", False),
        ("x:$(System.AccessToken)", False),
        ("${{ secrets.AZ_USER }}:${{ secrets.AZ_PAT }}", False),
        ("{env:AZ_PAT:}", False),
        ("pat:{env:AZ_PAT}", False),
        ("user:${AZ_PAT}tail", True),
    ],
)
def test_what_counts_as_a_secret(userinfo: str, secret: bool) -> None:
    assert holds_secret(userinfo) is secret


@pytest.mark.parametrize(("name_form", "uuid_form"), PAIRS)
def test_convert_both_ways_byte_for_byte(name_form: str, uuid_form: str) -> None:
    table = load_map(MAP)
    pinned = table.pinned_bases()
    [there], _ = convert(read_values([("<argument>:1", name_form)], pinned), table, "uuid", "")
    assert there.output == uuid_form
    [back], _ = convert(read_values([("<argument>:1", uuid_form)], pinned), table, "names", "")
    assert back.output == name_form
    [same], _ = convert(read_values([("<argument>:1", name_form)], pinned), table, "names", "")
    assert same.output == name_form and not same.changed


OTHER_WORDS = ["https://pypi.org/simple/", "${{ secrets.EXTRA_INDEX }}", "$(Extra.Index)", "-"]


@given(
    words=st.lists(
        st.tuples(
            st.sampled_from([*range(len(PAIRS)), *OTHER_WORDS]),
            st.sampled_from(["", "orga=", "my.index-2="]),
        ),
        min_size=1,
        max_size=6,
    ),
    gaps=st.lists(st.sampled_from([" ", "  ", "\t", " \t "]), min_size=7, max_size=7),
)
def test_whole_values_round_trip_byte_for_byte(
    words: list[tuple[int | str, str]], gaps: list[str]
) -> None:
    table = load_map(MAP)
    pinned = table.pinned_bases()
    name_value = uuid_value = gaps[0]
    for (word, prefix), gap in zip(words, gaps[1:], strict=False):
        name_form, uuid_form = PAIRS[word] if isinstance(word, int) else (word, word)
        name_value += prefix + name_form + gap
        uuid_value += prefix + uuid_form + gap
    [there], _ = convert(read_values([("<argument>:1", name_value)], pinned), table, "uuid", "")
    assert there.output == uuid_value
    [back], _ = convert(read_values([("<argument>:1", uuid_value)], pinned), table, "names", "")
    assert back.output == name_value


def test_mixed_form_changes_only_the_segments_in_the_other_form() -> None:
    table = load_map(MAP)
    mixed = "https://pkgs.dev.azure.com/orgA/A1A1A1A1-0000-4000-8000-00000000B001/_packaging/feedx/pypi/simple/"
    [out], _ = convert(read_values([("<argument>:1", mixed)], ()), table, "uuid", "")
    assert out.output == mixed.replace("feedx", "a1a1a1a1-0000-4000-8000-00000000f001")
    [names], _ = convert(read_values([("<argument>:1", mixed)], ()), table, "names", "")
    assert names.output == A


def test_refusal_and_lookup_errors_are_raised_before_any_output() -> None:
    with pytest.raises(UsageError) as refused:
        read_values(
            [
                (
                    "<stdin>:3",
                    f"x=https://u:{CANARY}@pkgs.dev.azure.com/orgA/_packaging/f/pypi/simple/",
                )
            ],
            (),
        )
    assert CANARY not in str(refused.value) and CANARY not in (refused.value.hint or "")
    assert "UV_INDEX_X_USERNAME" in (refused.value.hint or "")
    with pytest.raises(FeedLookupError):
        convert(read_values([("<argument>:1", A)], ()), None, "uuid", "give --map FILE")


# -- the command --------------------------------------------------------------------------------


def test_arguments_give_one_result_per_line_in_order() -> None:
    result = offline(A, "https://pypi.org/simple/", B)
    assert result.code == 0, result.stderr
    assert result.stdout == f"{A_UUID}\nhttps://pypi.org/simple/\n{B_UUID}\n"


def test_a_whole_variable_value_keeps_its_shape() -> None:
    value = f"  orga={A}   orgb={B}\thttps://pypi.org/simple/ "
    result = offline(value)
    assert result.code == 0, result.stderr
    assert result.stdout == value.replace(A, A_UUID).replace(B, B_UUID) + "\n"


def test_stdin_one_value_per_line_mixed_with_arguments() -> None:
    result = offline(SHARED, "-", stdin=f"{A}\n\nnot a url\norga={B} x={A}\n")
    assert result.code == 0, result.stderr
    assert result.stdout.split("\n") == [
        SHARED_UUID,
        A_UUID,
        "",
        "not a url",
        f"orga={B_UUID} x={A_UUID}",
        "",
    ]


def test_names_mode_gives_the_readable_form_back() -> None:
    result = offline("--mode", "names", f"a={A_UUID} {B_UUID}", A)
    assert result.code == 0, result.stderr
    assert result.stdout == f"a={A} {B}\n{A}\n"


@pytest.mark.parametrize(
    "userinfo",
    [
        "${{ secrets.AZ_USER }}:${{ secrets.AZ_PAT }}",
        "build:$(System.AccessToken)",
        "{env:AZ_PAT:}",
        "$AZ_USER:$AZ_PAT",
        "pat:${AZ_PAT}",
        "VssSessionToken",
    ],
)
def test_placeholders_and_a_user_name_alone_are_kept_as_written(userinfo: str) -> None:
    given = A.replace("https://", f"https://{userinfo}@")
    result = offline(f"a={given} ${{{{ env.MORE }}}}")
    assert result.code == 0, result.stderr
    assert (
        result.stdout
        == f"a={A_UUID.replace('https://', f'https://{userinfo}@')} ${{{{ env.MORE }}}}\n"
    )
    as_json = json.loads(offline("--json", given).stdout)
    assert as_json["result"]["values"][0]["output"] == A_UUID.replace(
        "https://", f"https://{userinfo}@"
    )


@pytest.mark.parametrize(
    "value",
    [
        f"https://me:{CANARY}@pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/",
        f"ok={A} https://me:{CANARY}@pypi.example.com/simple/",  # not Azure: printed all the same
        f"https://{TOKEN_AS_USER}@pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/",
    ],
)
def test_a_password_is_refused_and_never_printed(value: str) -> None:
    result = offline(value)
    assert result.code == 2 and result.stdout == ""
    error, hint = one_error(result)
    assert "holds a password" in error and "<argument>:1" in error
    assert hint is not None and "--strip-credentials" in hint and "UV_INDEX_" in hint
    assert CANARY not in result.output and TOKEN_AS_USER not in result.output
    piped = offline("--json", "-", stdin=f"{A}\n{value}\n")
    assert piped.code == 2 and "<stdin>:2" in piped.stderr
    assert CANARY not in piped.output and TOKEN_AS_USER not in piped.output
    debug = offline("--debug", value)  # a traceback, still without the secret
    assert debug.code == 2 and CANARY not in debug.output and TOKEN_AS_USER not in debug.output
    assert json.loads(piped.stdout)["error"]["type"] == "usage"


def test_offline_without_a_map_converts_nothing_it_would_need_to_look_up() -> None:
    result = url("--offline", A)
    assert result.code == 5 and result.stdout == ""
    error, hint = one_error(result)
    assert "organization 'orgA' is not in the feed table" in error
    assert hint == "azfeeds: hint: give --map FILE, or run without --offline"
    # a URL already in the asked form needs no table
    assert url("--offline", A_UUID).stdout == A_UUID + "\n"
    assert url("--offline", "--mode", "names", A).stdout == A + "\n"
    assert url("--offline", "https://pypi.org/simple/").code == 0
    # and without --offline, nothing to look up means no network at all
    dead = url("--api-url", "http://127.0.0.1:9", "--timeout", "1", A_UUID)
    assert (dead.code, dead.stdout) == (0, A_UUID + "\n")


def test_lookup_and_usage_errors() -> None:
    unknown = offline("https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/nope/pypi/simple/")
    assert unknown.code == 5 and "unknown feed 'nope'" in one_error(unknown)[0]
    not_mapped = offline("https://pkgs.dev.azure.com/orgZ/_packaging/f/pypi/simple/")
    assert not_mapped.code == 5 and "azfeeds map --org orgZ --output FILE" in str(
        one_error(not_mapped)[1]
    )
    broken = offline("https://pkgs.dev.azure.com/a/b/c/_packaging/f/pypi/simple/")
    assert broken.code == 2 and "cannot convert" in one_error(broken)[0]
    for value in (
        "https://pkgs.dev.azure.com/$(System.CollectionName)/_packaging/shared/pypi/simple/",
        "https://pkgs.dev.azure.com/orgA/${PROJECT}/_packaging/feedx/pypi/simple/",
        "https://pkgs.dev.azure.com/orgA/_packaging/${{ vars.FEED }}/pypi/simple/",
    ):
        placeholder = offline(value)
        assert placeholder.code == 2 and placeholder.stdout == "", value
        assert "placeholder" in one_error(placeholder)[0]
    both = url("--pat-file", "-", "-", stdin="x\n")
    assert both.code == 2 and "standard input" in one_error(both)[0]
    assert url().code == 2


def test_json_shape() -> None:
    result = offline("--json", f"orga={A} https://pypi.org/simple/", B_UUID)
    assert result.code == 0
    doc: dict[str, Any] = json.loads(result.stdout)
    assert set(doc) == JSON_KEYS
    assert (doc["schema_version"], doc["command"], doc["status"]) == (1, "url", "ok")
    assert doc["result"] == {
        "mode": "uuid",
        "changed": 1,
        "values": [
            {
                "source": "<argument>:1",
                "input": f"orga={A} https://pypi.org/simple/",
                "output": f"orga={A_UUID} https://pypi.org/simple/",
                "changed": True,
                "urls": [
                    {
                        "name": "orga",
                        "input": A,
                        "output": A_UUID,
                        "organization": "orgA",
                        "form": "name",
                        "changed": True,
                    }
                ],
            },
            {
                "source": "<argument>:2",
                "input": B_UUID,
                "output": B_UUID,
                "changed": False,
                "urls": [
                    {
                        "name": None,
                        "input": B_UUID,
                        "output": B_UUID,
                        "organization": "orgB",
                        "form": "uuid",
                        "changed": False,
                    }
                ],
            },
        ],
    }


def test_offline_url_imports_neither_requests_nor_msal(tmp_path: Path) -> None:
    probe = (
        "import sys\nfrom azfeeds.cli import run\ncode = run(sys.argv[1:])\n"
        "print('IMPORTED', sorted(m for m in ('requests', 'msal', 'urllib3') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, "url", "--offline", "--map", str(MAP), A],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert out.stdout == f"{A_UUID}\nIMPORTED []\n", out.stderr


# -- live: the feeds API of the emulator, as a real process ---------------------------------


PAT_A = "canary-url-pat-a-" + secrets.token_hex(6)
PAT_B = "canary-url-pat-b-" + secrets.token_hex(6)


def test_live_resolution_through_the_feeds_api(tmp_path: Path) -> None:
    config = sample_config()
    config["organizations"][0]["pats"] = [PAT_A]
    config["organizations"][1]["pats"] = [PAT_B]
    with Emulator.start(config, tmp_path / "emulator") as emu:
        a = emu.index_url("orgA", "feedx", project="ProjectX", view="Release")
        b = emu.index_url("orgB", "feedy", project="Project Y")
        value = f"orga={a} orgb={b}"
        env = {"UV_INDEX_ORGA_PASSWORD": PAT_A, "UV_INDEX_ORGB_PASSWORD": PAT_B}
        result = run_proc(["url", "--verbose", value], env=env)
        assert result.code == 0, result.stderr
        expected = (
            f"orga={emu.uuid_index_url('orgA', 'feedx', view='Release')} "
            f"orgb={emu.uuid_index_url('orgB', 'feedy')}\n"
        )
        assert result.stdout == expected
        assert "using UV_INDEX_ORGA_PASSWORD" in result.stderr
        back = run_proc(["url", "--mode", "names", "-"], env=env, stdin=result.stdout)
        assert back.code == 0, back.stderr
        assert back.stdout == value + "\n"
        routes = [row["route"] for row in emu.log()]
        assert routes.count("feeds") == 4 and "views" in routes
        for text in (result.output, back.output, (emu.workdir / "emulator.log").read_text()):
            assert PAT_A not in text and PAT_B not in text


# -- doctor: the index variables set in the environment --------------------------------------


def test_doctor_reports_index_variables_with_the_command_that_fixes_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_INDEX", f"orga={A} orgb={B}")
    monkeypatch.setenv("UV_EXTRA_INDEX_URL", f"{A_UUID} https://pypi.org/simple/")
    monkeypatch.setenv("PIP_INDEX_URL", SHARED.replace("https://", f"https://me:{CANARY}@"))
    monkeypatch.setenv("UV_INDEX_URL", "https://pypi.org/simple/")  # not Azure: not reported
    result = run_cli(["doctor", "--offline"], cwd=tmp_path)
    assert result.code == 1, result.output
    assert CANARY not in result.output
    text = result.stdout
    assert "environment variable UV_INDEX\n" in text and "UV_INDEX_URL" not in text
    assert "401 risk: UV_INDEX holds a name-form URL" in text
    assert 'fix           UV_INDEX="$(azfeeds url "$UV_INDEX")"' in text
    assert "environment variable UV_EXTRA_INDEX_URL" in text
    extra = text.split("environment variable UV_EXTRA_INDEX_URL", 1)[1].split("\n\n", 1)[0]
    assert "URL form      uuid" in extra and "verdict       ok" in extra and "fix" not in extra
    pip = text.split("environment variable PIP_INDEX_URL", 1)[1]
    assert "no 401 risk for pip" in pip and "placeholder in place of the password" in pip
    assert "3 index variables with Azure URLs, 1 problem" in result.stderr

    doc = json.loads(run_cli(["doctor", "--offline", "--json"], cwd=tmp_path).stdout)
    variables = doc["result"]["variables"]
    assert [v["variable"] for v in variables] == ["UV_INDEX", "UV_EXTRA_INDEX_URL", "PIP_INDEX_URL"]
    assert set(variables[0]) == {"variable", "value", "forms", "problems", "fixes", "notes"}
    assert variables[0]["forms"] == ["name", "name"]
    assert variables[0]["fixes"][0].startswith('UV_INDEX="$(azfeeds url "$UV_INDEX")"')
    assert variables[2]["value"] == SHARED.replace("https://", "https://***@")
    assert doc["result"]["problems"] == 1 and CANARY not in json.dumps(doc)


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX shell runs the fix line")
def test_doctor_fix_command_works_as_printed(tmp_path: Path) -> None:
    """The fix line, run by a shell, leaves the variable in UUID form."""
    script = (
        f'UV_INDEX="orga={A}"\n'
        'UV_INDEX="$(azfeeds url --offline --map "$MAP" "$UV_INDEX")"\n'
        'printf "%s\\n" "$UV_INDEX"\n'
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "azfeeds"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m azfeeds "$@"\n')
    launcher.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MAP": str(MAP)}
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"orga={A_UUID}\n"
