#!/usr/bin/env python3
"""Fuzz the whole azfeeds CLI on generated files.

    uv run python scripts/fuzz.py [--examples N] [--seed S] [--strict]

Each example is a small tree of files (pyproject.toml, uv.toml, uv.lock, pip.conf,
requirements*.txt, constraints*.txt, at the top or in a subdirectory): random bytes, or an
"almost valid" document made by mutating one of the fixtures in tests/fixtures/rewrite/*/ (insert,
delete, duplicate and swap characters and lines, flip bytes, inject NUL, CRLF, a BOM, quotes,
brackets, '@', '%40', '#', credentials...). azfeeds runs in-process on the tree with
``rewrite --map tests/fixtures/map.json --recursive``, and the property is:

- the exit code is 0, 1, 5 or 6: never 2 (these arguments are valid) and never 70 (a bug);
- ``--check`` (run first) writes nothing, and when the rewrite succeeds it agreed: exit 1 exactly
  when the rewrite changed a file;
- no traceback, and an error is one ``azfeeds: error:`` line (plus at most one hint line);
- nothing on stderr holds a control character (a file's bytes must not reach the terminal);
- on a non-zero exit, every file is byte-identical;
- on exit 0, a second run changes nothing (idempotence), and ``--mode names`` gives back the
  original bytes of the configuration files that were rewritten (files that already held UUID-form
  URLs or readable names, or whose URL names another project than the map, are left out of that
  last check: for them, ``names`` writes the current names by design).

Defects this fuzzer found that are not fixed yet are listed in KNOWN_DEFECTS, each pinned by a
strict-xfail case of tests/hostile_corpus.py: an example that runs into one is counted and stepped
around (after checking that no file changed), so that the fuzzer keeps looking for new ones.
``--strict`` asserts them too.

tests/test_fuzz.py runs the same property under the project's hypothesis profile (150 examples by
default, 5000 with AZFEEDS_HYPOTHESIS_PROFILE=deep). This script runs it at N examples (default
20000) with an example database in a temporary directory, prints the number of examples actually
run (shrinking included, after a failure) and any failure, and exits 1 on a failure.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
import tempfile
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: import the azfeeds of this checkout
    sys.path.insert(0, str(ROOT))

MAP = ROOT / "tests" / "fixtures" / "map.json"
SEED_DIR = ROOT / "tests" / "fixtures" / "rewrite"
ALLOWED_EXIT = frozenset({0, 1, 5, 6})
NAMES = (
    "pyproject.toml",
    "uv.toml",
    "uv.lock",
    "pip.conf",
    "pip.ini",
    "requirements.txt",
    "requirements-dev.txt",
    "constraints.txt",
)
AZURE = (
    b"https://pkgs.dev.azure.com/orgA/ProjectX/_packaging/feedx/pypi/simple/",
    b"https://pkgs.dev.azure.com/orgA/_packaging/shared@Release/pypi/simple/",
    b"https://pkgs.dev.azure.com/orgB/Project%20Y/_packaging/feedy%40Release/pypi/upload/",
    b"https://tfs.example.com/tfs/DefaultCollection/Tools/_packaging/onprem/pypi/simple/",
    b"https://orga.pkgs.visualstudio.com/ProjectX/_packaging/feedx/pypi/simple/",
    b"https://pkgs.dev.azure.com.evil.example/orgA/_packaging/shared/pypi/simple/",
    b"https://user:fuzz-secret@pkgs.dev.azure.com/orgA/_packaging/shared/pypi/simple/",
)
TOKENS = (
    b"\x00",
    b"\r\n",
    b"\r",
    b"\n",
    b"\xef\xbb\xbf",
    b'"',
    b"'",
    b'"""',
    b"'''",
    b"[",
    b"]",
    b"[[",
    b"]]",
    b"{",
    b"}",
    b"@",
    b"%40",
    b"%",
    b"#",
    b"# azfeeds: ",
    b"\\",
    b"\\\n",
    b"=",
    b":",
    b",",
    b"/",
    b"//",
    b"\t",
    b" ",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\x8b",
    b"${PAT}",
    b"user:secret@",
    b"-i ",
    b"--index-url=",
    b"[global]\n",
    b"[tool.uv]\n",
    b"[[tool.uv.index]]\n",
    b'url = "',
    b"a1a1a1a1-0000-4000-8000-00000000f001",
    b"_packaging/",
    b"/pypi/simple/",
    *AZURE,
)


