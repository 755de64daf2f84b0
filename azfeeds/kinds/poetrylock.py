"""poetry.lock: ``[metadata] content-hash``, and the ``[package.source] url`` of each package that
came from a ``[[tool.poetry.source]]`` (the source URL without its trailing ``/``). Both follow
pyproject.toml (``clientlock``). The first line, which names the Poetry version that wrote the
lock and drives Poetry's own fallback for older hashes, is never touched."""

from __future__ import annotations

from collections.abc import Mapping

from ..tomlscan import KeyPath
from ..urls import AzureUrl, UrlError, parse_azure_url, redact_text
from .base import Action, Change, FileKind, LockPlan, Role
from .clientlock import ClientLock
from .lockhash import POETRY_VARIANTS, poetry_locked_url


class PoetryLock(ClientLock):
    """poetry.lock."""

    kind = FileKind.POETRY_LOCK
    role = Role.POETRY
    client = "Poetry"
    command = "poetry lock"
    hash_path = ("metadata", "content-hash")
    variants = POETRY_VARIANTS

    def keep(self, path: KeyPath, value: str) -> bool:
        if len(path) == 4 and path[0] == "package" and path[2] == "source":
            return path[3] == "url"
        return super().keep(path, value)

    def follow_urls(self, out: LockPlan, url_changes: Mapping[str, str]) -> None:
        locked = {
            poetry_locked_url(old): poetry_locked_url(new) for old, new in url_changes.items()
        }
        scan = out.file.source.toml
        assert scan is not None
        for token in scan.strings:
            if len(token.path) != 4 or token.path[0] != "package":
                continue
            new = locked.get(token.value)
            if new is None or new == token.value:
                continue
            if token.value != out.file.source.text[token.content_start : token.content_end]:
                continue  # written with escapes: Poetry never does; the hash alone keeps it true
            self.replace(out, token, new)
            old_url, new_url = _parse(token.value), _parse(new)
            out.changes.append(
                Change(
                    out.file.source.path,
                    token.line,
                    ".".join(str(p) for p in token.path),
                    Action.LOCK,
                    old_url.redacted if old_url else redact_text(token.value),
                    new_url.redacted if new_url else redact_text(new),
                    old_url.readable if old_url else "?",
                    new_url.readable if new_url else "?",
                    old_url.org if old_url else "",
                    None,
                )
            )


def _parse(url: str) -> AzureUrl | None:
    try:
        return parse_azure_url(url)
    except UrlError:
        return None


KIND = PoetryLock()
