"""Variance guard baseline reuse: before the calibration pass, read the baseline's tap statistics from an
earlier run of the same baseline with the same scoring key, so that only the subject is tapped. The guard
still records every number and decides from them; verify --events checks that the numbers are the source's."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.baseline_reuse import scoring_key
from invarlock.domain.guards.results import VarianceResult
from invarlock.domain.guards.variance_records import CalibrationWindows
from invarlock.domain.model import ActivationStats
from invarlock.domain.variance_reuse import baseline_taps, variance_record

from .reuse_source import Candidate, candidates, linked_events, source_gone
from .run_context import RunContext


def reused_taps(ctx: RunContext, targets: Sequence[str], calibration: CalibrationWindows) -> dict[str, ActivationStats]:
    """The baseline statistics of every target, copied from an earlier run's variance record ({} when no run
    tapped all of them on these calibration windows with this scoring key, or reuse is off). Records
    variance_baseline_reused for a new choice; a resumed run reads its recorded source again."""
    state = ctx.recorder.state
    if state.variance_source is not None:
        return _resumed(ctx, state.variance_source, targets, calibration)
    index = ctx.svc.index
    if index is None or not ctx.request.config.eval.reuses_baseline:
        return {}
    key = scoring_key(state)
    for candidate in candidates(ctx.svc.store, index, state, ctx.svc.signer, ctx.found):
        if not original(candidate) or scoring_key(candidate.state) != key:
            continue
        taps = _covering(baseline_taps(variance_record(candidate.state.guards), calibration), targets)
        if taps:
            run_id, refs = candidate.records[0].run_id, [_ref(candidate)]
            ctx.recorder.record(ev.VarianceBaselineReused(source_run_id=run_id, scoring_key=key, source_events=refs))
            return taps
    return {}


def taps_expected(ctx: RunContext, names: Sequence[str]) -> bool:
    """Whether a sequential run's baseline pass may leave its variance taps to a copy: the stream links a source
    already (a resumed run reads it again), or reuse is on and an earlier run with this scoring key tapped every one
    of `names` (every tap the baseline maps, so whichever targets the guard picks are covered) on this calibration
    arm. Records nothing: `reused_taps` copies them in the guard, as in a run holding both models."""
    state = ctx.recorder.state
    if state.variance_source is not None:
        return True
    index = ctx.svc.index
    if index is None or not ctx.request.config.eval.reuses_baseline or not names:
        return False
    chosen = ctx.planned.plan.arm("calibration")
    calibration = CalibrationWindows(
        window_ids=[w.window_id for w in chosen], window_digests=[w.digest for w in chosen]
    )
    key = scoring_key(state, ctx.planned)
    return any(
        original(candidate)
        and scoring_key(candidate.state) == key
        and _covering(baseline_taps(variance_record(candidate.state.guards), calibration), names)
        for candidate in candidates(ctx.svc.store, index, state, ctx.svc.signer, ctx.found)
    )


def original(candidate: Candidate) -> bool:
    """Whether the candidate tapped its baseline variance statistics itself (a copier's original is the source)."""
    return candidate.state.variance_source is None


def _covering(taps: dict[str, ActivationStats], targets: Sequence[str]) -> dict[str, ActivationStats]:
    return {w: taps[w] for w in targets} if targets and set(targets) <= taps.keys() else {}


def _ref(candidate: Candidate) -> ev.EventRef:
    """The source's variance guard_evaluated event, the one `variance_record` read."""
    pairs = zip(candidate.records, candidate.events, strict=True)
    record = next(r for r, e in pairs if isinstance(e, ev.GuardEvaluated) and isinstance(e.result, VarianceResult))
    return ev.EventRef(seq=record.seq, hash=record.hash)


def _resumed(
    ctx: RunContext, link: ev.VarianceBaselineReused, targets: Sequence[str], calibration: CalibrationWindows
) -> dict[str, ActivationStats]:
    """The recorded source's statistics again; E605 when it no longer holds them as appended (reuse_source.
    linked_events: never tapped afresh silently, the run's own link states they are the source's)."""
    state, svc = ctx.recorder.state, ctx.svc
    events = linked_events(svc.store, svc.index, state, link, svc.signer, ctx.found)
    record = variance_record(e for e in events or [] if isinstance(e, ev.GuardEvaluated))
    taps = _covering(baseline_taps(record, calibration), targets)
    if not taps:
        raise source_gone(state, "variance baseline", link)
    return taps
