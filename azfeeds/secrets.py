"""Keep secrets out of every output: streams, log records and exception text.

Every credential azfeeds loads is registered here; ``scrub`` replaces registered values and
anything shaped like a credential (Authorization values, JWTs, URL userinfo) before text leaves
the process. A logging filter applies the same to log records, azfeeds' own and its libraries'.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from .urls import redact_text

_lock = threading.Lock()
_known: set[str] = set()

# Credential shapes. Compiled on first use (re.compile keeps what it compiled), and only tried
# on text that holds the literal part each pattern needs (_may_hold): most output needs none.
_AUTH = r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9+/=._\-~]{8,}"
_JWT = r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"
_FIELD = (
    r'(?i)("(?:access_?token|refresh_?token|id_?token|client_?secret|password|client_?assertion'
    r'|oidcToken|accessToken)"\s*:\s*")([^"]{8,})(")'
)
MASK = "***"

# What must not reach a terminal from a file's bytes or a decoded URL: C0 and C1 control
# characters (ESC sequences, BEL, a carriage return that overwrites the line) and the Unicode
# marks that reorder text (bidirectional overrides and isolates). Tab is kept; newline too,
# except in one-line messages, where it would forge a line of azfeeds' own.
_UNPRINTABLE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _may_hold(text: str, *words: str) -> bool:
    """Whether ``text`` may match a case-insensitive pattern that needs one of ``words``
    (lower-case ASCII). Non-ASCII text always may: under re.IGNORECASE, "\u017f" matches "s"."""
    if not text.isascii():
        return True
    lower = text.lower()
    return any(word in lower for word in words)


def _escape(m: re.Match[str]) -> str:
    char = m.group()
    code = ord(char)
    return _SHORT_ESCAPES.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: str, *, one_line: bool = False) -> str:
    """``text`` with control characters and text-reordering marks shown as escapes (``\\x1b``,
    ``\\u202e``; with ``one_line``, newlines as ``\\n`` too)."""
    if text.isascii():
        # ASCII's unprintable characters are its controls: quick to rule out without a pattern
        rest = text.replace("\t", "") if one_line else text.replace("\t", "").replace("\n", "")
        if rest.isprintable():
            return text
    pattern = re.compile(f"[\n{_UNPRINTABLE}]" if one_line else f"[{_UNPRINTABLE}]")
    if pattern.search(text) is None:
        return text
    return pattern.sub(_escape, text)


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is scrubbed from anything azfeeds prints or logs."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)
            stripped = value.strip()
            if stripped and stripped != value:
                _known.add(stripped)


def scrub(text: str, *, userinfo: bool = True) -> str:
    """``text`` with every known secret and credential-shaped string masked.

    ``userinfo=False`` keeps URL userinfo as written: only for text whose URLs are known to
    hold no password (``azfeeds url`` refuses one, and prints a user name alone as written).
    """
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    if _may_hold(text, "bearer", "basic"):
        text = re.compile(_AUTH).sub(lambda m: f"{m.group(1)} {MASK}", text)
    if "eyJ" in text:
        text = re.compile(_JWT).sub(MASK, text)
    if '"' in text and _may_hold(text, "token", "secret", "password", "assertion"):
        text = re.compile(_FIELD).sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)
    return redact_text(text) if userinfo else text


_handler: Any = None


def setup_logging(level: int | None = None) -> None:
    """Log to stderr through a scrubbing filter: azfeeds' records and its libraries'.

    Imported and installed only when needed (--verbose, --debug, or a command that uses the
    network or msal), so offline commands never import logging.
    """
    import logging

    global _handler
    if level is None:
        level = logging.WARNING

    class ScrubFilter(logging.Filter):
        """Scrub log records in place (message, arguments, exception text)."""

        def filter(self, record: logging.LogRecord) -> bool:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: drop its arguments rather than fail
                message = str(record.msg)
            record.msg = printable(scrub(message))
            record.args = None
            if record.exc_text:
                record.exc_text = scrub(record.exc_text)
            return True

    class Formatter(logging.Formatter):
        """``azfeeds: warning: ...``; level and logger name for --verbose/--debug."""

        def format(self, record: logging.LogRecord) -> str:
            message = record.getMessage()
            if record.levelno >= logging.WARNING:
                text = f"azfeeds: {record.levelname.lower()}: {message}"
            else:
                text = f"azfeeds: {record.levelname.lower()}: {record.name}: {message}"
            if record.exc_text:
                text += "\n" + record.exc_text
            return text

    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler()
    _handler.setFormatter(Formatter())
    _handler.addFilter(ScrubFilter())
    root.addHandler(_handler)
    root.setLevel(level)
    for name in ("urllib3", "msal", "requests"):
        logging.getLogger(name).setLevel(max(level, logging.DEBUG))
