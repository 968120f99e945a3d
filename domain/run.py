"""Run state as a fold over events: `evolve(state, event)` and `replay(events)`."""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce

import msgspec

from . import events as ev
from .errors import IntegrityError


class RunState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a certificate is built from. Built only by folding a run's events."""

    started: ev.RunStarted
    models: dict[str, ev.ModelFingerprinted] = {}
    windows: ev.WindowsPlanned | None = None
    edit: ev.EditApplied | None = None
    guards: tuple[ev.GuardEvaluated, ...] = ()
    scores: dict[str, dict[int, ev.ScoredRow]] = {}
    comparisons: dict[str, dict[int, ev.ComparedRow]] = {}
    preview: ev.PreviewAssessed | ev.PreviewChecked | None = None
    rollback: str | None = None
    issued: ev.CertificateIssued | None = None
    completed: ev.RunCompleted | None = None
    failed: ev.RunFailed | None = None
    sealed: ev.ChainSealed | None = None
    baseline_sources: tuple[ev.BaselineReused | ev.BaselineRescored, ...] = ()
    guard_source: ev.GuardBaselineReused | None = None
    variance_source: ev.VarianceBaselineReused | None = None
    event_count: int = 0

    def scored(self, role: str, arm: str) -> dict[int, ev.ScoredRow]:
        return self.scores.get(f"{role}/{arm}", {})

    def compared(self, arm: str) -> dict[int, ev.ComparedRow]:
        """The paired measures recorded for `arm`, by window id."""
        return self.comparisons.get(arm, {})

    def reused(self, arm: str) -> ev.BaselineReused | None:
        """The record that `arm`'s baseline scores were copied from an earlier run, None when they were not."""
        found = (e for e in self.baseline_sources if isinstance(e, ev.BaselineReused) and e.arm == arm)
        return next(found, None)

    def planned(self) -> ev.WindowsPlanned:
        """The recorded window plan; IntegrityError E604 for a step that needs it before windows_planned."""
        if self.windows is None:
            raise IntegrityError(
                "E604", f"run {self.started.run_id} has no windows_planned event yet", "the event stream was altered"
            )
        return self.windows

    @property
    def status(self) -> str:
        if self.failed is not None:
            return "failed"
        if self.completed is not None:
            return self.completed.status
        return "incomplete"


def _add_scores(state: RunState, e: ev.WindowsScored) -> RunState:
    key = f"{e.role}/{e.arm}"
    merged = dict(state.scores.get(key, {}))
    for row in e.rows:
        if row.window_id in merged:
            raise IntegrityError(
                "E604", f"window {row.window_id} scored twice for {key}", "the event stream was altered"
            )
        merged[row.window_id] = row
    return msgspec.structs.replace(state, scores={**state.scores, key: merged})


def _add_comparisons(state: RunState, e: ev.WindowsCompared) -> RunState:
    merged = dict(state.comparisons.get(e.arm, {}))
    for row in e.rows:
        wid = row.comparison.window_id
        if wid in merged:
            raise IntegrityError("E604", f"window {wid} compared twice in arm {e.arm}", "the event stream was altered")
        merged[wid] = row
    return msgspec.structs.replace(state, comparisons={**state.comparisons, e.arm: merged})


def _apply(state: RunState, e: ev.Event) -> RunState:
    r = msgspec.structs.replace
    match e:
        case ev.ModelFingerprinted():
            return r(state, models={**state.models, e.role: e})
        case ev.WindowsPlanned():
            return r(state, windows=e)
        case ev.EditApplied():
            return r(state, edit=e)
        case ev.GuardEvaluated():
            return r(state, guards=(*state.guards, e))
        case ev.WindowsScored():
            return _add_scores(state, e)
        case ev.WindowsCompared():
            return _add_comparisons(state, e)
        case ev.PreviewAssessed() | ev.PreviewChecked():
            return r(state, preview=e)
        case ev.RollbackPerformed():
            return r(state, rollback=e.reason)
        case ev.CertificateIssued():
            return r(state, issued=e)
        case ev.RunCompleted():
            return r(state, completed=e)
        case ev.RunFailed():
            return r(state, failed=e)
        case ev.ChainSealed():
            return r(state, sealed=e)
        case ev.BaselineReused() | ev.BaselineRescored():
            return r(state, baseline_sources=(*state.baseline_sources, e))
        case ev.GuardBaselineReused():
            return r(state, guard_source=e)
        case ev.VarianceBaselineReused():
            return r(state, variance_source=e)
    raise _out_of_place(state, e)


def _out_of_place(state: RunState, e: ev.Event) -> IntegrityError:
    stages = [("chain_sealed", state.sealed), ("run_failed", state.failed), ("run_completed", state.completed)]
    after = next((f"after {name}" for name, seen in stages if seen is not None), None)
    where = after or ("after certificate_issued" if state.issued is not None else "before certificate_issued")
    return IntegrityError(
        "E604",
        f"run {state.started.run_id}: event {ev.event_tag(e)[0]} is out of place {where}",
        "the event stream was altered",
    )


def _in_order(state: RunState, e: ev.Event) -> bool:
    """A run ends with run_failed, or with certificate_issued, run_completed and optionally chain_sealed."""
    if state.failed is not None or state.sealed is not None:
        return False
    if state.completed is not None:
        return isinstance(e, ev.ChainSealed)
    if state.issued is not None:
        return isinstance(e, ev.RunCompleted)
    return not isinstance(e, ev.RunCompleted | ev.ChainSealed)


def evolve(state: RunState | None, event: ev.Event) -> RunState:
    """The next state after `event`. The first event of a stream must be RunStarted, and only the first."""
    if state is None:
        if not isinstance(event, ev.RunStarted):
            raise IntegrityError("E604", "a run stream must start with run_started", "the event stream was altered")
        return RunState(started=event, event_count=1)
    if isinstance(event, ev.RunStarted):
        raise IntegrityError("E604", "run_started appears twice in one stream", "the event stream was altered")
    if not _in_order(state, event):
        raise _out_of_place(state, event)
    nxt = _apply(state, event)
    return msgspec.structs.replace(nxt, event_count=state.event_count + 1)


def replay(events: Iterable[ev.Event]) -> RunState:
    """Fold a whole stream into its state."""
    state = reduce(evolve, events, None)
    if state is None:
        raise IntegrityError("E604", "the run stream is empty", "check the run id with `invarlock runs`")
    return state
