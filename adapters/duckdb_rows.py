"""Rows of the DuckDB `events` table as RecordedEvents: the columns, in order, and the checks on reading (the
table's columns and types, no NULL, and each value of the type InvarLock writes)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from invarlock.domain.errors import IntegrityError
from invarlock.domain.events import RecordedEvent

COLUMNS = "run_id, seq, type, version, payload, recorded_at, prev_hash, hash"
_NAMES = COLUMNS.split(", ")
_TYPES = (str, int, str, int, str, datetime, str, str)  # what DuckDB returns for the columns InvarLock creates
_COLUMN_TYPES = {  # as DuckDB names the types of the events table InvarLock creates
    "run_id": "VARCHAR",
    "seq": "BIGINT",
    "type": "VARCHAR",
    "version": "INTEGER",
    "payload": "JSON",
    "recorded_at": "TIMESTAMP WITH TIME ZONE",
    "prev_hash": "VARCHAR",
    "hash": "VARCHAR",
}
_MISSING_COLUMN = re.compile(r'Referenced column "([^"]+)" not found')


def _null_columns(row: tuple[Any, ...]) -> IntegrityError:
    nulls = ", ".join(name for name, value in zip(_NAMES, row, strict=True) if value is None)
    return IntegrityError(
        "E603",
        f"event store row of run {row[0]} seq {row[1]} has NULL {nulls}",
        "the event store was altered; no invarlock version writes NULL columns",
    )


def _foreign_value(row: tuple[Any, ...]) -> IntegrityError | None:
    """A value of another type than InvarLock writes: a retyped column, or a time DuckDB cannot give as a datetime
    (a year after 9999 comes back as text, `infinity` without a time zone)."""
    for name, value, kind in zip(_NAMES, row, _TYPES, strict=True):
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is datetime and value.tzinfo is None):
            shown = f"{value.isoformat()} without a time zone" if isinstance(value, datetime) else f"{value!r:.60}"
            return IntegrityError(
                "E603",
                f"event store row of run {row[0]} seq {row[1]} has a {name} no invarlock version writes: {shown}",
                "the event store was altered; restore it from a copy",
            )
    return None


def row_to_record(row: tuple[Any, ...]) -> RecordedEvent:
    """The RecordedEvent of a row read as `SELECT {COLUMNS}`; IntegrityError E603 when a column is NULL or holds a
    value of another type than InvarLock writes."""
    if any(value is None for value in row):
        raise _null_columns(row)
    foreign = _foreign_value(row)
    if foreign is not None:
        raise foreign
    run_id, seq, type_, version, payload, recorded_at, prev_hash, hash_ = row
    return RecordedEvent(
        run_id=run_id,
        seq=seq,
        type=type_,
        version=version,
        payload=payload.encode("utf-8"),
        recorded_at=recorded_at.astimezone(UTC).isoformat(timespec="microseconds"),
        prev_hash=prev_hash,
        hash=hash_,
    )


def check_columns(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """IntegrityError E603 unless `events` has the columns and types InvarLock writes (1-2 ms: no catalog query)."""
    try:
        con.execute(f"SELECT {COLUMNS} FROM events LIMIT 0")
    except duckdb.BinderException as exc:
        missing = _MISSING_COLUMN.search(str(exc))
        raise altered_store(path, f"events has no column {missing[1] if missing else 'it needs'}") from exc
    found = {name: str(kind) for name, kind, *_ in con.description or ()}
    for name, kind in _COLUMN_TYPES.items():
        if found.get(name) != kind:
            raise altered_store(path, f"events.{name} is {found.get(name)}, not {kind}")


def altered_store(path: Path, what: str) -> IntegrityError:
    """E603: the store's tables are not what InvarLock writes (`what` says how)."""
    message = f"event store {path} does not hold the tables invarlock writes: {what}"
    return IntegrityError("E603", message, "the event store was altered; restore it from a copy")
