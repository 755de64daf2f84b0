"""pdm.toml, PDM's project configuration: ``[pypi.<name>] url`` (a named source) and ``[pypi]
url`` (the default index). Readable names are trailing comments. PDM's lock does not hash this
file, so no lock follows it; ``--mode add`` makes no twins here (PDM has no explicit sources).

PDM flattens ``[pypi]`` one level only: ``[pypi.<name>]`` is one source whose fields are a
table, and ``[repository.<name>]`` is an upload target, not an index (left alone).
"""

from __future__ import annotations

from ..tomlscan import KeyPath
from .base import FileKind, Role, SourceFile
from .tomlsites import TomlConfig


class PdmToml(TomlConfig):
    """pdm.toml."""

    kind = FileKind.PDM_TOML
    lock = None
    twins = False

    def role_of(self, path: KeyPath) -> Role | None:
        if path == ("pypi", "url"):
            return Role.PDM
        if len(path) == 3 and path[0] == "pypi" and path[2] == "url":
            return Role.PDM
        return None

    def scan(self, source: SourceFile, pinned: tuple[str, ...]) -> None:
        super().scan(source, pinned)
        # a named source's name is its table's key, [pypi.<name>]; the default index ([pypi]
        # url, whose credentials are [pypi] username/password) has none
        source.sites = [
            s.replace(index_name=str(s.keypath[1]) if len(s.keypath) == 3 else None)
            for s in source.sites
        ]


KIND = PdmToml()
