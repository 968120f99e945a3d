"""Plain-text and JSON rendering of query results (`invarlock audit --sql`).

JSON has no NaN or infinities, so non-finite floats are written as the strings "NaN", "Infinity" and
"-Infinity" (docs/audit.md); the output is always strict JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from invarlock.domain.certificate import MAX_NESTING
from invarlock.domain.errors import UsageError
from invarlock.ports.audit import Deadline, QueryResult

from .console import printable

_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as strict-JSON data: nested lists/maps kept (below MAX_NESTING levels, deeper ones as their text:
    a LIST nested 500 deep ran out of Python's recursion), timestamps ISO-8601, NaN/±inf as strings."""
    if depth > MAX_NESTING and isinstance(value, dict | list | tuple):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        return number if math.isfinite(number) else _NON_FINITE[str(number)]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _rows(result: QueryResult, deadline: Deadline | None) -> Iterable[tuple[Any, ...]]:
    return result.rows if deadline is None else deadline.rows(result.rows, "rendering")


def to_json(result: QueryResult, deadline: Deadline | None = None) -> str:
    """One JSON array of `{column: value}` objects (see `plain` for how values are written). Raises UsageError
    E511 when two columns share a name: one object holds one value per name, the other would be dropped."""
    shared = next((name for i, name in enumerate(result.columns) if name in result.columns[:i]), None)
    if shared is not None:
        raise UsageError(
            "E511",
            f"--json writes one value per column name and the query returns {result.columns.count(shared)} "
            f"columns named {shared}",
            f"give each its own name with AS (e.g. `... AS {shared}_2`), or leave out --json",
        )
    rows = [{c: plain(v) for c, v in zip(result.columns, row, strict=True)} for row in _rows(result, deadline)]
    return json.dumps(rows, allow_nan=False)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dict | list | tuple):
        return json.dumps(plain(value), separators=(",", ":"), allow_nan=False)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value).replace("\n", " ")


def to_table(result: QueryResult, deadline: Deadline | None = None) -> str:
    """An aligned text table: header, dashes, one line per row, then `(N rows)`."""
    cells = [[printable(_cell(v)) for v in row] for row in _rows(result, deadline)]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(result.columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.append(f"({len(cells)} row{'' if len(cells) == 1 else 's'})")
    return "\n".join(lines)
