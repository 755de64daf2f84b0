#!/usr/bin/env python3
"""Regenerate the README's command reference from the live ``--help`` (or ``--check`` it).

Each command's help sits between ``<!-- help: azfeeds <command> -->`` and ``<!-- /help -->``.
``uv run python scripts/sync_readme.py`` rewrites those blocks; ``--check`` exits 1 when the README
and ``--help`` disagree (tests/test_readme.py runs the same check).
"""

from __future__ import annotations

import io
import re
import sys
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
sys.path.insert(0, str(ROOT))

from azfeeds.cli import app, run  # noqa: E402

BLOCK_RE = re.compile(
    r"(<!-- help: azfeeds(?P<cmd>[a-z \-]*) -->\n)(?P<body>.*?)(<!-- /help -->)", re.S
)


def commands() -> list[str]:
    """Every command the CLI offers, in registration order ('' is the top level)."""
    import typer

    group = typer.main.get_command(app)
    names = list(getattr(group, "commands", {}))
    return ["", *names]


def help_text(command: str) -> str:
    """The ``--help`` output of one command."""
    out = io.StringIO()
    args = [*command.split(), "--help"]
    with redirect_stdout(out):
        code = run(args)
    if code != 0:
        raise SystemExit(f"azfeeds {command} --help exited {code}")
    return out.getvalue()


def render(text: str) -> tuple[str, list[str]]:
    """The README with every help block regenerated, and the commands it lacks."""
    seen: set[str] = set()

    def block(match: re.Match[str]) -> str:
        command = match.group("cmd").strip()
        seen.add(command)
        return f"{match.group(1)}```text\n{help_text(command)}```\n{match.group(4)}"

    new = BLOCK_RE.sub(block, text)
    missing = [c for c in commands() if c not in seen]
    return new, missing


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    new, missing = render(text)
    if missing:
        names = ", ".join(f"'azfeeds {c}'".replace(" '", "'") for c in missing)
        print(f"README.md has no help block for {names}", file=sys.stderr)
    if "--check" in argv:
        if new != text:
            print(
                "README.md's command reference differs from --help; run scripts/sync_readme.py",
                file=sys.stderr,
            )
        return 1 if (new != text or missing) else 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md updated", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
