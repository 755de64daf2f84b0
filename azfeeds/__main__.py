"""``python -m azfeeds`` and the ``azfeeds`` console script.

Typer and the CLI are imported inside ``main``, so that a Ctrl-C that lands while they load is
an orderly exit 130 rather than a traceback.
"""

import sys


def main() -> None:
    """Run the command line; exit with its code."""
    try:
        from azfeeds.cli import run

        code = run()
    except KeyboardInterrupt:
        sys.stderr.write("azfeeds: interrupted\n")
        code = 130
    except Exception as exc:
        from azfeeds.errors import caused_by_interrupt

        if not caused_by_interrupt(exc):
            raise
        sys.stderr.write("azfeeds: interrupted\n")
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
