"""The content hashes that Poetry and PDM keep in their lock files, recomputed.

Poetry (``[metadata] content-hash`` in poetry.lock) and PDM (``[metadata] content_hash`` in
pdm.lock) hash part of the parsed pyproject.toml, sources included. A source URL that azfeeds
rewrites therefore changes the hash, and the lock goes stale unless the hash is written anew.

azfeeds never guesses at a client version: :func:`find_variant` recomputes the lock's *current*
value from the *current* pyproject under every known variant of the client's algorithm, and only
the variant that reproduces it is used to compute the new value (the facts, per version, are in
the design notes, ``reference/other-clients.md``). A lock that no variant reproduces was already
stale, or was written by a client this module does not know; the caller leaves it alone.

Standard library only. The callers parse the TOML; this module takes the plain data
(``dict``/``list``/``str``/numbers/booleans, as ``tomllib`` or ``tomlkit``'s ``unwrap`` give it).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from ..record import Value

__all__ = [
    "PDM_VARIANTS",
    "POETRY_VARIANTS",
    "HashVariant",
    "compute",
    "find_variant",
    "pdm_content_hash",
    "pdm_lock_input_sources",
    "pdm_source_fingerprint",
    "poetry_content_hash",
    "poetry_locked_url",
]


class _Unhashable(Exception):
    """The data holds a value JSON cannot carry (a TOML date, say): the client would fail too."""


class HashVariant(Value):
    """One version range of one client's algorithm.

    ``function(data, stored)`` gives the value as the lock stores it, for the pyproject ``data``;
    ``stored`` is the lock's current value (PDM takes its algorithm from the prefix).
    """

    __slots__ = ("client", "versions", "function")
    client: Final[str]
    versions: Final[str]
    function: Final[Callable[[Mapping[str, Any], str], str]]

    def __init__(
        self, client: str, versions: str, function: Callable[[Mapping[str, Any], str], str]
    ) -> None:
        self.client = client
        self.versions = versions
        self.function = function


def _dumps(doc: object) -> bytes:
    try:
        return json.dumps(doc, sort_keys=True).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise _Unhashable(str(exc)) from None


def _table(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --------------------------------------------------------------------------------------------
# Poetry

_POETRY_LEGACY_KEYS = ("dependencies", "source", "extras", "dev-dependencies")
_POETRY_KEYS = (*_POETRY_LEGACY_KEYS, "group")
_POETRY_PROJECT_KEYS = ("requires-python", "dependencies", "optional-dependencies")


def _poetry_document(data: Mapping[str, Any], *, project: bool, groups: bool) -> object:
    tool_poetry = _table(_table(data.get("tool")).get("poetry"))
    relevant_project: dict[str, Any] = {}
    if project:
        project_table = _table(data.get("project"))
        for key in _POETRY_PROJECT_KEYS:
            value = project_table.get(key)
            if value is not None:
                relevant_project[key] = value
    group_content = data.get("dependency-groups", {}) if groups else {}
    relevant_poetry: dict[str, Any] = {}
    for key in _POETRY_KEYS:
        value = tool_poetry.get(key)
        if value is None and (key not in _POETRY_LEGACY_KEYS or relevant_project or group_content):
            continue
        relevant_poetry[key] = value
    document: dict[str, Any] = {}
    if relevant_project:
        document["project"] = relevant_project
    if group_content:
        document["dependency-groups"] = group_content
    if not document:
        return relevant_poetry  # the legacy layout: [tool.poetry] keys at the top level
    document["tool"] = {"poetry": relevant_poetry}
    return document


def poetry_content_hash(
    data: Mapping[str, Any], *, project: bool = True, groups: bool = True
) -> str:
    """Poetry's ``content-hash`` for the parsed pyproject ``data`` (lowercase hex, no prefix).

    The defaults are Poetry 2.3 and later. ``groups=False`` is 2.0 to 2.2 (no top-level
    ``[dependency-groups]``); ``project=False, groups=False`` is 1.x (``[tool.poetry]`` only).
    """
    doc = _poetry_document(data, project=project, groups=groups)
    return hashlib.sha256(_dumps(doc)).hexdigest()


def poetry_locked_url(source_url: str) -> str:
    """The ``[package.source] url`` Poetry writes for a ``[[tool.poetry.source]]`` URL."""
    return source_url.rstrip("/")


POETRY_VARIANTS: tuple[HashVariant, ...] = (
    HashVariant("poetry", ">=2.3", lambda data, _stored: poetry_content_hash(data)),
    HashVariant("poetry", "2.0-2.2", lambda data, _stored: poetry_content_hash(data, groups=False)),
    HashVariant(
        "poetry",
        "1.x",
        lambda data, _stored: poetry_content_hash(data, project=False, groups=False),
    ),
)


# --------------------------------------------------------------------------------------------
# PDM


def _pdm_normalize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).lower()


def _listed(deps: object) -> list[Any]:
    if isinstance(deps, (list, tuple, str)):
        return list(deps)  # as PDM does (it would split a string into characters too)
    raise _Unhashable("a dependency group is not a list")


def _pdm_dev_groups(data: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """``[dependency-groups]`` then ``[tool.pdm.dev-dependencies]``, names normalised (2.20+)."""
    groups: dict[str, list[Any]] = {}
    for name, deps in _table(data.get("dependency-groups")).items():
        key = _pdm_normalize(str(name))
        if key in groups:  # PDM refuses the project: no hash to reproduce
            raise _Unhashable(f"dependency group {key} is duplicated")
        groups[key] = _listed(deps)
    for name, deps in _table(settings.get("dev-dependencies")).items():
        groups.setdefault(_pdm_normalize(str(name)), []).extend(_listed(deps))
    return groups


def _pdm_document(data: Mapping[str, Any], version: tuple[int, int]) -> dict[str, Any]:
    project = _table(data.get("project"))
    settings = _table(_table(data.get("tool")).get("pdm"))
    doc: dict[str, Any] = {
        "sources": settings.get("source", []),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "requires-python": project.get("requires-python", ""),
    }
    if version >= (2, 20):
        doc["dev-dependencies"] = _pdm_dev_groups(data, settings)
    else:
        doc["dev-dependencies"] = settings.get("dev-dependencies", {})
    if version >= (2, 16):
        doc["resolution"] = settings.get("resolution", {})
    elif version >= (2, 3) and "overrides" not in settings:
        doc["overrides"] = _table(settings.get("resolution", {})).get("overrides", {})
    else:
        doc["overrides"] = settings.get("overrides", {})
    return doc


def pdm_content_hash(
    data: Mapping[str, Any], algorithm: str = "sha256", *, version: str = "2.20"
) -> str:
    """PDM's ``content_hash`` for the parsed pyproject ``data``, as stored: ``"<algorithm>:<hex>"``.

    ``version`` names the first release of the variant: ``2.0``, ``2.3``, ``2.16`` or ``2.20``
    (the newest, still current in 2.29).
    """
    major, minor = (int(part) for part in version.split("."))
    hasher = hashlib.new(algorithm)
    hasher.update(_dumps(_pdm_document(data, (major, minor))))
    return f"{algorithm}:{hasher.hexdigest()}"


def _pdm_variant(version: str) -> Callable[[Mapping[str, Any], str], str]:
    def function(data: Mapping[str, Any], stored: str) -> str:
        algorithm, sep, _value = stored.partition(":")
        if not sep or algorithm not in hashlib.algorithms_guaranteed:
            raise _Unhashable(f"unknown hash algorithm {algorithm!r}")
        return pdm_content_hash(data, algorithm, version=version)

    return function


PDM_VARIANTS: tuple[HashVariant, ...] = (
    HashVariant("pdm", ">=2.20", _pdm_variant("2.20")),
    HashVariant("pdm", "2.16-2.19", _pdm_variant("2.16")),
    HashVariant("pdm", "2.3-2.15", _pdm_variant("2.3")),
    HashVariant("pdm", "2.0-2.2", _pdm_variant("2.0")),
)


# PDM 2.28.1+ "lock inputs" (opt-in): no content_hash; instead [metadata.lock_inputs.project]
# records the inputs, each source with its credentials dropped and every string that holds a
# URL replaced by "sha256:" + the SHA-256 of the URL as written.

_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def _fingerprint(value: str) -> str:
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _pdm_builtin(value: object) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _pdm_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pdm_builtin(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise _Unhashable(f"a {type(value).__name__} in a source")


def _pdm_sanitize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _pdm_sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_pdm_sanitize(v) for v in value]
    if isinstance(value, str) and _URL_RE.search(value):
        return _fingerprint(value)
    return value


def pdm_lock_input_sources(data: Mapping[str, Any]) -> list[Any] | None:
    """The ``sources`` that PDM records in ``[metadata.lock_inputs.project]`` for the parsed
    pyproject ``data`` (None when PDM could not record them either)."""
    sources = _table(_table(data.get("tool")).get("pdm")).get("source", [])
    try:
        items = _pdm_builtin(sources)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            return None
        out: list[Any] = []
        for item in items:
            item.pop("username", None)
            item.pop("password", None)
            if item.get("url"):
                item["url"] = _fingerprint(str(item["url"]))
            for key in ("include_packages", "exclude_packages"):
                if key in item:
                    item[key] = sorted(item[key])
            out.append(_pdm_sanitize(item))
    except (_Unhashable, TypeError):
        return None
    return out


def pdm_source_fingerprint(url: str) -> str:
    """How a lock-inputs lock records a source URL."""
    return _fingerprint(url)


# --------------------------------------------------------------------------------------------


def compute(variant: HashVariant, data: Mapping[str, Any], stored: str) -> str | None:
    """``variant``'s value for ``data`` (``stored`` gives PDM's algorithm); None if unhashable."""
    try:
        return variant.function(data, stored)
    except _Unhashable:
        return None


def find_variant(
    variants: Sequence[HashVariant], data: Mapping[str, Any], stored: str
) -> HashVariant | None:
    """The first variant whose value for ``data`` equals ``stored``, or None.

    None means the lock does not match this pyproject under any algorithm azfeeds knows: it was
    stale already, or written by an unknown client version.
    """
    for variant in variants:
        if compute(variant, data, stored) == stored:
            return variant
    return None
