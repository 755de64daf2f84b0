"""Plain records for the modules every run loads: ``__slots__`` classes with a written ``__init__``.

Why not ``@dataclass``: on Python 3.10 and 3.11 the decorator compiles each generated method with
``exec`` when the class is created, 0.4 to 0.9 ms per class. The 38 records that an offline rewrite
loads cost 15.7 ms of its start-up (measured with ``scripts/bench.py --only startup``), half of what
azfeeds adds to the libraries it imports. A class with ``__slots__`` and a written ``__init__``
costs about 6 microseconds to create, and its instances are made faster than a frozen dataclass's.

- ``Record``: compared by identity, like ``@dataclass(eq=False)``; a readable ``repr``.
- ``Value``: compared and hashed by its fields, like ``@dataclass(frozen=True)``. Its fields are
  declared ``Final`` at class level, so mypy refuses any assignment outside ``__init__``.

``fields`` gives the field names in declaration order (the order of ``__slots__``; a slot whose
name starts with ``_`` is a private cache, not a field); ``report`` uses it to turn a record into
JSON, as ``dataclasses.asdict`` did, and ``replace`` to copy one with changes. Modules that only some commands
load (auth, client, doctor...) keep ``@dataclass``: their start-up cost is paid only there.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar, cast

_R = TypeVar("_R", bound="Record")


class Record:
    """A record compared by identity. Subclasses set ``__slots__`` (field order) and ``__init__``."""

    __slots__ = ()
    fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            slots = klass.__dict__.get("__slots__", ())
            names.extend(
                [slots] if isinstance(slots, str) else [s for s in slots if not s.startswith("_")]
            )
        cls.fields = tuple(names)

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.fields)
        return f"{type(self).__name__}({parts})"

    def replace(self: _R, **changes: object) -> _R:
        """A copy with some fields changed, as ``dataclasses.replace`` makes one.

        Every ``__init__`` parameter bears its field's name; an unknown name is a TypeError."""
        values: dict[str, object] = {name: getattr(self, name) for name in self.fields}
        values.update(changes)
        return cast(Any, type(self))(**values)  # type: ignore[no-any-return]


class Value(Record):
    """A record compared and hashed by its fields (an immutable value)."""

    __slots__ = ()

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Value) or type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())
