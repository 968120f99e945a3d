"""InMemoryEventStore: the EventStore port held in a dict, for tests and file-less runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import msgspec
from invarlock.domain.errors import ConcurrencyConflict
from invarlock.domain.events import GENESIS_HASH, Event, RecordedEvent, encode_event, record_hash
from invarlock.domain.run_index import IndexedRun, index_appended
from invarlock.domain.run_query import IndexedStream, RunQuery, select


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
        "another writer appended to this run; re-read the stream and retry",
    )


class InMemoryEventStore:
    """Append-only, hash-chained streams in process memory.

    Args:
        clock: returns the ISO-8601 UTC time stamped on each appended batch.
    """

    def __init__(self, *, clock: Callable[[], str] = utc_now_iso) -> None:
        self._clock = clock
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._index: dict[str, IndexedRun] = {}

    def append(self, run_id: str, expected_seq: int, events: Sequence[Event]) -> list[RecordedEvent]:
        """Append `events` at `expected_seq`; ConcurrencyConflict (E503) and no write if it is stale."""
        stream = self._streams.get(run_id, [])
        if expected_seq != len(stream):
            raise stale_seq_conflict(run_id, expected_seq, len(stream))
        prev_hash = stream[-1].hash if stream else GENESIS_HASH
        rows = record_events(run_id, expected_seq, prev_hash, events, normalize_timestamp(self._clock()))
        if rows:
            self._streams[run_id] = [*stream, *rows]
            self._index[run_id] = index_appended(self._index.get(run_id), rows, events) or self._index[run_id]
        return rows

    def read(self, run_id: str) -> list[RecordedEvent]:
        """Every event of the stream ordered by seq; [] for an unknown run."""
        return list(self._streams.get(run_id, []))

    def run_ids(self) -> list[str]:
        """Run ids ordered by their earliest recorded_at, then by run id."""
        return sorted(self._streams, key=lambda run_id: (min(r.recorded_at for r in self._streams[run_id]), run_id))

    def indexed_runs(self, query: RunQuery) -> tuple[list[IndexedStream], int]:
        """The page of indexed runs `query` selects, each with its stream as held now (RunIndex port)."""
        page, total = select(self._index.values(), query)
        return [self._stored(run) for run in page], total

    def _stored(self, run: IndexedRun) -> IndexedStream:
        stream = self._streams.get(run.run_id, [])
        head = next((r.hash for r in stream if r.seq == run.events - 1), None)
        return IndexedStream(run=run, stored_events=len(stream), stored_head_hash=head)
