"""The one error hierarchy of azfeeds. Each class carries the exit code of DESIGN.md section 5."""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    CHANGES = 1
    USAGE = 2
    AUTH = 3
    API = 4
    LOOKUP = 5
    FILE = 6
    INTERRUPTED = 130


class AzfeedsError(Exception):
    """Base class: a one-line message, an optional hint line, and an exit code.

    Messages never contain secrets: every constructor site passes redacted text only.
    """

    exit_code: ExitCode = ExitCode.USAGE
    kind: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(AzfeedsError):
    """Bad flags or arguments."""

    exit_code = ExitCode.USAGE
    kind = "usage"


class AuthError(AzfeedsError):
    """A credential was missing, rejected or could not be obtained."""

    exit_code = ExitCode.AUTH
    kind = "auth"


class ApiError(AzfeedsError):
    """The feeds API or the network failed."""

    exit_code = ExitCode.API
    kind = "api"


class FeedLookupError(AzfeedsError):
    """An organization, project, feed or view is unknown or ambiguous."""

    exit_code = ExitCode.LOOKUP
    kind = "lookup"


class FileError(AzfeedsError):
    """A file could not be read, parsed or written (a malformed map file included)."""

    exit_code = ExitCode.FILE
    kind = "file"

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message, hint=hint)
        self.path = path
        self.line = line


class Interrupted(AzfeedsError):
    """The run was interrupted (SIGINT); nothing was left half-written."""

    exit_code = ExitCode.INTERRUPTED
    kind = "interrupted"


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a Ctrl-C is behind this exception: Python 3.11 wraps a KeyboardInterrupt raised
    while a class body runs ``__set_name__`` (an import the signal landed in) in a RuntimeError."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
