"""azfeeds.record: the plain records of the start-up path behave as the dataclasses they replace."""

from __future__ import annotations

import json
from typing import Final

import pytest

from azfeeds import report
from azfeeds.record import Record, Value


class Point(Value):
    __slots__ = ("x", "y")
    x: Final[int]
    y: Final[str | None]

    def __init__(self, x: int, y: str | None = None) -> None:
        self.x = x
        self.y = y


class Bag(Record):
    __slots__ = ("items", "_cache")
    items: list[Point]

    def __init__(self, items: list[Point] | None = None) -> None:
        self.items = items if items is not None else []
        self._cache = None


def test_fields_follow_slots_and_skip_private_caches() -> None:
    assert Point.fields == ("x", "y")
    assert Bag.fields == ("items",)


def test_value_equality_and_hash_are_by_fields_and_type() -> None:
    assert Point(1, "a") == Point(1, "a")
    assert Point(1, "a") != Point(1, "b")
    assert len({Point(1), Point(1), Point(2)}) == 2
    assert Point(1) != (1, None)  # not a tuple: no equality with one


def test_record_equality_is_identity() -> None:
    a, b = Bag(), Bag()
    assert a == a and a != b
    assert len({a, b}) == 2


def test_repr_names_every_field() -> None:
    assert repr(Point(1, "a")) == "Point(x=1, y='a')"
    assert repr(Bag([Point(2)])) == "Bag(items=[Point(x=2, y=None)])"


def test_replace_copies_with_changes_and_refuses_unknown_names() -> None:
    p = Point(1, "a")
    q = p.replace(y="b")
    assert (p, q) == (Point(1, "a"), Point(1, "b"))
    with pytest.raises(TypeError):
        p.replace(z=3)


def test_slots_refuse_unknown_attributes() -> None:
    with pytest.raises(AttributeError):
        Point(1).z = 3  # type: ignore[attr-defined]


def test_report_turns_records_into_json() -> None:
    doc = json.loads(report.envelope("rewrite", 0, {"bag": Bag([Point(1, "a")])}))
    assert doc["result"]["bag"] == {"items": [{"x": 1, "y": "a"}]}
