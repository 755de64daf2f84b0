"""pyproject.toml: ``[tool.uv]`` (indexes, publish URLs, index-url keys), ``[[tool.poetry.source]]``
and ``[[tool.pdm.source]]``. Readable names are trailing comments; ``uv.lock`` follows."""

from __future__ import annotations

from ..tomlscan import KeyPath
from .base import FileKind, Role
from .tomlsites import TomlConfig, uv_role

_SOURCES = (("tool", "poetry", "source"), ("tool", "pdm", "source"))


class Pyproject(TomlConfig):
    """pyproject.toml."""

    kind = FileKind.PYPROJECT
    lock = FileKind.UV_LOCK

    def role_of(self, path: KeyPath) -> Role | None:
        if path[:2] == ("tool", "uv"):
            return uv_role(path[2:])
        if (
            len(path) == 5
            and path[:3] in _SOURCES
            and isinstance(path[3], int)
            and path[4] == "url"
        ):
            return Role.POETRY if path[1] == "poetry" else Role.PDM
        return None


KIND = Pyproject()
