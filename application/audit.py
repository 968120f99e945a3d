"""Read-side use cases over the event store: list runs and show a run's timeline."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from invarlock.domain import events as ev
from invarlock.domain.run import replay
from invarlock.ports.store import EventStore

from .replay import read_stream


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    command: str
    started_at: str
    finished_at: str | None
    status: str
    verdict: str | None
    baseline: str | None
    subject: str | None
    events: int
    chain_ok: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(records: list[ev.RecordedEvent]) -> RunSummary:
    """Status is `completed`/`rollback`/`failed`, or `incomplete` when the stream just stops (a killed run)."""
    state = replay(ev.decode_event(r.type, r.version, r.payload) for r in records)
    finished = state.completed.finished_at if state.completed else state.failed.failed_at if state.failed else None
    models = state.models
    return RunSummary(
        run_id=state.started.run_id,
        command=state.started.command,
        started_at=state.started.started_at,
        finished_at=finished,
        status=state.status,
        verdict=state.completed.verdict if state.completed else None,
        baseline=models["baseline"].ref if "baseline" in models else _requested(state.started.config, "model"),
        subject=models["subject"].ref if "subject" in models else _requested(state.started.config, "subject"),
        events=len(records),
        chain_ok=not ev.chain_problems(records),
    )


def _requested(config: dict[str, Any], section: str) -> str | None:
    """The model id a run asked for, shown while it has no fingerprint (it failed or was killed before)."""
    model = config.get(section) or (config.get("model") if section == "subject" and config.get("edit") else None)
    return str(model["id"]) if isinstance(model, dict) and "id" in model else None


def list_runs(store: EventStore) -> list[RunSummary]:
    return [summarize(store.read(run_id)) for run_id in store.run_ids()]


def timeline(store: EventStore, run_id: str) -> list[dict[str, Any]]:
    """One row per event: seq, type, recorded_at, hash prefix and the decoded payload."""
    rows = []
    for r in read_stream(store, run_id):
        payload = msgspec.to_builtins(ev.decode_event(r.type, r.version, r.payload))
        rows.append(
            {
                "seq": r.seq,
                "type": r.type,
                "version": r.version,
                "recorded_at": r.recorded_at,
                "hash": r.hash,
                "payload": payload,
            }
        )
    return rows
