"""Read-side use cases over the event store: the rows of `invarlock runs`, each run's chain checked."""

from __future__ import annotations

import msgspec
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, InvarlockError, NewerEvents
from invarlock.domain.run import RunState
from invarlock.domain.run_index import IndexedRun, index_decoded, index_stored, requested_model
from invarlock.ports.store import EventStore

TAMPERED = "TAMPERED"
UNREADABLE = "UNREADABLE"  # events of a newer release: not checked here, not known to be altered
UNSEALED = "UNSEALED"  # a signed run stopped before its chain seal (resumable), or whose seal was removed


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One row of `invarlock runs`. A run that fails check_run has status TAMPERED and `problem` says why;
    its other fields are then None (nothing in a broken stream is trusted)."""

    run_id: str
    command: str | None
    started_at: str | None
    finished_at: str | None
    status: str
    verdict: str | None
    baseline: str | None
    subject: str | None
    events: int | None  # None: the stream could not be read, so its events were not counted
    chain_ok: bool
    problem: str | None = None


def summarize(records: list[ev.RecordedEvent]) -> RunSummary:
    """Status from the chain-checked fold: `completed`/`rollback` (as its certificate says), `failed`, or
    `incomplete` when the stream just stops (a killed run); TAMPERED when check_run fails."""
    return checked_entry(records)[0]


def checked_entry(records: list[ev.RecordedEvent]) -> tuple[RunSummary, IndexedRun]:
    """summarize's row and the run index entry the same checked fold gives (domain.run_index.index_decoded).

    Raises:
        IntegrityError: as check_run.
    """
    from .replay import check_run  # the fold needs scipy; `invarlock runs` from the index never folds a run

    checked = check_run(records)
    return _row_of(checked.state, len(records)), index_decoded(records, checked.events)


def _row_of(state: RunState, events: int) -> RunSummary:
    finished = state.completed.finished_at if state.completed else state.failed.failed_at if state.failed else None
    models = state.models
    return RunSummary(
        run_id=state.started.run_id,
        command=state.started.command,
        started_at=state.started.started_at,
        finished_at=finished,
        status=state.status,
        verdict=state.completed.verdict if state.completed else None,
        baseline=models["baseline"].identity.ref
        if "baseline" in models
        else requested_model(state.started.config, "model"),
        subject=models["subject"].identity.ref
        if "subject" in models
        else requested_model(state.started.config, "subject"),
        events=events,
        chain_ok=True,
    )


def tampered(run_id: str, events: int | None, problem: str, status: str = TAMPERED) -> RunSummary:
    """The row of a run that fails its check: status TAMPERED (UNREADABLE: events of a newer release), `problem`
    says why, nothing else is trusted."""
    return RunSummary(
        run_id=run_id,
        command=None,
        started_at=None,
        finished_at=None,
        status=status,
        verdict=None,
        baseline=None,
        subject=None,
        events=events,
        chain_ok=False,
        problem=problem,
    )


def checked_summary(store: EventStore, run_id: str) -> RunSummary | None:
    """The run's row from its whole stream, read and chain-checked (check_run); TAMPERED when the check fails,
    None for a re-execution audit stream (see application/verification/reexecute.py), which is not a run."""
    try:
        records = store.read(run_id)
    except InvarlockError as exc:
        return tampered(run_id, None, exc.message)
    return summary_of(run_id, records)


def summary_of(run_id: str, records: list[ev.RecordedEvent]) -> RunSummary | None:
    """checked_summary of the stream `run_id` already read as `records`."""
    return checked_of(run_id, records)[0]


def checked_of(run_id: str, records: list[ev.RecordedEvent]) -> tuple[RunSummary | None, IndexedRun | None]:
    """summary_of's row and, for a run that passes its check, the index entry its checked fold gives."""
    from ..verification.reexecute import is_audit_stream
    from .tail import Unsealed

    try:
        return (None, None) if is_audit_stream(records) else checked_entry(records)
    except NewerEvents as exc:
        return tampered(run_id, len(records), exc.message, UNREADABLE), None
    except Unsealed as exc:  # its index entry still told, for the listing's other checks (an edited verdict)
        return tampered(run_id, len(records), exc.message, UNSEALED), index_stored(records)
    except InvarlockError as exc:
        return tampered(run_id, len(records), exc.message), None


def tampered_error(runs: list[RunSummary]) -> IntegrityError | None:
    """The E603 error to exit with after listing `runs` when any of them failed its check, else None."""
    bad = [r for r in runs if r.problem is not None]
    if not bad:
        return None
    if all(r.status == UNREADABLE for r in bad):
        return IntegrityError(
            "E604",
            f"{len(bad)} of {len(runs)} runs hold events of a newer invarlock release; first: run {bad[0].run_id}: "
            f"{bad[0].problem}",
            "they are not checked here: list them with the release that wrote them, or a newer one",
        )
    if all(r.status == UNSEALED for r in bad):  # an honest kill leaves this too: said so, not "altered"
        return IntegrityError(
            "E603",
            f"{len(bad)} of {len(runs)} runs have a signed certificate but no chain seal; first: {bad[0].problem}",
            "a run killed before its seal is sealed by `invarlock certify --resume RUN --sign-key KEY`; if none was "
            "stopped there, the event store was altered",
        )
    first = next((r for r in bad if r.status != UNSEALED), bad[0])  # the altered one, before a killed one
    return IntegrityError(
        "E603",
        f"{len(bad)} of {len(runs)} runs fail the chain check; first: run {first.run_id}: {first.problem}",
        "the event store was altered; `invarlock verify CERT --events` checks a run against its certificate",
    )
