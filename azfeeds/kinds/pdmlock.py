"""pdm.lock: ``[metadata] content_hash`` (``"<algorithm>:<hex>"``) follows pyproject.toml
(``clientlock``). A PDM lock stores no index URL: packages record file names and hashes only,
and the file URLs of a ``--static-urls`` lock are the UUID-form URLs Azure served, which stay.

A lock with PDM's opt-in lock inputs (2.28.1+: ``[metadata.lock_inputs]``, no content hash)
records each source instead, its URL as ``sha256:`` + the SHA-256 of the URL as written. There,
verifying first means: the recorded sources equal what PDM would record for the pyproject as it
is now; then the fingerprint of each rewritten URL is written anew.

Not updated (the sources are skipped, and the report says to run ``pdm lock``): a workspace root
(``[tool.pdm.workspace]``), whose lock also covers its members' sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import FileKind, FilePlan, LockPlan, Role, SourceFile, bug
from .clientlock import ClientLock, plain_data
from .lockhash import PDM_VARIANTS, HashVariant, pdm_lock_input_sources

_INPUT_SOURCES = ("metadata", "lock_inputs", "project", "sources")


def _not_a_hash(data: Mapping[str, Any], stored: str) -> str:
    raise AssertionError("lock inputs are followed source by source, not hashed")


# The marker of a lock-inputs lock: it is followed by ``PdmLock.follow_pyproject`` itself.
LOCK_INPUTS = HashVariant("pdm", "lock inputs (2.28.1+)", _not_a_hash)


def _table(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class PdmLock(ClientLock):
    """pdm.lock."""

    kind = FileKind.PDM_LOCK
    role = Role.PDM
    client = "PDM"
    command = "pdm lock"
    hash_path = ("metadata", "content_hash")
    variants = PDM_VARIANTS

    def _has_lock_inputs(self, lock: SourceFile) -> bool:
        lock.ensure_scanned()
        assert lock.toml is not None
        return any(s.path[:2] == ("metadata", "lock_inputs") for s in lock.toml.strings)

    def unsupported(self, lock: SourceFile, data: Mapping[str, Any]) -> str | None:
        pdm = _table(_table(data.get("tool")).get("pdm"))
        if pdm.get("workspace"):
            return "it is a PDM workspace lock, whose hash covers every member's sources"
        if _table(pdm.get("resolution")).get("lock_inputs") and not self._has_lock_inputs(lock):
            return (
                "pyproject.toml asks for lock inputs ([tool.pdm.resolution] lock_inputs) and the "
                "lock records none (the lock is stale)"
            )
        return None

    def check(self, lock: SourceFile, pyproject: SourceFile) -> tuple[HashVariant | None, str]:
        if not self._has_lock_inputs(lock):
            return super().check(lock, pyproject)
        data = plain_data(pyproject.text, pyproject.path)
        reason = self.unsupported(lock, data)
        if reason is not None:
            return None, reason
        inputs = _table(_table(plain_data(lock.text, lock.path).get("metadata")).get("lock_inputs"))
        if "workspace" in inputs:
            return None, "it is a PDM workspace lock, whose inputs cover every member's sources"
        recorded = _table(inputs.get("project")).get("sources", [])
        if pdm_lock_input_sources(data) != recorded:
            return None, (
                "its lock inputs do not record pyproject.toml's sources as they are now (the lock "
                "is stale, or was written by a PDM version azfeeds does not know)"
            )
        scan = lock.toml
        assert scan is not None
        for token in scan.strings:
            plain = token.value == lock.text[token.content_start : token.content_end]
            if token.path[:4] == _INPUT_SOURCES and token.path[-1] == "url" and not plain:
                return None, "a source in its lock inputs is written with escape sequences"
        return LOCK_INPUTS, ""

    def follow_pyproject(
        self,
        lock: SourceFile,
        variant: HashVariant,
        pyproject: FilePlan,
        url_changes: Mapping[str, str],
    ) -> LockPlan:
        if variant is not LOCK_INPUTS:
            return super().follow_pyproject(lock, variant, pyproject, url_changes)
        out = LockPlan(FilePlan(lock))
        new = pdm_lock_input_sources(plain_data(pyproject.new_text(), pyproject.source.path))
        scan = lock.toml
        assert scan is not None
        if new is None:  # the new text holds nothing the old did not: cannot happen
            raise bug(out.file, "the new PDM lock inputs cannot be computed")
        for token in scan.strings:
            path = token.path
            if len(path) != 6 or path[:4] != _INPUT_SOURCES or path[5] != "url":
                continue
            index = path[4]
            assert isinstance(index, int)
            value = new[index].get("url") if index < len(new) else None
            if not isinstance(value, str) or value == token.value:
                continue
            self._edit(out, token, value, "source")
        return out


KIND = PdmLock()
