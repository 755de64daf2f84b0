"""uv.toml: uv's settings at the top level (``[[index]]``, ``index-url``, ``[pip]``).
Readable names are trailing comments; ``uv.lock`` follows."""

from __future__ import annotations

from ..tomlscan import KeyPath
from .base import FileKind, Role
from .tomlsites import TomlConfig, uv_role


class UvToml(TomlConfig):
    """uv.toml."""

    kind = FileKind.UV_TOML
    lock = FileKind.UV_LOCK

    def role_of(self, path: KeyPath) -> Role | None:
        return uv_role(path)


KIND = UvToml()
