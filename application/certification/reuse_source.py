"""Find an earlier run whose baseline scores of an arm can be copied: same baseline weights (the run index's
filter), a chain-valid stream, the same scoring key, a baseline score for every planned window of the arm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from invarlock.domain import events as ev
from invarlock.domain.baseline_reuse import scoring_key
from invarlock.domain.errors import InvarlockError
from invarlock.domain.run import RunState, replay
from invarlock.domain.run_query import RunQuery
from invarlock.ports.store import EventStore, RunIndex

FINISHED = ("completed", "rollback")


@dataclass(frozen=True)
class Source:
    """The run to copy from, its baseline windows_scored events of the arm (decoded) and their references."""

    run_id: str
    refs: list[ev.EventRef]
    copies: list[ev.WindowsScored]


def find_source(store: EventStore, index: RunIndex, state: RunState, arm: str, key: str) -> Source | None:
    """The newest finished run (other than this one) whose baseline scoring of `arm` matches `key`, or None."""
    weights = state.models["baseline"].identity.weights_sha256
    entries, _ = index.indexed_runs(RunQuery(baseline_digest=weights))
    planned = {w.window_id for w in state.planned().plan.arm(arm)}
    for entry in reversed(entries):
        run = entry.run
        if run.run_id == state.started.run_id or run.status not in FINISHED or run.baseline_digest != weights:
            continue
        source = _source(store.read(run.run_id), arm, key, planned)
        if source is not None:
            return source
    return None


def _source(records: Sequence[ev.RecordedEvent], arm: str, key: str, planned: set[int]) -> Source | None:
    """The stream's copyable baseline scores of `arm`; None when its chain, key or coverage does not match or
    an event would not copy byte for byte (written by an earlier release)."""
    if not records or ev.chain_problems(list(records)):
        return None
    try:
        events = [ev.decode_event(r.type, r.version, r.payload) for r in records]
        if scoring_key(replay(events)) != key:
            return None
    except InvarlockError:
        return None
    chosen = [(r, e) for r, e in zip(records, events, strict=True) if _baseline_scores(e, arm)]
    if any(ev.encode_event(e) != (r.type, r.version, r.payload) for r, e in chosen):
        return None
    copies = [e for _, e in chosen if isinstance(e, ev.WindowsScored)]
    if {row.window_id for e in copies for row in e.rows} != planned:
        return None
    return Source(
        run_id=records[0].run_id, refs=[ev.EventRef(seq=r.seq, hash=r.hash) for r, _ in chosen], copies=copies
    )


def _baseline_scores(e: ev.Event, arm: str) -> bool:
    return isinstance(e, ev.WindowsScored) and e.role == "baseline" and e.arm == arm
