"""Rows of the DuckDB `events` table as RecordedEvents: the columns, in order, and the NULL check on reading."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from invarlock.domain.errors import IntegrityError
from invarlock.domain.events import RecordedEvent

COLUMNS = "run_id, seq, type, version, payload, recorded_at, prev_hash, hash"
_NAMES = COLUMNS.split(", ")


def _null_columns(row: tuple[Any, ...]) -> IntegrityError:
    nulls = ", ".join(name for name, value in zip(_NAMES, row, strict=True) if value is None)
    return IntegrityError(
        "E603",
        f"event store row of run {row[0]} seq {row[1]} has NULL {nulls}",
        "the event store was altered; no invarlock version writes NULL columns",
    )


def row_to_record(row: tuple[Any, ...]) -> RecordedEvent:
    """The RecordedEvent of a row read as `SELECT {COLUMNS}`; IntegrityError E603 when a column is NULL."""
    if any(value is None for value in row):
        raise _null_columns(row)
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
