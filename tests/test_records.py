"""azfeeds.records.dataclass behaves as dataclasses.dataclass; only the time of compiling differs.

Every record of the modules that use it is defined twice from its own source, once with each
decorator, and the two are compared: fields, defaults, repr, equality, hashing, frozen errors,
argument errors, metadata, replace/asdict; whichever method is used first; and from many threads
at once on a class whose methods are not generated yet.
"""

from __future__ import annotations
import __future__

import ast
import dataclasses
import importlib
import re
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from azfeeds.records import lazy_dataclass

MODULES = (
    "azfeeds.fsio",
    "azfeeds.urls",
    "azfeeds.tomlscan",
    "azfeeds.kinds.base",
    "azfeeds.apiversion",
    "azfeeds.table",
    "azfeeds.planner",
    "azfeeds.walk",
    "azfeeds.engine",
)


def _records() -> list[tuple[str, str]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        assert "from .records import dataclass" in Path(str(module.__file__)).read_text() or (
            "from ..records import dataclass" in Path(str(module.__file__)).read_text()
        )
        tree = ast.parse(Path(str(module.__file__)).read_text())
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(d).startswith("dataclass") for d in node.decorator_list
            ):
                found.append((name, node.name))
    return found


RECORDS = _records()


def _define(module_name: str, class_name: str, decorator: Callable[..., Any]) -> Any:
    """The class ``class_name`` of ``module_name``, defined anew with ``decorator``."""
    module = importlib.import_module(module_name)
    source = Path(str(module.__file__)).read_text()
    node = next(
        n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == class_name
    )
    code = compile(
        ast.Module([node], []),
        str(module.__file__),
        "exec",
        flags=__future__.annotations.compiler_flag,
        dont_inherit=True,
    )
    namespace = dict(vars(module))
    namespace["dataclass"] = decorator
    exec(code, namespace)
    return namespace[class_name]


def _arguments(cls: Any) -> dict[str, Any]:
    """Values for the fields without a default (their types do not matter here)."""
    return {
        f.name: f"v{i}"
        for i, f in enumerate(dataclasses.fields(cls))
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def _shown(value: object) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


def _outcome(action: Callable[[], object]) -> str:
    try:
        return f"ok {_shown(action())}"
    except Exception as exc:  # the error each decorator's class raises is compared
        return f"{type(exc).__name__}: {exc}"


def _field_spec(cls: Any) -> list[tuple[object, ...]]:
    return [
        (f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.compare, f.hash, f.kw_only)
        for f in dataclasses.fields(cls)
    ]


@pytest.mark.parametrize(("module", "name"), RECORDS, ids=[f"{m}.{n}" for m, n in RECORDS])
def test_a_record_behaves_as_the_standard_dataclass(module: str, name: str) -> None:
    std = _define(module, name, dataclasses.dataclass)
    for first in ("init", "repr", "eq", "hash", "setattr", "fields", "params"):
        _compare(std, _define(module, name, lazy_dataclass), first)


def _compare(std: Any, lazy: Any, first: str) -> None:
    """``lazy`` behaves as ``std``, whichever of its methods is used ``first``."""
    args = _arguments(std)
    # the first use may be any of these, before or after an instance exists
    if first == "fields":
        assert _field_spec(lazy) == _field_spec(std)
    if first == "params":
        assert repr(lazy.__dataclass_params__) == repr(std.__dataclass_params__)
    a, b = lazy(**args), lazy(**args)
    x, y = std(**args), std(**args)
    if first == "repr":
        assert _shown(a) == _shown(x)
    if first == "eq":
        assert (a == b, a != b, a == 1) == (x == y, x != y, x == 1)
    if first == "hash":
        assert _outcome(lambda: hash(a) == hash(b)) == _outcome(lambda: hash(x) == hash(y))
    if first == "setattr":
        for attr in (dataclasses.fields(std)[0].name, "not_a_field"):
            assert _outcome(partial(setattr, a, attr, 1)) == _outcome(partial(setattr, x, attr, 1))
            a, x = lazy(**args), std(**args)
    assert _field_spec(lazy) == _field_spec(std)
    assert _shown(a) == _shown(x)
    assert (a == b, a != b, a == 1) == (x == y, x != y, x == 1)
    assert (lazy.__hash__ is None) == (std.__hash__ is None)
    assert _outcome(lambda: hash(a) == hash(b)) == _outcome(lambda: hash(x) == hash(y))
    for attr in (dataclasses.fields(std)[0].name, "not_a_field"):
        assert _outcome(partial(delattr, lazy(**args), attr)) == _outcome(
            partial(delattr, std(**args), attr)
        )
    assert repr(lazy.__dataclass_params__) == repr(std.__dataclass_params__)
    assert lazy.__match_args__ == std.__match_args__
    assert lazy.__doc__ == std.__doc__
    assert lazy.__init__.__qualname__ == std.__init__.__qualname__
    for f in dataclasses.fields(std):  # defaults are class attributes, factories are not
        assert (f.name in vars(lazy)) == (f.name in vars(std))
    assert _outcome(lambda: list(dataclasses.asdict(a))) == _outcome(
        lambda: list(dataclasses.asdict(x))
    )
    assert _shown(dataclasses.replace(a)) == _shown(dataclasses.replace(x))
    assert dataclasses.is_dataclass(lazy) and dataclasses.is_dataclass(a)
    if args:
        assert _outcome(lazy) == _outcome(std)  # the missing-argument error
    assert _outcome(lambda: lazy(*args.values(), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)) == (
        _outcome(lambda: std(*args.values(), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
    )


@pytest.mark.parametrize(("module", "name"), RECORDS[:: max(1, len(RECORDS) // 8)])
def test_threads_meet_a_record_before_its_methods_exist(module: str, name: str) -> None:
    cls = _define(module, name, lazy_dataclass)
    args = _arguments(cls)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work() -> None:
        try:
            start.wait()
            for _ in range(20):
                a, b = cls(**args), cls(**args)
                repr(a)
                assert a == b or cls.__eq__ is object.__eq__
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_classes_it_cannot_defer_exactly_are_built_at_once() -> None:
    @lazy_dataclass(order=True)
    class Ordered:
        a: int

    @lazy_dataclass
    class Own:
        a: int

        def __repr__(self) -> str:
            return "own"

    @lazy_dataclass
    class Base:
        a: int

    @lazy_dataclass
    class Child(Base):
        b: int = 0

    assert "__lt__" in vars(Ordered) and Ordered(1) < Ordered(2)
    assert repr(Own(1)) == "own" and Own(1) == Own(1)
    assert Child(1, 2) == Child(1, 2) and repr(Child(1)).endswith("Child(a=1, b=0)")
    assert [f.name for f in dataclasses.fields(Child)] == ["a", "b"]
