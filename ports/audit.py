"""Audit port: read-only SQL over the event store, through one documented view per event type."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from time import monotonic
from typing import Any, Protocol

from invarlock.domain.errors import UsageError

CHECK_EVERY_ROWS = 4096  # rows decoded or rendered between two looks at the clock


@dataclass(frozen=True)
class QueryResult:
    """A query's column names and its rows, each row a tuple of plain Python values in column order."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def as_dicts(self) -> list[dict[str, Any]]:
        """One `{column: value}` object per row."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def timeout_error(timeout_s: float, stage: str) -> UsageError:
    """E512: the audit ran past its timeout; `stage` says where (the query, decoding or rendering its rows)."""
    seconds = str(int(timeout_s)) if math.isfinite(timeout_s) and timeout_s == int(timeout_s) else f"{timeout_s:g}"
    return UsageError(
        "E512",
        f"audit stopped after the {seconds} s timeout ({stage})",
        "narrow the query (WHERE, LIMIT) or allow more time with --timeout SECONDS",
    )


class Deadline:
    """The end of an audit's `timeout_s`, counted from its making: the query, then decoding and rendering rows."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.at = monotonic() + timeout_s

    def rows(self, rows: Sequence[Any], stage: str) -> Iterator[Any]:
        """`rows` one by one; E512 naming `stage` (e.g. "decoding") once the timeout has passed."""
        for i, row in enumerate(rows):
            if i % CHECK_EVERY_ROWS == 0 and monotonic() > self.at:
                raise timeout_error(self.timeout_s, f"while {stage} its {len(rows)} rows")
            yield row


class AuditQueries(Protocol):
    """Runs one read-only SELECT (or WITH … SELECT) over the event store's audit views."""

    def query(self, sql: str) -> QueryResult:
        """Run `sql`, which must be a single read-only query.

        Raises:
            UsageError: E510 when `sql` is anything but one SELECT/WITH query; E511 when the query fails
                (syntax, unknown column or view, type error); E512 when running it, fetching and decoding its rows
                take longer than the timeout the adapter was built with. Nothing is ever written to the store.
        """
        ...