def _load_seeds() -> tuple[tuple[str, bytes], ...]:
    """(file name, bytes) of every fixture file: before, after-uuid and after-add forms.

    The name-form files ("before") come three times: they are the ones a rewrite changes, so they
    feed the idempotence and round-trip checks.
    """
    seeds: list[tuple[str, bytes]] = []
    for path in sorted(SEED_DIR.glob("*/*/*")):
        if path.is_file():
            copies = 3 if path.parent.name == "before" else 1
            seeds.extend([(path.name, path.read_bytes())] * copies)
    return tuple(seeds)


SEEDS = _load_seeds()


# -- strategies -----------------------------------------------------------------------------------


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) or [b""]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with 1 to 4 random edits."""
    for _ in range(draw(st.integers(1, 4))):
        op = draw(
            st.sampled_from(
                (
                    "insert",
                    "insert",
                    "random",
                    "delete",
                    "duplicate",
                    "duplicate-line",
                    "delete-line",
                    "swap-lines",
                    "swap-chars",
                    "flip",
                    "replace",
                    "crlf",
                    "bom",
                )
            )
        )
        size = len(data)
        at = draw(st.integers(0, size))
        if op == "insert":
            data = data[:at] + draw(st.sampled_from(TOKENS)) + data[at:]
        elif op == "random":
            data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 16)) :]
        elif op == "duplicate":
            end = min(size, at + draw(st.integers(1, 32)))
            data = data[:end] + data[at:end] + data[end:]
        elif op == "replace":
            end = min(size, at + draw(st.integers(1, 8)))
            data = data[:at] + draw(st.sampled_from(TOKENS)) + data[end:]
        elif op == "flip" and size:
            i = min(at, size - 1)
            data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
        elif op == "swap-chars" and size >= 2:
            i = min(at, size - 2)
            data = data[:i] + data[i + 1 : i + 2] + data[i : i + 1] + data[i + 2 :]
        elif op == "crlf":
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        elif op == "bom":
            data = b"\xef\xbb\xbf" + data
        else:  # line operations
            lines = _lines(data)
            i = draw(st.integers(0, len(lines) - 1))
            if op == "duplicate-line":
                lines.insert(i, lines[i])
            elif op == "delete-line":
                del lines[i]
            elif op == "swap-lines":
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            data = b"".join(lines)
    return data


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, bytes]:
    """One file: a mutated fixture (mostly), a fixture as it is, or random bytes."""
    kind = draw(st.sampled_from(("mutated", "mutated", "mutated", "mutated", "seed", "random")))
    if kind == "random":
        name = draw(st.sampled_from(NAMES))
        data = draw(
            st.one_of(
                st.binary(max_size=512),
                st.lists(st.sampled_from(TOKENS), max_size=24).map(b"".join),
            )
        )
        return name, data
    name, seed = draw(st.sampled_from(SEEDS))
    if name.startswith(("requirements", "constraints")) and draw(st.booleans()):
        name = draw(st.sampled_from(("requirements.txt", "constraints-dev.txt")))
    return name, (seed if kind == "seed" else draw(mutated(seed)))


@st.composite
def trees(draw: st.DrawFn) -> dict[str, bytes]:
    """1 to 3 files at the top of the tree or in ``sub/`` (relative path -> bytes)."""
    files: dict[str, bytes] = {}
    for _ in range(draw(st.integers(1, 3))):
        name, data = draw(documents())
        where = draw(st.sampled_from(("", "", "sub/")))
        files[where + name] = data
    return files


# -- the property ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """Exit code and both streams of one in-process run."""

    code: int
    stdout: str
    stderr: str


def run_cli(args: list[str], cwd: Path) -> Outcome:
    """Run the CLI in this process, in ``cwd``."""
    from azfeeds.cli import run

    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        os.chdir(cwd)
        with redirect_stdout(out), redirect_stderr(err):
            code = run(args)
    finally:
        os.chdir(old_cwd)
        sys.stdin = old_stdin
    return Outcome(code, out.getvalue(), err.getvalue())


def _snapshot(root: Path) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


_UUID_LINE_RE = re.compile(
    rb"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}[^\r\n]*/pypi/(?:simple|upload)"
)


def _restorable(name: str, original: bytes) -> bool:
    """Files that ``--mode names`` must give back byte for byte after a uuid rewrite."""
    if name.rsplit("/", 1)[-1] == "uv.lock":  # it follows the configuration (and gets repaired)
        return False
    # UUID-form URLs or readable names before the run: names writes the current names
    return b"azfeeds" not in original.lower() and not _UUID_LINE_RE.search(original)


def _check_streams(result: Outcome, what: str) -> None:
    assert "Traceback" not in result.stdout + result.stderr, f"{what}: traceback\n{result.stderr}"
    assert result.code != 70, f"{what}: internal error (exit 70)\n{result.stderr}"
    assert result.code in ALLOWED_EXIT, f"{what}: exit {result.code}\n{result.stderr}"
    controls = sorted({c for c in result.stderr if _CONTROL_RE.match(c)})
    assert not controls, f"{what}: control characters printed: {controls!r}\n{result.stderr}"
    lines = result.stderr.splitlines()
    errors = [i for i, line in enumerate(lines) if line.startswith("azfeeds: error: ")]
    if result.code >= 2:
        assert len(errors) == 1, f"{what}: expected one error line\n{result.stderr}"
        rest = lines[errors[0] + 1 :]
        assert len(rest) <= 1 and all(x.startswith("azfeeds: hint: ") for x in rest), (
            f"{what}: only a hint may follow the error line\n{result.stderr}"
        )
    else:
        assert not errors, f"{what}: an error line with exit {result.code}\n{result.stderr}"


# Defects found by this fuzzer and not fixed yet, each pinned by a strict xfail case in
# tests/hostile_corpus.py (see the module docstring). Remove an entry once it is fixed.
KNOWN_DEFECTS: dict[str, str] = {}  # none open: the nine found so far are fixed
_RENAMED_WARNING = "the URL names project"


_CONTROL_IN_FILE_RE = re.compile(rb"%(?:[01][0-9a-fA-F]|7[fF])|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # all but tab and newline


def _known_defect(result: Outcome, controls_in_files: bool) -> str | None:
    """The known defect that a failed check is, if it is one (add a rule here with its entry
    in KNOWN_DEFECTS when a defect is found and cannot be fixed at once)."""
    del result, controls_in_files
    return None


class _KnownDefect(Exception):
    """An example ran into a known defect (stepped around unless strict)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass
