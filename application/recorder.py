"""Appends a run's events in order, tracking the expected sequence number."""

from __future__ import annotations

from invarlock.domain import events as ev
from invarlock.domain.run import RunState, evolve
from invarlock.ports.store import EventStore


class RunRecorder:
    """Writes events to one stream and keeps the folded state and the head hash in step."""

    def __init__(self, store: EventStore, run_id: str, existing: list[ev.RecordedEvent] | None = None) -> None:
        self.store = store
        self.run_id = run_id
        self.state: RunState | None = None
        self.head_hash = ev.GENESIS_HASH
        self.seq = 0
        for rec in existing or []:
            self._advance(ev.decode_event(rec.type, rec.version, rec.payload), rec.hash)

    def _advance(self, event: ev.Event, hash_: str) -> None:
        self.state = evolve(self.state, event)
        self.head_hash = hash_
        self.seq += 1

    def record_failure(self, failed_at: str, code: str, message: str) -> None:
        """Record RunFailed unless the run already has its certificate (a later step, e.g. export, failed)."""
        if self.state is not None and self.state.issued is None:
            self.record(ev.RunFailed(failed_at=failed_at, code=code, message=message))

    def record(self, *events: ev.Event) -> RunState:
        recorded = self.store.append(self.run_id, self.seq, events)
        for event, rec in zip(events, recorded, strict=True):
            self._advance(event, rec.hash)
        assert self.state is not None
        return self.state
