"""Audit port: read-only SQL over the event store, through one documented view per event type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class QueryResult:
    """A query's column names and its rows, each row a tuple of plain Python values in column order."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def as_dicts(self) -> list[dict[str, Any]]:
        """One `{column: value}` object per row."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class AuditQueries(Protocol):
    """Runs one read-only SELECT (or WITH … SELECT) over the event store's audit views."""

    def query(self, sql: str) -> QueryResult:
        """Run `sql`, which must be a single read-only query.

        Raises:
            UsageError: E510 when `sql` is anything but one SELECT/WITH query; E511 when the query fails
                (syntax, unknown column or view, type error); E512 when it runs past the timeout the adapter
                was built with. Nothing is ever written to the store.
        """
        ...