class _Example:
    root: Path
    strict: bool
    controls_in_files: bool  # the files hold ESC, '%0a', '%1b'...: see KNOWN_DEFECTS

    def known(self, result: Outcome) -> str | None:
        return None if self.strict else _known_defect(result, self.controls_in_files)


def _run(args: list[str], ex: _Example, what: str) -> Outcome:
    """One run, its streams checked; a known defect is raised as _KnownDefect once the files are
    proven untouched."""
    root = ex.root
    before = _snapshot(root)
    result = run_cli(args, root)
    known = ex.known(result)
    if known is not None:
        assert _snapshot(root) == before, f"{what}: exit {result.code} but files changed"
        raise _KnownDefect(known)
    _check_streams(result, what)
    return result


def check_tree(files: dict[str, bytes], strict: bool = False) -> str | None:
    """The property (raises AssertionError with the evidence).

    Returns the key of the known defect that the example ran into (and that was stepped around),
    or None.
    """
    with tempfile.TemporaryDirectory(prefix="azfeeds-fuzz-") as tmp:
        root = Path(tmp)
        for name, data in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        controls = any(_CONTROL_IN_FILE_RE.search(data) for data in files.values())
        try:
            _properties(_Example(root, strict, controls))
        except _KnownDefect as exc:
            return exc.key
    return None


