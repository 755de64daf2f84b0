"""``dataclass``, with the generated methods compiled on first use rather than at import.

The standard ``@dataclass`` compiles each method it generates (``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, and a frozen class's ``__setattr__``/``__delattr__``) with its own
``exec`` when the class is defined: about 0.2-0.4 ms a class on Python 3.11, most of azfeeds'
own start-up cost. Most of these methods are never called in a run (``__repr__`` hardly ever,
``__eq__``/``__hash__`` only for the few records used as keys), and some classes are never
instantiated at all (add mode, locks, the network).

This ``dataclass`` gives each class stubs in place of those methods. The first call of a stub
has the standard ``dataclasses.dataclass`` generate the method on a copy of the class (same
bases, same namespace, so the same fields, defaults and options), puts the generated method on
the real class, and calls it. What the standard decorator would have produced is therefore
produced, by the standard decorator, only later: ``fields()``, ``asdict()``, ``replace()``,
``is_dataclass()``, ``__match_args__`` and ``__dataclass_params__`` behave as usual (reading
them generates ``__init__`` first, as an instance would).

Type checkers see the standard decorator (the ``TYPE_CHECKING`` branch). Classes this module
cannot defer exactly (slots, order, a base class other than ``object``, a method of their own
among the generated ones) are handed to the standard decorator at once.
"""

from __future__ import annotations

import dataclasses
from _thread import RLock  # not threading: it would load more
from typing import TYPE_CHECKING, Any

_lock = RLock()
_OPTIONS = ("init", "repr", "eq", "order", "unsafe_hash", "frozen")
_META = ("__dataclass_fields__", "__dataclass_params__", "__match_args__")
_OWN = ("__dict__", "__weakref__", "__doc__", "__qualname__")


def lazy_dataclass(cls: type | None = None, /, **options: Any) -> Any:
    """``dataclasses.dataclass`` with its generated methods compiled on first use."""

    def wrap(klass: type) -> type:
        return _defer(klass, options)

    return wrap if cls is None else wrap(cls)


class _Lazy:
    """What a deferred class remembers until its methods are generated."""

    def __init__(self, cls: type, options: dict[str, Any], stubs: dict[str, str]) -> None:
        self.cls = cls
        self.options = options
        # the class namespace as written (field() objects included), for every copy
        self.namespace = {
            k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")
        }
        self.stubs = stubs  # name -> group
        self.done: set[str] = set()

    def realize(self, group: str) -> None:
        """Generate the methods of ``group`` (``init``, ``repr`` or ``eq``) and install them."""
        with _lock:
            if group in self.done:
                return
            if group != "init" and "init" not in self.done:
                self.realize("init")  # the metadata first, as the standard decorator has it
            opts = dict(self.options)
            for name in ("init", "repr", "eq", "unsafe_hash", "order"):
                opts[name] = False
            if group == "init":
                opts["init"] = self.options.get("init", True)
            elif group == "repr":
                opts["frozen"] = False
                opts["repr"] = True
            else:  # eq, and the hash that goes with it
                opts["frozen"] = False
                opts["eq"] = True
                opts["unsafe_hash"] = "__hash__" in self.stubs
            cls = self.cls
            copy = type(
                cls.__name__, cls.__bases__, {**self.namespace, "__qualname__": cls.__qualname__}
            )
            dataclasses.dataclass(copy, **opts)
            made = copy.__dict__
            if group == "init":
                params = made["__dataclass_params__"]
                for name in _OPTIONS:
                    if hasattr(params, name):
                        setattr(params, name, self.options.get(name, name in _DEFAULT_TRUE))
                # what the decorator does to the class itself: field defaults become class
                # attributes (or go, for default factories), the docstring of an undocumented
                # class, the metadata
                for f in made["__dataclass_fields__"].values():
                    if f.name in made:
                        setattr(cls, f.name, made[f.name])
                    elif f.name in cls.__dict__:
                        delattr(cls, f.name)
                if cls.__doc__ is None:
                    cls.__doc__ = made.get("__doc__")
                # and whatever else it added: __init__, a frozen class's __setattr__ and
                # __delattr__, the metadata (and __replace__ from Python 3.13)
                fields = made["__dataclass_fields__"]
                for name, value in made.items():
                    if name not in self.namespace and name not in fields and name not in _OWN:
                        self._install(name, value, copy)
            else:
                for name, g in self.stubs.items():
                    if g == group and name in made:
                        self._install(name, made[name], copy)
            self.done.add(group)

    def _install(self, name: str, fn: Any, copy: type) -> None:
        # generated code that refers to its class (a frozen class's __setattr__) must see
        # this class, not the copy it was generated on
        for cell in getattr(fn, "__closure__", None) or ():
            if cell.cell_contents is copy:
                cell.cell_contents = self.cls
        setattr(self.cls, name, fn)


_DEFAULT_TRUE = ("init", "repr", "eq")


class _MetaStub:
    """``__dataclass_fields__`` and friends before the class is generated."""

    def __init__(self, lazy: _Lazy, name: str) -> None:
        self.lazy = lazy
        self.name = name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        self.lazy.realize("init")
        return self.lazy.cls.__dict__[self.name]


def _stub(lazy: _Lazy, name: str, group: str) -> Any:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        lazy.realize(group)
        return lazy.cls.__dict__[name](self, *args, **kwargs)

    method.__name__ = name
    method.__qualname__ = f"{lazy.cls.__qualname__}.{name}"
    return method


def _defer(cls: type, options: dict[str, Any]) -> type:
    unknown = set(options) - {"init", "repr", "eq", "frozen", "unsafe_hash", "match_args"}
    own = cls.__dict__
    eq = options.get("eq", True)
    frozen = options.get("frozen", False)
    class_hash = own.get("__hash__", dataclasses.MISSING)
    explicit_hash = not (
        class_hash is dataclasses.MISSING or (class_hash is None and "__eq__" in own)
    )
    generated = (
        "__init__",
        "__repr__",
        "__eq__",
        "__setattr__",
        "__delattr__",
        "__dataclass_fields__",
        "__dataclass_params__",
        "__match_args__",
    )
    if (
        unknown
        or cls.__bases__ != (object,)
        or explicit_hash
        or any(name in own for name in generated)
    ):
        return dataclasses.dataclass(cls, **options)
    stubs: dict[str, str] = {}
    if options.get("init", True):
        stubs["__init__"] = "init"
    if options.get("repr", True):
        stubs["__repr__"] = "repr"
    if eq:
        stubs["__eq__"] = "eq"
    if options.get("unsafe_hash", False) or (eq and frozen):
        stubs["__hash__"] = "eq"
    lazy = _Lazy(cls, options, stubs)
    for name, group in stubs.items():
        setattr(cls, name, _stub(lazy, name, group))
    if frozen:
        for name in ("__setattr__", "__delattr__"):
            setattr(cls, name, _stub(lazy, name, "init"))
    if eq and "__hash__" not in stubs:
        cls.__hash__ = None  # type: ignore[assignment]  # an eq dataclass is unhashable
    for name in _META:
        setattr(cls, name, _MetaStub(lazy, name))
    return cls


if TYPE_CHECKING:
    from dataclasses import dataclass as dataclass
else:
    dataclass = lazy_dataclass
