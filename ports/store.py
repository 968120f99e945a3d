"""Event store port: append-only, hash-chained streams of events, one stream per run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from invarlock.domain.events import Event, RecordedEvent


class EventStore(Protocol):
    """Append-only event streams keyed by (run_id, seq). No update or delete exists."""

    def append(self, run_id: str, expected_seq: int, events: Sequence[Event]) -> list[RecordedEvent]:
        """Append `events` to the stream `run_id` in one transaction, starting at seq `expected_seq`.

        `expected_seq` must equal the number of events already in the stream, else ConcurrencyConflict
        (E503) and nothing is written. Each event's hash chains from the previous event's hash (the
        genesis value for seq 0) via `domain.events.chain_hash` over its canonical payload bytes.
        Returns the recorded rows. A crash leaves a prefix of the stream, never a torn event.
        """
        ...

    def read(self, run_id: str) -> list[RecordedEvent]:
        """Every recorded event of the stream, ordered by seq; [] for an unknown run."""
        ...

    def run_ids(self) -> list[str]:
        """Every stream's run id, ordered by the time of its first event."""
        ...
