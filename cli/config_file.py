"""Reading YAML config and preset files into a validated RunConfig."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

import yaml
from invarlock.application.config import RunConfig, parse_config
from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import UsageError

from .inputs import MAX_CONFIG_BYTES, MAX_CONFIG_VALUES, read_input_file
from .nested_values import ContainsItself, expanded_size_over, nested_values


class _RepeatedKey(yaml.YAMLError):
    def __init__(self, key: object, mark: yaml.Mark) -> None:
        super().__init__(f"key {key!r} given twice")
        self.key, self.mark = key, mark


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error: PyYAML keeps the last one
    silently, so a config could say one value where it is read and run with another. Keys a merge (`<<: *base`)
    brings in may still be given again: overriding them is what a merge is for; two mappings of one merge list may
    not both give a key."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        merges = 0
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merges += 1  # a second `<<` in one mapping: PyYAML dropped the first merge
                if merges > 1:
                    raise _RepeatedKey("<<", key_node.start_mark)
                self._refuse_overlapping_merges(value_node)
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
            except TypeError:  # an unhashable key: the base class names it
                continue
            if repeated:
                raise _RepeatedKey(key, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def _refuse_overlapping_merges(self, merged: yaml.Node) -> None:
        """A key two mappings of one merge list (`<<: [*a, *b]`) both give: YAML gives the first priority, PyYAML
        the last, so the config would be read one way and run another. A part's keys include those its own merges
        bring in."""
        if not isinstance(merged, yaml.SequenceNode):
            return
        given: dict[object, tuple[yaml.Mark, yaml.Node]] = {}
        for part in merged.value:
            keys = self._keys_of(part) if isinstance(part, yaml.MappingNode) else {}
            # the same value node twice (two anchors that merged one base) reads the same whichever comes first
            repeated = next((key for key in keys if key in given and given[key][1] is not keys[key][1]), None)
            if repeated is not None:
                raise _RepeatedKey(repeated, keys[repeated][0])
            given.update(keys)

    def _keys_of(self, node: yaml.MappingNode) -> dict[object, tuple[yaml.Mark, yaml.Node]]:
        """The hashable keys a mapping node gives, with where each is written and its value's node, its merges'
        keys included."""
        keys: dict[object, tuple[yaml.Mark, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                parts = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for part in parts:
                    if isinstance(part, yaml.MappingNode):
                        keys = {**self._keys_of(part), **keys}
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool):
                keys[key] = (key_node.start_mark, value_node)
        return keys


class _AmbiguousNumber(yaml.YAMLError):
    def __init__(self, text: str, read: object, mark: yaml.Mark, *, quoted: bool) -> None:
        super().__init__(f"{text!r} is read as {read!r}")
        self.text, self.read, self.mark, self.quoted = text, read, mark, quoted


# Plain scalars YAML 1.1 (PyYAML) reads as numbers other than YAML 1.2 and JSON do: `1:05` is 65 (base 60), `017` is
# 15 (octal), `0b11` is 3; YAML 1.2 reads text or 17. A config must not mean two things. (Digits grouped by `_`,
# `1_000`, are text to YAML 1.2 but can mean no other number: read, as before.)
_YAML_1_1_ONLY = re.compile(r"^[-+]?(0b[01_]+|0[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?)$")


def _same_in_decimal(text: str, read: object) -> bool:
    """`007` and `00`: leading zeros YAML 1.1 reads as octal and YAML 1.2 as decimal, to the same number."""
    return text.lstrip("+-").isdigit() and int(text, 10) == read


def _unambiguous(constructor: Any) -> Any:
    def construct(loader: _Loader, node: yaml.ScalarNode) -> object:
        value = constructor(loader, node)
        text = node.value
        if isinstance(text, str) and _YAML_1_1_ONLY.match(text) and not _same_in_decimal(text, value):
            raise _AmbiguousNumber(text, value, node.start_mark, quoted=node.style is not None)
        return value

    return construct


_Loader.add_constructor("tag:yaml.org,2002:int", _unambiguous(yaml.SafeLoader.construct_yaml_int))
_Loader.add_constructor("tag:yaml.org,2002:float", _unambiguous(yaml.SafeLoader.construct_yaml_float))

# YAML 1.1 reads `5e-1` and `1.5e2` (no decimal point, or no sign in the exponent) as text, so a plan's `factor: 5e-1`
# was refused as "not a number" while a policy's `ratio_limit: 11e-1` was converted: read as the float YAML 1.2 and
# JSON make of them.
_EXPONENT = re.compile(r"^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT, list("-+.0123456789"))


def read_yaml(path: str, *, what: str = "config file", option: str = "-c/--config, --preset or --edit-config") -> Any:
    """The YAML document at `path`, read by the loader above; every failure is E201 naming the file."""
    hint = f"check the path passed to {option}"
    raw = read_input_file(path, what=what, code="E201", max_bytes=MAX_CONFIG_BYTES, hint=hint)
    try:
        loaded = yaml.load(raw.decode("utf-8"), Loader=_Loader)
    except UnicodeDecodeError as exc:  # a ValueError too: caught before the clause below takes it
        raise UsageError("E201", f"{path}: not UTF-8 text", "save the config as UTF-8") from exc
    except (RecursionError, ValueError) as exc:  # nesting deeper than the parser's stack; an int over 4300 digits
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]
        raise UsageError("E201", f"{path}: unreadable YAML: {reason}", "simplify the YAML") from exc
    except _AmbiguousNumber as exc:
        where = f"line {exc.mark.line + 1}, column {exc.mark.column + 1}"
        said = f"{path}: {exc.text} (at {where}) is the number {exc.read!r} to YAML 1.1 and not to YAML 1.2 or JSON"
        text = "" if exc.quoted else ", or quote it to give text"  # `!!int '017'` is quoted already
        raise UsageError("E201", said, f"write {exc.read!r} in decimal{text}") from exc
    except _RepeatedKey as exc:
        where = f"line {exc.mark.line + 1}, column {exc.mark.column + 1}"
        raise UsageError("E201", f"{path}: key {exc.key!r} is given twice (at {where})", "keep one of them") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UsageError("E201", f"{path}: malformed YAML{where}: {problem}", "fix the YAML syntax") from exc
    _check_values(path, loaded)
    _check_expanded_size(path, loaded)
    return loaded


def _check_values(path: str, loaded: Any) -> None:
    """Refuse what YAML can express but no config can record: a value that contains itself (a recursive alias)
    and a string with a lone surrogate ("\\ud800"), which is not UTF-8 text. A value shared by aliases is
    checked once, so a document of nested aliases costs its size, not its expansion."""
    try:
        for value, where, is_key in nested_values(loaded, "", _label):
            if isinstance(value, str) and not is_utf8(value):
                raise UsageError("E201", f"{path}: {where or 'a value'} is not UTF-8 text", "remove the \\u escape")
            if not is_key:
                _refuse_non_json(path, where, value)
    except ContainsItself as exc:
        said = f"{path}: {exc.label} contains itself (a recursive alias)"
        raise UsageError("E201", said, "expand the alias") from None


def _label(where: str, key: object) -> str:
    return f"{where}.{_printable(key)}" if where else _printable(key)


# What YAML's tags make that JSON has no form for: recorded, a date became text, bytes base64 and a set a list in the
# order of Python's string hashing (a plugin edit ran with one value and the run recorded another).
_NON_JSON = {date: "date or time", time: "time", bytes: "binary value", set: "set", tuple: "ordered pair list"}


def _refuse_non_json(path: str, label: str, value: Any) -> None:
    kind = next((name for cls, name in _NON_JSON.items() if isinstance(value, cls)), None)
    if kind is not None:
        raise UsageError(
            "E201",
            f"{path}: {label} is a YAML {kind}, which a run's recorded config cannot hold",
            "quote it to give text, or write a number or a list",
        )


def _check_expanded_size(path: str, loaded: Any) -> None:
    """Refuse a config that holds more than MAX_CONFIG_VALUES values once its aliases are expanded. Each shared
    value is sized once (the document is acyclic by now), so the check costs the document's size."""
    if expanded_size_over(loaded, MAX_CONFIG_VALUES):
        raise UsageError(
            "E201",
            f"{path}: holds more than {MAX_CONFIG_VALUES:,} values (its aliases expanded, if any); a config holds"
            " hundreds",
            "remove the long lists, or write the config without nested aliases",
        )


def _printable(key: Any) -> str:
    return str(key) if not isinstance(key, str) or is_utf8(key) else ascii(key)


def load_config(path: str | None) -> RunConfig:
    """The config at `path`, or the embedded default (demo model, demo Wikipedia text) when None."""
    if path is None:
        return parse_config({}, source="<embedded default>")
    return parse_config(read_config(path), source=path)


def read_config(path: str) -> Any:
    """read_yaml of a run config; E201 for a file with no document (empty, or comments only): the embedded
    default's full run started in its place, profile ci and 380 windows (the Python API hunt)."""
    loaded = read_yaml(path)
    if loaded is None:
        raise UsageError(
            "E201",
            f"{path}: holds no config (the file is empty, only comments or null)",
            "write the run's sections (configs/presets/ has examples), or pass no config for the embedded default",
        )
    return loaded
