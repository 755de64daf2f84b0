"""Which feeds API version to ask a server for (DESIGN.md section 7). No third-party imports.

azfeeds starts at 7.1. Azure DevOps Server accepts only versions up to its release (2019: 5.x,
2020: 6.x, 2022: 7.0) and answers a newer one with HTTP 400 "The requested REST API version of 7.1
is out of range for this server. The latest REST API version this server supports is 7.0.".
Below 7.0 the packaging routes are preview only, and a plain "5.1" gets HTTP 400
``VssInvalidPreviewVersionException``. So the ceiling is read from the first answer, the request is
sent again with the highest version the server takes (``-preview.1`` below 7.0), and the result is
remembered per server for the rest of the run: at most two extra requests per server.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from .errors import ApiError, UsageError

if TYPE_CHECKING:
    import logging

START_VERSION = "7.1"
MAX_EXTRA_REQUESTS = 2  # per server and run
FIRST_GA_PACKAGING = (7, 0)  # the feeds routes are preview only below this version

_VERSION_RE = re.compile(r"^(\d{1,3})\.(\d{1,3})(?:-preview(?:\.(\d{1,3}))?)?$")
_CEILING_RE = re.compile(
    r"latest REST API version (?:this server supports|supported by this server) is"
    r"\s*[\"']?(\d{1,3})\.(\d{1,3})",
    re.IGNORECASE,
)
_OUT_OF_RANGE_RE = re.compile(r"out of (?:the valid )?range", re.IGNORECASE)
_PREVIEW_RE = re.compile(r"is under preview|-preview flag must be supplied", re.IGNORECASE)

T = TypeVar("T")


def _log() -> logging.Logger:
    # imported here: offline commands read map files through this module and import no logging
    import logging

    return logging.getLogger("azfeeds.apiversion")


class ApiVersionError(UsageError):
    """A version string that is not ``MAJOR.MINOR[-preview[.N]]``."""


def check_version(text: str) -> str:
    """``text`` if it is a valid api-version (``7.1``, ``7.0``, ``5.1-preview.1``), else raise."""
    value = text.strip()
    if not _VERSION_RE.match(value):
        raise ApiVersionError(
            f"'{text}' is not an API version: expected MAJOR.MINOR or MAJOR.MINOR-preview.N, "
            "such as 7.1, 7.0, 6.0-preview.1 or 5.1-preview.1"
        )
    return value


def number(version: str) -> tuple[int, int]:
    """(major, minor) of a valid version."""
    match = _VERSION_RE.match(version)
    if match is None:
        raise ApiVersionError(f"'{version}' is not an API version")
    return int(match.group(1)), int(match.group(2))


def is_preview(version: str) -> bool:
    """True for ``X.Y-preview[.N]``."""
    return "-preview" in version


def for_ceiling(ceiling: tuple[int, int]) -> str:
    """The version to ask a server whose latest version is ``ceiling`` for the feeds routes."""
    text = f"{ceiling[0]}.{ceiling[1]}"
    return text if ceiling >= FIRST_GA_PACKAGING else f"{text}-preview.1"


def released_form(version: str) -> str:
    """The version for a released route (the projects API, released since 1.0): without the
    ``-preview`` suffix, that no server needs for it."""
    return version.split("-", 1)[0] if number(version) <= (7, 1) else version


@dataclass(frozen=True)
class Refusal:
    """A server's HTTP 400 about the api-version, as the server worded it."""

    kind: str  # "out-of-range", "preview" or "other"
    message: str
    ceiling: tuple[int, int] | None = None


def classify(type_key: str | None, message: str) -> Refusal | None:
    """Read a 400 answer: None when it is not about the api-version."""
    key = (type_key or "").casefold()
    if key == "vssinvalidpreviewversionexception" or _PREVIEW_RE.search(message):
        return Refusal("preview", message)
    if key == "vssversionoutofrangeexception" or _OUT_OF_RANGE_RE.search(message):
        match = _CEILING_RE.search(message)
        ceiling = (int(match.group(1)), int(match.group(2))) if match else None
        return Refusal("out-of-range", message, ceiling)
    if "apiversion" in key or (key.startswith("vss") and "version" in key):
        return Refusal("other", message)
    return None


def next_version(asked: str, refusal: Refusal) -> str | None:
    """What to ask next after ``refusal`` of ``asked``; None when the answer does not say."""
    if refusal.kind == "preview":
        return None if is_preview(asked) else f"{asked}-preview.1"
    if refusal.kind == "out-of-range" and refusal.ceiling is not None:
        if refusal.ceiling >= number(asked):
            return None  # the server contradicts itself: do not guess
        return for_ceiling(refusal.ceiling)
    return None


class VersionRefused(ApiError):
    """The server refused the api-version (HTTP 400). Exit 4 with the server's own message when
    negotiation cannot go on (an answer that does not say which version to use, or a pin)."""

    def __init__(self, message: str, refusal: Refusal, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.refusal = refusal


@dataclass
class _Server:
    version: str | None = None
    extra: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class VersionBook:
    """The versions of one run, per server: negotiated once, then asked right the first time.

    ``pinned`` (``--api-version``) turns negotiation off. Thread-safe: organizations of one server
    that are fetched in parallel wait for the first one's negotiation.
    """

    def __init__(self, pinned: str | None = None) -> None:
        self.pinned = pinned
        self._servers: dict[str, _Server] = {}
        self._lock = threading.Lock()

    def _server(self, key: str) -> _Server:
        with self._lock:
            return self._servers.setdefault(key, _Server())

    def known(self, server: str) -> str | None:
        """The version learned (or pinned) for ``server``."""
        if self.pinned is not None:
            return self.pinned
        return self._server(server).version

    def extra_requests(self, server: str) -> int:
        """The requests spent on negotiation with ``server`` so far."""
        return self._server(server).extra

    def call(self, server: str, send: Callable[[str], T]) -> tuple[T, str]:
        """``send(version)`` with the right version for ``server``: (its result, the version).

        ``send`` raises VersionRefused for an HTTP 400 about the version; any other error passes.
        """
        if self.pinned is not None:
            return send(self.pinned), self.pinned
        state = self._server(server)
        if state.version is None:
            with state.lock:  # the first request to a server asks alone; the others wait for it
                if state.version is None:  # else: learned while this one waited, sent unlocked
                    return self._send(state, START_VERSION, send, server)
        return self._send(state, state.version or START_VERSION, send, server)

    def assume(self, server: str, version: str) -> None:
        """Take ``version`` as ``server``'s until it refuses one: requests to it go out at once,
        in parallel, without a first one alone (Azure DevOps Services takes 7.1; a refusal still
        negotiates, within the same cap of extra requests)."""
        state = self._server(server)
        with self._lock:
            if state.version is None:
                state.version = version

    def _send(
        self, state: _Server, version: str, send: Callable[[str], T], server: str
    ) -> tuple[T, str]:
        while True:
            try:
                result = send(version)
            except VersionRefused as refused:
                with self._lock:
                    following = state.version  # learned meanwhile by another request?
                    if following is None or following == version:
                        following = next_version(version, refused.refusal)
                        if following is None or state.extra >= MAX_EXTRA_REQUESTS:
                            raise
                        state.extra += 1
                        state.version = following  # kept even if the retry fails otherwise
                _log().info("%s refused api-version %s; asking %s", server, version, following)
                version = following
                continue
            with self._lock:
                state.version = version
            return result, version
