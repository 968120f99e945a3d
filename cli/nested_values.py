"""Walking a config or edit given as nested mappings and lists (a YAML document, or a Python caller's mapping):
each value once, whatever its aliases or shared references, so a document of nested aliases or a list holding
the same list twice, forty levels deep, costs its size and not its expansion."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping


class ContainsItself(ValueError):
    """A mapping or list inside itself (a recursive alias, or a Python list appended to itself)."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


def children(value: object) -> list[tuple[object, object]]:
    """(key, item) pairs of a mapping or a list/tuple (indices as keys); none for anything else."""
    if isinstance(value, Mapping):
        return list(value.items())
    return list(enumerate(value)) if isinstance(value, list | tuple) else []


def nested_values(
    root: object, root_label: str, child_label: Callable[[str, object], str]
) -> Iterator[tuple[object, str, bool]]:
    """Every value under `root` (mapping keys too) as (value, label, is_key), each mapping or list walked once;
    raises ContainsItself naming where a mapping or list holds itself."""
    stack: list[tuple[object, str, frozenset[int]]] = [(root, root_label, frozenset())]
    walked: dict[int, object] = {}  # kept alive: a Mapping that builds its values on each access frees them
    while stack:
        value, where, inside = stack.pop()
        pairs = children(value)
        if not pairs:
            continue
        if id(value) in inside:
            raise ContainsItself(where)
        if id(value) in walked:
            continue
        walked[id(value)] = value
        keyed = isinstance(value, Mapping)
        for key, item in pairs:
            label = child_label(where, key)
            if keyed:
                yield key, label, True
                stack.append((key, label, inside))
            yield item, label, False
            stack.append((item, label, inside | {id(value)}))


def _children_first(root: object) -> Iterator[tuple[object, list[tuple[object, object]]]]:
    """Each distinct value under `root` (by identity) once, with its (key, item) parts as read on its first visit,
    after all of them: a Mapping may build new parts on each access (the regression hunt's KeyError), so they are
    read once and kept alive with it. `root` must not contain itself (nested_values refuses that first)."""
    done: dict[int, object] = {}
    read: dict[int, list[tuple[object, object]]] = {}
    stack: list[object] = [root]
    while stack:
        value = stack[-1]
        if id(value) in done:
            stack.pop()
            continue
        if id(value) not in read:
            read[id(value)] = children(value)
            waiting = [part for pair in read[id(value)] for part in pair if id(part) not in done]
            if waiting:
                stack.extend(waiting)
                continue
        stack.pop()
        done[id(value)] = value
        yield value, read[id(value)]


def expanded_size_over(root: object, limit: int) -> bool:
    """Whether `root` holds more than `limit` values once shared values are counted at each place they appear
    (what recording it writes out: a mapping's keys and items, a list's items). Each shared value is sized once."""
    sizes: dict[int, int] = {}
    for value, pairs in _children_first(root):
        keyed = isinstance(value, Mapping)
        sizes[id(value)] = 1 + sum(sizes[id(item)] + (sizes[id(key)] if keyed else 0) for key, item in pairs)
        if sizes[id(value)] > limit:
            return True
    return False


def plain_copy(root: object) -> object:
    """`root` with every Mapping made a dict and every list a list of copies (tuples stay tuples), each shared value
    copied once: what a decode and a deep copy take (a MappingProxyType section raised a bare TypeError from
    copy.deepcopy: the regression hunt)."""
    copies: dict[int, object] = {}
    for value, pairs in _children_first(root):
        if isinstance(value, Mapping | list | tuple):
            copies[id(value)] = _rebuilt(value, pairs, copies)
    return copies.get(id(root), root)


def _rebuilt(value: object, pairs: list[tuple[object, object]], copies: dict[int, object]) -> object:
    def copied(part: object) -> object:
        return copies.get(id(part), part)

    if isinstance(value, Mapping):
        return {copied(key): copied(item) for key, item in pairs}
    items = [copied(item) for _, item in pairs]
    return tuple(items) if isinstance(value, tuple) else items
