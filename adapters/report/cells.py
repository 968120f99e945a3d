"""Table cells: numbers rounded for reading with their full value kept, and nested values flattened to rows.

A float in a certificate carries 17 significant digits; a reader needs about five. A `Num` holds both: the
HTML layout shows `display` and puts `full` (the shortest repr that round-trips) in a `title` attribute.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import msgspec


@dataclass(frozen=True)
class Num:
    """A rounded number for display and the exact value it stands for."""

    display: str
    full: str

    def __str__(self) -> str:
        return self.display


Cell = str | Num


def short(value: float) -> str:
    """Five significant digits; scientific notation outside [1e-4, 1e6) so small values keep their digits."""
    if value == 0.0 or not math.isfinite(value):
        return repr(value) if value != 0.0 else "0"
    if 1e-4 <= abs(value) < 1e6:
        return f"{value:.5g}"
    return f"{value:.3e}"


def beside(value: float, limit: float | None) -> str:
    """`value` as `short` shows it, with as many more digits as it takes to sit on the same side of `limit` as the
    value itself (a CI bound of 1.1000049 shown as 1.1 beside a limit of 1.1 read as one that passes)."""
    shown = short(value)
    if limit is None or not math.isfinite(value):
        return shown
    for digits in range(6, 18):
        if not misread(float(shown), value, limit):
            break
        shown = f"{value:.{digits}g}"
    return shown


def misread(shown: float, value: float, limit: float) -> bool:
    """Whether `value` rounded to `shown` sits on another side of `limit` than the value (or on it, off it)."""
    return (shown > limit) - (shown < limit) != (value > limit) - (value < limit)


def limit_text(limit: float) -> str:
    """A limit as stated, every digit (the shortest repr): rounded, 1.0999996 read as 1.1."""
    return repr(float(limit))


def num(value: float, display: str | None = None) -> Num:
    """`value` shown as `display` (default: five significant digits) with its exact repr as the full value."""
    return Num(short(value) if display is None else display, repr(float(value)))


def cell(value: Any) -> Cell:
    """A cell for any scalar certificate value: floats rounded (full value kept), None as a dash, text quoted as JSON
    when it has leading or trailing blanks or characters a page does not show."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return num(value)
    if isinstance(value, list | tuple) and value and all(isinstance(v, float) for v in value):
        return Num("[" + ", ".join(short(v) for v in value) + "]", "[" + ", ".join(repr(v) for v in value) + "]")
    if isinstance(value, list | tuple):
        return ", ".join(str(cell(v)) for v in value) if value else "(none)"
    text = str(value)
    # quoted where the page would hide what tells two values apart: a label word's leading space, a newline
    hidden = text != text.strip() or any(not ch.isprintable() for ch in text)
    return json.dumps(text, ensure_ascii=False) if hidden else text


def flatten(key: str, value: Any) -> list[tuple[str, Any]]:
    """(dotted key, scalar) pairs of a nested value: a dict becomes one row per leaf, never a JSON blob."""
    if isinstance(value, msgspec.Struct):
        value = msgspec.to_builtins(value)
    if isinstance(value, dict):
        if not value:
            return [(key, "(none)")]
        return [pair for k, v in sorted(value.items()) for pair in flatten(f"{key}.{k}" if key else str(k), v)]
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple | msgspec.Struct) for v in value):
        return [pair for i, v in enumerate(value) for pair in flatten(f"{key}[{i}]", v)]
    return [(key, value)]


def kv_rows(pairs: list[tuple[str, Any]]) -> list[list[Cell]]:
    """Key/value rows with nested values flattened to dotted keys."""
    return [[k, cell(v)] for key, value in pairs for k, v in flatten(key, value)]


def percent(value: float) -> Num:
    """A percentage (already ×100) to two decimals."""
    return num(value, f"{value:.2f} %")


def points(value: float) -> Num:
    """A difference of percentages, in percentage points with its sign."""
    return num(value, f"{value:+.2f} pp")


def fixed(value: float, places: int) -> Num:
    """`value` to a fixed number of decimals (cosines near 1 need them all)."""
    return num(value, f"{value:.{places}f}")
