"""What every event store does the same way: stamp a batch, chain its events into rows, and name a stale append."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
from invarlock.domain.errors import ConcurrencyConflict
from invarlock.domain.events import Event, RecordedEvent, encode_event, record_hash


def utc_now_iso() -> str:
    """The current time as ISO-8601 UTC with microseconds, e.g. `2026-01-02T03:04:05.123456+00:00`."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def normalize_timestamp(value: str) -> str:
    """`value` (ISO-8601; naive means UTC) as ISO-8601 UTC with microseconds, the form stores read back."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def record_events(
    run_id: str, start_seq: int, prev_hash: str, events: Sequence[Event], recorded_at: str
) -> list[RecordedEvent]:
    """Encode `events` and chain them after `prev_hash`, numbering them from `start_seq`.

    Args:
        run_id: the stream the events belong to.
        start_seq: the seq of the first event (the stream's current length).
        prev_hash: hash of the stream's last event, or GENESIS_HASH for an empty stream.
        events: the events to record, in order.
        recorded_at: ISO-8601 UTC timestamp shared by the batch, in the normalized form stores read back
            (`normalize_timestamp`); the hash covers it.

    Returns:
        The rows to store.
    """
    rows: list[RecordedEvent] = []
    for offset, event in enumerate(events):
        type_, version, payload = encode_event(event)
        row = RecordedEvent(
            run_id=run_id,
            seq=start_seq + offset,
            type=type_,
            version=version,
            payload=payload,
            recorded_at=recorded_at,
            prev_hash=prev_hash,
            hash="",
        )
        row = msgspec.structs.replace(row, hash=record_hash(row))
        rows.append(row)
        prev_hash = row.hash
    return rows


def stale_seq_conflict(run_id: str, expected_seq: int, actual_seq: int | None) -> ConcurrencyConflict:
    """The E503 error for an append whose `expected_seq` is not the stream's length (None: unknown)."""
    found = "another writer took that seq" if actual_seq is None else f"the stream has {actual_seq} events"
    return ConcurrencyConflict(
        "E503",
        f"run {run_id}: append expected seq {expected_seq} but {found}",
        f"another process appended to run {run_id} (a second --resume of it?): nothing of this command was "
        f"recorded; `invarlock events {run_id}` shows how far the run is, resume it only if it is still incomplete",
    )
