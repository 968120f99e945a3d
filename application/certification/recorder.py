"""Appends a run's events in order, tracking the expected sequence number."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError
from invarlock.domain.run import RunState, evolve, replay
from invarlock.ports.store import EventStore


class RunRecorder:
    """Writes events to one stream and keeps the folded state and the head hash in step.

    A recorder always continues a stream that exists: `start` records a new run's RunStarted, the
    constructor takes a recorded (non-empty) stream, so `state` is never missing.
    """

    def __init__(self, store: EventStore, records: Sequence[ev.RecordedEvent]) -> None:
        """Continue the recorded stream `records` (IntegrityError E604 when it is empty)."""
        self.store = store
        self.state: RunState = replay(ev.decode_event(r.type, r.version, r.payload) for r in records)
        self.run_id = records[0].run_id
        self.head_hash = records[-1].hash
        self.seq = len(records)

    @classmethod
    def start(cls, store: EventStore, started: ev.RunStarted) -> RunRecorder:
        """Open the stream `started.run_id` with its first event."""
        return cls(store, store.append(started.run_id, 0, [started]))

    def record_failure(self, failed_at: str, code: str, message: str) -> None:
        """Record RunFailed unless the run already has its certificate (a later step, e.g. export, failed)."""
        if self.state.issued is None:
            self.record(ev.RunFailed(failed_at=failed_at, code=code, message=message))

    def record(self, *events: ev.Event) -> RunState:
        """Append `events` and fold them into the state. They are folded first: an event the run cannot take
        (a window scored twice, one out of order: IntegrityError E604) is refused before it is stored, so the
        stream keeps only events its replay accepts and the failure can still be recorded after them."""
        if not events:
            return self.state
        state = self.state
        for event in events:
            state = evolve(state, event)
        recorded = self.store.append(self.run_id, self.seq, events)
        self.state, self.head_hash, self.seq = state, recorded[-1].hash, self.seq + len(recorded)
        return self.state

    def record_or_compare(self, event: ev.ModelFingerprinted | ev.WindowsPlanned | ev.EditApplied, what: str) -> None:
        """Record an input of the run (a fingerprint, the edit, the window plan) the stream lacks; one it
        already holds must be equal, else the run is not the one recorded (IntegrityError E605)."""
        recorded = _recorded(self.state, event)
        if recorded is None:
            self.record(event)
        elif recorded != event:
            raise resume_mismatch(self.run_id, f"the {what} is not the one it recorded")


def _recorded(
    state: RunState, event: ev.ModelFingerprinted | ev.WindowsPlanned | ev.EditApplied
) -> ev.ModelFingerprinted | ev.WindowsPlanned | ev.EditApplied | None:
    if isinstance(event, ev.ModelFingerprinted):
        return state.models.get(event.role)
    if isinstance(event, ev.WindowsPlanned):
        return state.windows
    return state.edit


def resume_mismatch(run_id: str, why: str) -> IntegrityError:
    """E605: the run being continued differs from the one its stream recorded."""
    return IntegrityError(
        "E605", f"cannot resume run {run_id}: {why}", "resume with the same models, data and invarlock version"
    )
