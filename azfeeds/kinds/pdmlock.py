"""pdm.lock: ``[metadata] content_hash`` (``"<algorithm>:<hex>"``) follows pyproject.toml
(``clientlock``). A PDM lock stores no index URL: packages record file names and hashes only,
and the file URLs of a ``--static-urls`` lock are the UUID-form URLs Azure served, which stay.

Not updated (the sources are skipped, and the report says to run ``pdm lock``):

- a lock with ``[metadata.lock_inputs]`` (PDM 2.28's opt-in lock inputs, which fingerprint each
  source URL instead of one content hash);
- a workspace root (``[tool.pdm.workspace]``), whose hash also covers its members' sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import FileKind, Role, SourceFile
from .clientlock import ClientLock
from .lockhash import PDM_VARIANTS


class PdmLock(ClientLock):
    """pdm.lock."""

    kind = FileKind.PDM_LOCK
    role = Role.PDM
    client = "PDM"
    command = "pdm lock"
    hash_path = ("metadata", "content_hash")
    variants = PDM_VARIANTS

    def unsupported(self, lock: SourceFile, data: Mapping[str, Any]) -> str | None:
        scan = lock.toml
        assert scan is not None
        if any(s.path[:2] == ("metadata", "lock_inputs") for s in scan.strings):
            return "it records lock inputs ([metadata.lock_inputs]), which azfeeds does not update"
        tool = data.get("tool")
        pdm = tool.get("pdm") if isinstance(tool, Mapping) else None
        if isinstance(pdm, Mapping) and pdm.get("workspace"):
            return "it is a PDM workspace lock, whose hash covers every member's sources"
        return None


KIND = PdmLock()
