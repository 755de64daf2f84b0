"""poetry.lock and pdm.lock kept true, or left alone with the reason (DESIGN.md section 4a).

The happy paths, byte for byte in both directions, are the ``poetry-lock``, ``poetry-lock-crlf``
and ``pdm-lock`` cases of test_fixtures; the real clients check the result in
test_clients_e2e. Here: every way azfeeds declines, and how it says so.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import tomlkit
from helpers import run_cli

from azfeeds.kinds.lockhash import pdm_content_hash, poetry_content_hash

FIXTURES = Path(__file__).parent / "fixtures"
MAP = FIXTURES / "map.json"
CASES = FIXTURES / "rewrite"
A_NAME = "https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/"
A_UUID = (
    "https://pkgs.dev.azure.com/orgA/a1a1a1a1-0000-4000-8000-00000000b001/_packaging/"
    "a1a1a1a1-0000-4000-8000-00000000f001/pypi/simple/"
)


def copy_case(case: str, tmp_path: Path) -> Path:
    work = tmp_path / case
    shutil.copytree(CASES / case / "before", work)
    return work


def files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def rewrite(work: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli(["rewrite", "--map", str(MAP), *args], cwd=work)
    return result.code, result.stdout, result.stderr


def test_a_stale_poetry_lock_leaves_the_poetry_sources_alone(tmp_path: Path) -> None:
    work = copy_case("poetry-lock-stale", tmp_path)
    before = files(work)
    code, _, err = rewrite(work)
    assert code == 0, err
    assert files(work) == before
    assert err.count("skipped pyproject.toml:") == 2
    assert "poetry.lock cannot be kept true: its metadata.content-hash does not match" in err
    assert "run 'poetry lock', then 'azfeeds rewrite' again" in err
    assert "nothing to change" in err


def test_check_reports_the_skip_without_failing(tmp_path: Path) -> None:
    work = copy_case("poetry-lock-stale", tmp_path)
    code, _, err = rewrite(work, "--check")
    assert code == 0, err
    assert "next: poetry.lock:" in err and "'poetry lock'" in err


def test_json_lists_the_skipped_sources_and_the_action(tmp_path: Path) -> None:
    work = copy_case("poetry-lock-stale", tmp_path)
    code, out, _ = rewrite(work, "--check", "--json")
    assert code == 0
    doc = json.loads(out)["result"]
    assert {s["key"] for s in doc["skipped"]} == {
        "tool.poetry.source[0].url",
        "tool.poetry.source[1].url",
    }
    assert all("poetry.lock cannot be kept true" in s["reason"] for s in doc["skipped"])
    assert len(doc["actions"]) == 1 and "poetry lock" in doc["actions"][0]
    assert doc["changes"] == []


def test_stale_pdm_lock_inputs_are_left_alone(tmp_path: Path) -> None:
    work = copy_case("pdm-lock-inputs", tmp_path)
    lock = work / "pdm.lock"
    # a source added after locking: the recorded sources no longer match
    pyproject = work / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        + '\n[[tool.pdm.source]]\nname = "extra"\nurl = "https://example.invalid/simple/"\n'
    )
    before = files(work)
    code, _, err = rewrite(work)
    assert code == 0, err
    assert files(work) == before
    assert "its lock inputs do not record pyproject.toml's sources as they are now" in err
    assert "'pdm lock'" in err
    assert lock.read_bytes() == before["pdm.lock"]


def test_lock_inputs_asked_for_but_not_recorded(tmp_path: Path) -> None:
    work = copy_case("pdm-lock", tmp_path)
    (work / "pdm.toml").unlink()
    pyproject = work / "pyproject.toml"
    text = pyproject.read_text().replace(
        "[tool.pdm]\ndistribution = false\n",
        "[tool.pdm]\ndistribution = false\n\n[tool.pdm.resolution]\nlock_inputs = true\n",
    )
    assert "lock_inputs = true" in text
    pyproject.write_text(text)
    lock = work / "pdm.lock"
    old = tomlkit.parse(lock.read_text()).unwrap()["metadata"]["content_hash"]
    lock.write_text(lock.read_text().replace(old, pdm_content_hash(tomlkit.parse(text).unwrap())))
    before = files(work)
    code, _, err = rewrite(work)
    assert code == 0, err
    assert files(work) == before
    assert "asks for lock inputs" in err


def test_a_pdm_workspace_root_is_left_alone(tmp_path: Path) -> None:
    work = copy_case("pdm-lock", tmp_path)
    (work / "pdm.toml").unlink()
    pyproject = work / "pyproject.toml"
    text = pyproject.read_text() + '\n[tool.pdm.workspace]\nmembers = ["packages/*"]\n'
    pyproject.write_text(text)
    lock = work / "pdm.lock"
    data = tomlkit.parse(text).unwrap()
    old = tomlkit.parse(lock.read_text()).unwrap()["metadata"]["content_hash"]
    lock.write_text(lock.read_text().replace(old, pdm_content_hash(data)))
    before = files(work)
    code, _, err = rewrite(work)
    assert code == 0, err
    assert files(work) == before
    assert "PDM workspace lock" in err


def test_an_unknown_poetry_version_is_not_guessed_at(tmp_path: Path) -> None:
    work = copy_case("poetry-lock", tmp_path)
    lock = work / "poetry.lock"
    text = lock.read_text()
    data = tomlkit.parse((work / "pyproject.toml").read_text()).unwrap()
    stored = poetry_content_hash(data)
    assert stored in text
    # a future Poetry that hashes differently: its value is reproduced by no known variant
    lock.write_text(text.replace("Poetry 2.5.1", "Poetry 9.0.0").replace(stored, "ab" * 32))
    before = files(work)
    code, _, err = rewrite(work)
    assert code == 0, err
    assert files(work) == before
    assert "written by a Poetry version azfeeds does not know" in err


def test_no_lock_rewrites_the_sources_and_leaves_the_locks_alone(tmp_path: Path) -> None:
    work = copy_case("poetry-lock", tmp_path)
    lock = (work / "poetry.lock").read_bytes()
    code, _, err = rewrite(work, "--no-lock")
    assert code == 0, err
    assert A_UUID in (work / "pyproject.toml").read_text()
    assert (work / "poetry.lock").read_bytes() == lock


def test_naming_the_pyproject_keeps_the_lock_beside_it(tmp_path: Path) -> None:
    work = copy_case("poetry-lock", tmp_path)
    expected = files(CASES / "poetry-lock" / "after-uuid")
    code, _, err = rewrite(work, "pyproject.toml")
    assert code == 0, err
    assert files(work) == expected
    assert "made 6 changes in 2 files" in err


def test_the_uv_part_of_a_project_is_rewritten_when_the_poetry_part_is_skipped(
    tmp_path: Path,
) -> None:
    work = copy_case("poetry-lock-stale", tmp_path)
    pyproject = work / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + f'\n[[tool.uv.index]]\nname = "a"\nurl = "{A_NAME}"\n'
    )
    lock = (work / "poetry.lock").read_bytes()
    code, _, err = rewrite(work)
    assert code == 0, err
    text = pyproject.read_text()
    assert text.count(A_UUID) == 1 and text.count(A_NAME) == 1  # uv's rewritten, Poetry's kept
    assert (work / "poetry.lock").read_bytes() == lock


def test_a_lock_older_poetry_wrote_keeps_its_own_algorithm(tmp_path: Path) -> None:
    """Poetry 2.0-2.2 left [dependency-groups] out of the hash; the new value must too."""
    work = copy_case("poetry-lock", tmp_path)
    pyproject = work / "pyproject.toml"
    text = pyproject.read_text() + '\n[dependency-groups]\ndev = ["delta"]\n'
    pyproject.write_text(text)
    lock = work / "poetry.lock"
    data = tomlkit.parse(text).unwrap()
    current = tomlkit.parse(lock.read_text()).unwrap()["metadata"]["content-hash"]
    old_value = poetry_content_hash(data, groups=False)
    lock.write_text(
        lock.read_text().replace(current, old_value).replace("Poetry 2.5.1", "Poetry 2.2.1")
    )
    code, _, err = rewrite(work)
    assert code == 0, err
    new_data = tomlkit.parse(pyproject.read_text()).unwrap()
    stored = tomlkit.parse(lock.read_text()).unwrap()["metadata"]["content-hash"]
    assert stored == poetry_content_hash(new_data, groups=False)
    assert stored != poetry_content_hash(new_data)
    code, _, err = rewrite(work, "--mode", "names")
    assert code == 0, err
    assert tomlkit.parse(lock.read_text()).unwrap()["metadata"]["content-hash"] == old_value


def test_a_pdm_lock_without_any_azure_url_is_still_kept(tmp_path: Path) -> None:
    work = copy_case("pdm-lock", tmp_path)
    assert "_packaging" not in (work / "pdm.lock").read_text()
    code, out, _ = rewrite(work, "--check")
    assert code == 1
    assert "pdm.lock" in out and "hash sha256:" in out


def test_a_malformed_poetry_lock_stops_the_run(tmp_path: Path) -> None:
    work = copy_case("poetry-lock", tmp_path)
    (work / "poetry.lock").write_text("[metadata\n")
    before = files(work)
    code, _, err = rewrite(work)
    assert code == 6
    assert "poetry.lock:1: is not valid TOML" in err and "poetry lock" in err
    assert "Traceback" not in err
    assert files(work) == before


@pytest.mark.parametrize("case", ["poetry-lock", "pdm-lock"])
def test_diff_shows_the_lock_lines(case: str, tmp_path: Path) -> None:
    work = copy_case(case, tmp_path)
    result = run_cli(["rewrite", "--map", str(MAP), "--diff"], cwd=work)
    assert result.code == 0, result.stderr
    lock = "poetry.lock" if case == "poetry-lock" else "pdm.lock"
    assert f"+++ b/{lock}" in result.stdout
    assert "content-hash" in result.stdout or "content_hash" in result.stdout


# -- pdm.toml ---------------------------------------------------------------------------------

CANARY = "canary-pdm-toml-7f3e"


def test_pdm_toml_named_on_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "pdm.toml").write_text(
        f'[pypi]\nurl = "{A_NAME}"\n\n'
        f'[pypi.private]\nurl = "https://build:{CANARY}@pkgs.dev.azure.com/orgB/Project%20Y/'
        '_packaging/feedy/pypi/simple/"\nverify_ssl = true\n\n'
        f'[repository.upload]\nurl = "{A_NAME}"\n'
    )
    original = (tmp_path / "pdm.toml").read_bytes()
    result = run_cli(["rewrite", "--map", str(MAP), "--json", "pdm.toml"], cwd=tmp_path)
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)["result"]
    assert [c["key"] for c in doc["changes"]] == ["pypi.url", "pypi.private.url"]
    text = (tmp_path / "pdm.toml").read_text()
    assert text.count(A_UUID) == 1  # [pypi] url; the upload target stays
    assert f'[repository.upload]\nurl = "{A_NAME}"' in text
    assert "b2b2b2b2-0000-4000-8000-00000000f001" in text and CANARY in text  # kept, not shown
    assert CANARY not in result.stdout + result.stderr
    diff = run_cli(["rewrite", "--map", str(MAP), "--diff", "--mode", "names"], cwd=tmp_path)
    assert diff.code == 0 and CANARY not in diff.stdout + diff.stderr
    assert run_cli(["rewrite", "--map", str(MAP), "--mode", "names"], cwd=tmp_path).code == 0
    assert (tmp_path / "pdm.toml").read_bytes() == original


def test_pdm_toml_credentials_are_stripped_and_never_shown(tmp_path: Path) -> None:
    (tmp_path / "pdm.toml").write_text(
        f'[pypi.private]\nurl = "https://build:{CANARY}@pkgs.dev.azure.com/orgA/ProjectX/'
        '_packaging/feedx/pypi/simple/"\n'
    )
    result = run_cli(
        ["rewrite", "--map", str(MAP), "--strip-credentials", "pdm.toml"], cwd=tmp_path
    )
    assert result.code == 0, result.stderr
    assert CANARY not in (tmp_path / "pdm.toml").read_text()
    assert CANARY not in result.stdout + result.stderr
    # the password goes; the user name stays (it may be a keyring hint, DESIGN.md section 3)
    assert (
        'url = "https://build@pkgs.dev.azure.com/orgA/a1a1a1a1'
        in (tmp_path / "pdm.toml").read_text()
    )


@pytest.mark.parametrize(("case", "code"), [("poetry-lock", 1), ("poetry-lock-stale", 0)])
def test_offline_check_without_a_map_the_pre_commit_hook(
    case: str, code: int, tmp_path: Path
) -> None:
    """The hook runs ``rewrite --check --offline``: name-form sources need a rewrite, except
    those whose lock azfeeds could not keep true (they are reported as skipped instead)."""
    work = copy_case(case, tmp_path)
    result = run_cli(["rewrite", "--check", "--offline"], cwd=work)
    assert result.code == code, result.output
    skipped = result.stderr.count("cannot be kept true")
    assert skipped == (2 if code == 0 else 0)


def test_after_no_lock_names_with_no_lock_puts_everything_back(tmp_path: Path) -> None:
    work = copy_case("poetry-lock", tmp_path)
    original = files(work)
    assert rewrite(work, "--no-lock")[0] == 0
    # the lock still matches the name-form text: names (with the lock) cannot verify it
    code, _, err = rewrite(work, "--mode", "names")
    assert code == 0 and "poetry.lock cannot be kept true" in err
    assert files(work) != original
    assert rewrite(work, "--mode", "names", "--no-lock")[0] == 0
    assert files(work) == original


def test_a_hash_written_with_escapes_is_not_edited(tmp_path: Path) -> None:
    work = copy_case("poetry-lock", tmp_path)
    lock = work / "poetry.lock"
    text = lock.read_text()
    stored = tomlkit.parse(text).unwrap()["metadata"]["content-hash"]
    escaped = "\\u00" + format(ord(stored[0]), "x") + stored[1:]
    lock.write_text(text.replace(f'"{stored}"', f'"{escaped}"'))
    before = files(work)
    code, _, err = rewrite(work)
    assert code == 0, err
    assert files(work) == before
    assert "its metadata.content-hash is written with escape sequences" in err


def test_a_lock_nested_too_deeply_is_a_file_error(tmp_path: Path) -> None:
    work = copy_case("pdm-lock", tmp_path)
    (work / "pdm.lock").write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    before = files(work)
    code, _, err = rewrite(work)
    assert code == 6, err
    assert "pdm.lock" in err and "Traceback" not in err
    assert files(work) == before


@pytest.mark.skipif(os.name == "nt", reason="symbolic links and FIFOs need POSIX")
@pytest.mark.parametrize("shape", ["link-out-of-tree", "fifo", "utf-16"])
def test_a_lock_that_is_there_but_not_read_keeps_the_sources(shape: str, tmp_path: Path) -> None:
    work = copy_case("poetry-lock", tmp_path)
    lock = work / "poetry.lock"
    if shape == "link-out-of-tree":
        outside = tmp_path / "outside.lock"
        lock.rename(outside)
        lock.symlink_to(outside)
    elif shape == "fifo":
        lock.unlink()
        os.mkfifo(lock)
    else:
        lock.write_bytes(lock.read_text().encode("utf-16"))
    pyproject = (work / "pyproject.toml").read_bytes()
    code, _, err = rewrite(work)
    assert code == 0, err
    assert (work / "pyproject.toml").read_bytes() == pyproject
    assert "poetry.lock cannot be kept true: it is there but was not read" in err
    assert err.count("skipped pyproject.toml:") == 2


def test_a_lock_of_a_client_without_azure_sources_is_never_read(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[[tool.uv.index]]\nname = "a"\nurl = "{A_NAME}"\n')
    (tmp_path / "poetry.lock").write_bytes(b"\x00 not even text")
    (tmp_path / "pdm.lock").write_bytes(b"[metadata\n")
    result = run_cli(["rewrite", "--map", str(MAP)], cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "(1 file scanned)" in result.stderr
    assert (tmp_path / "poetry.lock").read_bytes() == b"\x00 not even text"


def _doctor_locks(work: Path) -> dict[str, tuple[str, list[str], list[str]]]:
    result = run_cli(["doctor", "--offline", "--json", "--map", str(MAP)], cwd=work)
    doc = json.loads(result.stdout)
    out = {}
    for index in doc["result"]["indexes"]:
        for name in ("poetry.lock", "pdm.lock"):
            if name in index["checks"]:
                out[index["key"]] = (index["checks"][name], index["notes"], index["problems"])
    return out


@pytest.mark.parametrize(
    ("case", "verdict"),
    [
        ("poetry-lock", "its hash matches pyproject.toml: rewrite keeps it true"),
        ("pdm-lock", "its hash matches pyproject.toml: rewrite keeps it true"),
        ("poetry-lock-stale", "cannot be kept true: its metadata.content-hash does not match"),
    ],
)
def test_doctor_says_whether_rewrite_can_keep_the_client_lock_true(
    case: str, verdict: str, tmp_path: Path
) -> None:
    work = copy_case(case, tmp_path)
    before = files(work)
    locks = _doctor_locks(work)
    assert locks, "every Poetry or PDM source has a lock check"
    for check, notes, problems in locks.values():
        assert check.startswith(verdict)
        fresh = verdict.startswith("its hash")
        # a stale lock is no problem (the client works in name form): a note with the command
        assert any("then 'azfeeds rewrite'" in n for n in notes) != fresh
        assert not any(".lock" in p for p in problems)
    assert files(work) == before  # doctor writes nothing
    # doctor and rewrite agree
    _, _, err = rewrite(work, "--check")
    assert ("cannot be kept true" in err) != verdict.startswith("its hash")