def _properties(ex: _Example) -> None:
    root = ex.root
    args = ["rewrite", "--map", str(MAP), "--recursive"]
    before = _snapshot(root)
    check = _run([*args, "--check"], ex, "rewrite --check")
    assert _snapshot(root) == before, f"--check wrote files\n{check.stderr}"
    first = run_cli(args, root)
    Counter.exits[first.code] = Counter.exits.get(first.code, 0) + 1
    known = ex.known(first)
    if known is None:
        _check_streams(first, "rewrite")
    once = _snapshot(root)
    if first.code != 0:
        assert once == before, f"exit {first.code} but files changed\n{first.stderr}"
    if known is not None:
        raise _KnownDefect(known)
    if first.code != 0:
        return
    changed = once != before
    assert check.code == (1 if changed else 0), (
        f"--check said exit {check.code}, but the rewrite {'changed' if changed else 'left'} "
        f"the files\n--check: {check.stdout}{check.stderr}\nrewrite: {first.stderr}"
    )
    second = _run(args, ex, "second rewrite")
    assert second.code == 0, f"the second run failed\n{second.stderr}"
    assert _snapshot(root) == once, f"not idempotent\n{second.stdout}{second.stderr}"
    rewritten = [name for name in before if once[name] != before[name]]
    if not rewritten or _RENAMED_WARNING in first.stderr:
        # A URL naming a project its feed is not in (renamed) gets the current names: --mode
        # names then writes those, by design, not the stale original.
        return
    names_args = ["rewrite", "--mode", "names", "--map", str(MAP), "--recursive"]
    names = _run(names_args, ex, "--mode names")
    restored = _snapshot(root)
    if names.code != 0:  # a UUID URL elsewhere that names mode cannot name: nothing written
        assert restored == once, f"--mode names failed but files changed\n{names.stderr}"
        return
    for name in rewritten:
        if _restorable(name, before[name]):
            Counter.round_trips += 1
            assert restored[name] == before[name], (
                f"--mode names did not restore {name}\n"
                f"original: {before[name]!r}\nrewritten: {once[name]!r}\n"
                f"restored: {restored[name]!r}"
            )


class Counter:
    """Examples actually run (the test body counts them itself), and known defects met."""

    examples = 0
    strict = False
    known: dict[str, int] = {}  # noqa: RUF012 - plain tallies
    exits: dict[int, int] = {}  # noqa: RUF012
    round_trips = 0  # files checked byte for byte after uuid then names


def counted_check(files: dict[str, bytes]) -> None:
    """``check_tree``, counted."""
    Counter.examples += 1
    hit = check_tree(files, strict=Counter.strict)
    if hit is not None:
        Counter.known[hit] = Counter.known.get(hit, 0) + 1


# -- main -----------------------------------------------------------------------------------------

_ISOLATED_PREFIXES = ("AZFEEDS_", "UV_INDEX_", "AZURE_", "SYSTEM_", "IDENTITY_", "MSI_")


def _isolate_environment(cache: str) -> None:
    """No variable of this machine (AZFEEDS_MODE, a PAT...) changes what a run does."""
    for key in list(os.environ):
        if key.startswith(_ISOLATED_PREFIXES):
            del os.environ[key]
    os.environ["AZFEEDS_CACHE_DIR"] = cache


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20000, help="examples to run (20000)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (random)")
    parser.add_argument(
        "--strict", action="store_true", help="assert the known defects too (see KNOWN_DEFECTS)"
    )
    options = parser.parse_args(argv)
    Counter.strict = options.strict

    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    with tempfile.TemporaryDirectory(prefix="azfeeds-fuzz-db-") as tmp:
        _isolate_environment(os.path.join(tmp, "cache"))
        profile = settings(
            max_examples=options.examples,
            deadline=None,
            database=DirectoryBasedExampleDatabase(os.path.join(tmp, "db")),
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        )
        test = settings(profile)(given(trees())(counted_check))
        if options.seed is not None:
            test = seed(options.seed)(test)
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            test()
        except Exception as exc:  # the shrunk counterexample, already printed by hypothesis
            failure = exc
        elapsed = time.perf_counter() - started
    print(
        f"fuzz: {Counter.examples} examples run (asked for {options.examples}) in {elapsed:.1f} s"
    )
    exits = ", ".join(f"exit {code}: {n}" for code, n in sorted(Counter.exits.items()))
    print(f"fuzz: first runs by exit code: {exits or 'none'}")
    print(f"fuzz: {Counter.round_trips} rewritten files given back byte for byte by --mode names")
    for key, count in sorted(Counter.known.items()):
        print(f"fuzz: {count} examples met the known defect '{key}': {KNOWN_DEFECTS[key]}")
    if failure is not None:
        print("fuzz: FAILED:")
        print("".join(traceback.format_exception(failure)).rstrip())
        return 1
    print("fuzz: no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
