"""The three moves of the InvarLock 0.3.7 config translation: rename a key, drop a key whose value states
what this tool always does, refuse a key with no equivalent (UsageError E201 naming ours)."""

from __future__ import annotations

from typing import Any

from invarlock.domain.errors import UsageError

Section = dict[str, Any]


def _full(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def rename(section: Section, where: str, old: str, new: str, source: str) -> None:
    """Move `old` to `new` (E201 when both are given with different values)."""
    if old not in section:
        return
    value = section.pop(old)
    if new in section and section[new] != value:
        raise UsageError(
            "E201",
            f"{source}: {_full(where, old)} (InvarLock 0.3.7) and {_full(where, new)} disagree",
            f"keep only {_full(where, new)}",
        )
    section[new] = value


def drop_if(section: Section, where: str, key: str, implied: tuple[object, ...], hint: str, source: str) -> None:
    """Remove `key` when its value is one this tool always implies; otherwise E201 with `hint`."""
    if key not in section:
        return
    value = section.pop(key)
    if not any(value == v and type(value) is type(v) for v in implied):
        raise UsageError("E201", f"{source}: {_full(where, key)}: {value!r} (InvarLock 0.3.7) is not supported", hint)


def refuse(section: Section, where: str, key: str, equivalent: str, source: str) -> None:
    """E201 when `key` is present: it has no equivalent here; `equivalent` says what to use instead."""
    if key in section:
        raise UsageError(
            "E201", f"{source}: {_full(where, key)} (InvarLock 0.3.7) has no equivalent here", f"use {equivalent}"
        )


def number(value: object) -> object:
    """A YAML 1.1 scalar such as `9e-4` (read as a string) as the float it spells; anything else unchanged."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
