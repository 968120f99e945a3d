"""Weight-guard measurement reuse: before the guard chain, read the baseline's per-matrix measurements from
an earlier run of the same baseline with the same guard key, so that the spectral and RMT guards measure only
the subject's matrices. The guards still record every number and decide from them; verify --events checks
that the numbers are the source's."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.guard_reuse import baseline_measures, guard_key
from invarlock.domain.guards.results import RmtResult, SpectralResult
from invarlock.domain.guards.spectrum import MatrixMeasure

from .reuse_source import Candidate, candidates, linked_events, source_gone
from .run_context import RunContext

WEIGHT_GUARDS = ("spectral", "rmt")


def reused_measures(ctx: RunContext) -> dict[str, MatrixMeasure]:
    """The baseline measurements the weight guards need not measure again ({} when none can be reused).
    Records guard_baseline_reused for a new choice; a resumed run reads its recorded source again."""
    measures, link = found_measures(ctx)
    if link is not None:
        ctx.recorder.record(link)
    return measures


def found_measures(ctx: RunContext) -> tuple[dict[str, MatrixMeasure], ev.GuardBaselineReused | None]:
    """The reusable baseline measurements and, for a new choice, the link that records where they came from
    (None when the stream holds it already, or nothing is reused). Records nothing: a sequential run finds
    them in its baseline pass and records the link with the guards."""
    state = ctx.recorder.state
    if state.guard_source is not None:
        return _recorded(ctx, state.guard_source), None
    fresh = not any(g.guard in WEIGHT_GUARDS for g in state.guards)
    wanted = any(name in ctx.request.config.guards.order for name in WEIGHT_GUARDS)
    index = ctx.svc.index
    if not (fresh and wanted and index is not None and ctx.request.config.eval.reuses_baseline):
        return {}, None
    key = guard_key(state)
    for candidate in candidates(ctx.svc.store, index, state, ctx.svc.signer, ctx.found):
        chosen = original(candidate) and guard_key(candidate.state) == key
        measures = baseline_measures(candidate.state.guards) if chosen else {}
        if measures:
            refs = _refs(candidate.records, candidate.events)
            run_id = candidate.records[0].run_id
            return measures, ev.GuardBaselineReused(source_run_id=run_id, guard_key=key, source_events=refs)
    return {}, None


def original(candidate: Candidate) -> bool:
    """Whether the candidate measured its baseline guard numbers itself (a copier's original is the source)."""
    return candidate.state.guard_source is None


def _refs(records: Sequence[ev.RecordedEvent], events: Sequence[ev.Event]) -> list[ev.EventRef]:
    """The source's spectral and RMT guard_evaluated events, the ones `baseline_measures` reads."""
    chosen = [r for r, e in zip(records, events, strict=True) if _weight_guard(e)]
    return [ev.EventRef(seq=r.seq, hash=r.hash) for r in chosen]


def _weight_guard(e: ev.Event) -> bool:
    return isinstance(e, ev.GuardEvaluated) and isinstance(e.result, SpectralResult | RmtResult)


def _recorded(ctx: RunContext, link: ev.GuardBaselineReused) -> dict[str, MatrixMeasure]:
    """The measurements of a recorded link, read again from the events it names (resume); E605 when the source no
    longer holds them as appended (reuse_source.linked_events)."""
    state, svc = ctx.recorder.state, ctx.svc
    events = linked_events(svc.store, svc.index, state, link, svc.signer, ctx.found)
    measures = baseline_measures(e for e in events or [] if isinstance(e, ev.GuardEvaluated))
    if not measures:
        raise source_gone(state, "guard baseline", link)
    return measures
