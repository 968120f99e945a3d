"""The rows of `invarlock events`: a run's events in chain order, and what the chain-checked fold finds."""

from __future__ import annotations

import msgspec
from invarlock.domain import events as ev
from invarlock.domain.errors import InvarlockError
from invarlock.ports.store import EventStore


class TimelineRow(msgspec.Struct, frozen=True, kw_only=True):
    """One row of `invarlock events`: where the event sits in the chain, and its payload (None when the
    stored bytes do not decode)."""

    seq: int
    type: str
    version: int
    recorded_at: str
    hash: str
    payload: ev.Event | None


def timeline(store: EventStore, run_id: str) -> tuple[list[TimelineRow], list[str]]:
    """One row per event and every problem the chain-checked fold and the run's links to other runs find (empty for an
    intact run or audit stream)."""
    from ..verification.reexecute import is_audit_stream
    from .replay import check_run, link_problem, read_stream

    records = read_stream(store, run_id)
    rows = [_row(r) for r in records]
    if is_audit_stream(records):
        return rows, []
    try:
        problem = link_problem(store, check_run(records))
    except InvarlockError as exc:
        return rows, [exc.message]
    return rows, [] if problem is None else [problem]


def _row(r: ev.RecordedEvent) -> TimelineRow:
    payload: ev.Event | None
    try:
        payload = ev.decode_event(r.type, r.version, r.payload)
    except InvarlockError:
        payload = None
    return TimelineRow(
        seq=r.seq, type=r.type, version=r.version, recorded_at=r.recorded_at, hash=r.hash, payload=payload
    )
