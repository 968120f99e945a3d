"""The one walk over nested config values that the YAML reader and the Python API share: each shared value once,
a value inside itself named, and the size counted as recording writes it out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from invarlock.cli.nested_values import ContainsItself, expanded_size_over, nested_values


def _dotted(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def test_every_key_and_value_is_given_with_its_label_and_a_shared_list_once() -> None:
    shared = ["s"]
    walked = list(nested_values({"a": shared, "b": {"c": shared, ("t", "u"): 1}}, "", _dotted))
    texts = sorted((value, where) for value, where, _ in walked if isinstance(value, str))
    assert [text for text, _ in texts] == ["a", "b", "c", "s", "t", "u"]  # "s" once, under a or b.c
    assert ("t", "b.('t', 'u').0") in texts and ("c", "b.c") in texts
    assert sorted(where for _, where, is_key in walked if is_key) == ["a", "b", "b.('t', 'u')", "b.c"]


def test_a_list_inside_itself_is_named_where_it_comes_back() -> None:
    looped: list[Any] = [1]
    looped.append({"k": looped})
    with pytest.raises(ContainsItself) as found:
        list(nested_values({"top": looped}, "", _dotted))
    assert found.value.label == "top.1.k"


def test_a_value_reached_twice_without_a_loop_is_no_loop() -> None:
    shared = {"k": 1}
    assert [value for value, _, _ in nested_values([shared, shared], "r", _dotted) if value == "k"] == ["k"]


@pytest.mark.parametrize(
    ("levels", "limit", "over"), [(10, 2**11 - 1, False), (10, 2**11 - 2, True), (60, 10**6, True)]
)
def test_the_size_counts_a_shared_value_at_each_place(levels: int, limit: int, over: bool) -> None:
    shared: list[Any] = []
    for _ in range(levels):
        shared = [shared, shared]
    assert expanded_size_over(shared, limit) is over  # 2**(levels+1) - 1 lists in all, sized in `levels` steps


class _Fresh(Mapping[str, Any]):
    """A mapping that builds a new dict on each access, as a computed view does (the regression hunt: sizing it
    raised a bare KeyError, the walk kept no value alive so a freed id could be taken for one walked)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def __getitem__(self, key: str) -> Any:
        return dict(self.spec[key]) if isinstance(self.spec[key], dict) else self.spec[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.spec)

    def __len__(self) -> int:
        return len(self.spec)


def test_a_mapping_that_builds_its_values_on_each_access_is_walked_and_sized() -> None:
    fresh = _Fresh({f"s{i}": {"k": f"v{i}", "x": "\\udcff" if i == 7 else "ok"} for i in range(20)})
    assert not expanded_size_over(fresh, 1000) and expanded_size_over(fresh, 50)
    bad = [where for value, where, _ in nested_values(fresh, "", _dotted) if value == "\\udcff"]
    assert bad == ["s7.x"]


def test_a_plain_copy_makes_every_mapping_a_dict_and_copies_a_shared_value_once() -> None:
    from types import MappingProxyType

    from invarlock.cli.nested_values import plain_copy

    shared = MappingProxyType({"k": [1, (2, 3)]})
    copied = plain_copy({"a": shared, "b": shared, "c": _Fresh({"d": {"e": 1}})})
    assert copied == {"a": {"k": [1, (2, 3)]}, "b": {"k": [1, (2, 3)]}, "c": {"d": {"e": 1}}}
    assert isinstance(copied, dict) and type(copied["a"]) is dict and copied["a"] is copied["b"]
