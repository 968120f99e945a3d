"""Event store port: append-only, hash-chained streams of events, one stream per run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from invarlock.domain.events import Event, RecordedEvent
from invarlock.domain.run_index import IndexedRun
from invarlock.domain.run_query import RunQuery
from invarlock.domain.stream_check import IndexedStream


class EventStore(Protocol):
    """Append-only event streams keyed by (run_id, seq). No update or delete exists."""

    def append(self, run_id: str, expected_seq: int, events: Sequence[Event]) -> list[RecordedEvent]:
        """Append `events` to the stream `run_id` in one transaction, starting at seq `expected_seq`.

        `expected_seq` must equal the number of events already in the stream, else ConcurrencyConflict
        (E503) and nothing is written. Each row's hash is `domain.events.chain_hash` over its run_id, seq,
        recorded_at (the batch's append time, normalized to `YYYY-MM-DDTHH:MM:SS.ffffff+00:00`), the previous
        row's hash (the genesis value for seq 0), type, version and canonical payload bytes
        (docs/reference/event-chain.md). Returns the recorded rows; `read` returns them identically.
        A crash leaves a prefix of the stream, never a torn event.
        """
        ...

    def read(self, run_id: str) -> list[RecordedEvent]:
        """Every recorded event of the stream, ordered by seq; [] for an unknown run.

        Raises IntegrityError (E603) for a stored row with a NULL column; chain checks are the caller's.
        """
        ...

    def run_ids(self) -> list[str]:
        """Every stream's run id, even one whose seq 0 is missing, ordered by its earliest recorded_at."""
        ...


class RunIndex(Protocol):
    """The run index a store keeps in the same transaction as each append (domain/run_index.py)."""

    def indexed_runs(self, query: RunQuery) -> tuple[list[IndexedStream], int]:
        """The page of runs `query` selects (domain.run_query.select's order and filters) and how many match.

        Each entry comes with the stream's current row count and the hash of its row at seq
        `run.events - 1` (None when that row is missing), read without reading payloads, so the caller can
        tell a stream that still ends where it was indexed (domain.stream_check.compare_stream). A store with no
        index yet (written by an earlier version) builds the entries from its streams for this call.
        """
        ...

    def folded_runs(self) -> list[IndexedRun]:
        """The entry every stored stream folds to (domain.run_index.index_stored: chain-checked and decoded, its
        `problem` set where that fails), the run index left aside, read in one scan."""
        ...
