"""InMemoryEventStore: the EventStore port held in a dict, for tests and file-less runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from invarlock.domain.events import GENESIS_HASH, Event, RecordedEvent
from invarlock.domain.run_index import IndexedRun, index_appended, index_stored
from invarlock.domain.run_query import RunQuery, select
from invarlock.domain.stream_check import IndexedStream

from .stored_rows import normalize_timestamp, record_events, stale_seq_conflict, utc_now_iso


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

    def folded_runs(self) -> list[IndexedRun]:
        """The entry every held stream folds to (RunIndex port)."""
        return [index_stored(stream) for stream in self._streams.values()]

    def _stored(self, run: IndexedRun) -> IndexedStream:
        stream = self._streams.get(run.run_id, [])
        head = next((r.hash for r in stream if r.seq == run.events - 1), None)
        return IndexedStream(run=run, stored_events=len(stream), stored_head_hash=head)
