"""Baseline score reuse: before an arm is scored, copy the baseline's scores of that arm from an earlier run
that scored the same baseline identically (same scoring key), so only the subject is scored.

Reuse is refused, and recorded as refused, when the run measures KL and top-1 agreement (they need both
models' logits together), loads the subject differently from the baseline (its scores alone would not be
those of the lockstep), or runs the baseline on another runtime than torch (an ONNX model's identity digests its
initializers, not its graph: two graphs over the same weights would share a key).
docs/reference/baseline-reuse.md gives the key and the checks of verify --events.
"""

from __future__ import annotations

from invarlock.domain import events as ev
from invarlock.domain.baseline_reuse import scoring_key
from invarlock.domain.metrics import recorded_metric
from invarlock.domain.run import RunState

from .reuse_source import find_source, linked_events, source_gone
from .run_context import RunContext

PAIRS_REASON = (
    "KL and top-1 agreement need both models' logits together, so the baseline was scored again "
    "(eval.secondary.measure: false lets a run reuse the baseline's scores)"
)
LOADING_REASON = "the subject is loaded with another adapter, dtype or device than the baseline"
RUNTIME_REASON = (
    "the baseline runs on {runtime}, and its identity digests its weights, not the graph that runs them, so an "
    "earlier scoring is not proven identical"
)


def reuse_baseline(ctx: RunContext, arm: str) -> bool:
    """Whether `arm`'s baseline scores are copies of an earlier run's (recorded now or before a resume), so
    that only the subject is left to score. Records baseline_reused with the copies in one append, or
    baseline_rescored with the reason when an identical scoring exists but cannot be reused."""
    state = ctx.recorder.state
    recorded = state.reused(arm)
    if recorded is not None:
        _still_sealed(ctx, recorded)
        return True
    decided = any(e.arm == arm for e in state.baseline_sources)
    if decided or state.scored("baseline", arm) or not _enabled(ctx):
        return False
    key = scoring_key(state)
    assert ctx.svc.index is not None, "_enabled checks it"
    source = find_source(ctx.svc.store, ctx.svc.index, state, arm, key, signer=ctx.svc.signer, found=ctx.found)
    if source is None:
        return False
    reason = _refusal(ctx, state)
    if reason is not None:
        ctx.recorder.record(ev.BaselineRescored(arm=arm, source_run_id=source.run_id, reason=reason))
        return False
    reused = ev.BaselineReused(arm=arm, source_run_id=source.run_id, scoring_key=key, source_events=source.refs)
    ctx.recorder.record(reused, *source.copies)
    return True


def _still_sealed(ctx: RunContext, recorded: ev.BaselineReused) -> None:
    """A resume signing with a key: the copied scores' source must be sealed by it (E705 when another key or none
    sealed it, E605 when it was altered), as for the guard and variance links: the certificate would vouch for
    numbers its key never sealed, and verify --events would fail it."""
    svc, state = ctx.svc, ctx.recorder.state
    if svc.signer is not None and linked_events(svc.store, svc.index, state, recorded, svc.signer, ctx.found) is None:
        raise source_gone(state, "baseline scores", recorded)


def copy_expected(ctx: RunContext, arm: str) -> bool:
    """Whether a sequential run's baseline pass may leave `arm` to a copy: reuse is on, the stream holds no
    baseline score of the arm, an earlier identical scoring of it exists, and the config loads the subject as
    the baseline (otherwise its identity would refuse the copy), and the run takes no paired measures (they refuse
    every copy). Records nothing: `reuse_baseline` decides once
    the subject is loaded, and a refusal then scores the baseline again."""
    state = ctx.recorder.state
    if state.scored("baseline", arm) or not _enabled(ctx) or pairs_refuse_copies(ctx):
        return False
    baseline = state.models.get("baseline")
    if baseline is not None and baseline.identity.runtime is not None:  # _refusal's RUNTIME_REASON
        return False
    subject, base = ctx.request.subject, ctx.request.config.model
    if subject is not None and (subject.adapter, subject.dtype, subject.device) != (
        base.adapter,
        base.dtype,
        base.device,
    ):
        return False
    assert ctx.svc.index is not None, "_enabled checks it"
    key = scoring_key(state, ctx.planned)
    found = find_source(ctx.svc.store, ctx.svc.index, state, arm, key, ctx.planned, ctx.svc.signer, ctx.found)
    return found is not None


def _enabled(ctx: RunContext) -> bool:
    return ctx.request.config.eval.reuses_baseline and ctx.svc.index is not None


def pairs_refuse_copies(ctx: RunContext) -> bool:
    """Whether the run measures KL and top-1 agreement beside per-model scores: they need the baseline's logits,
    which no copy of its scores carries."""
    config = ctx.recorder.state.started.config
    return recorded_metric(config).per_model_scores and ctx.request.config.eval.measures_pairs


def _refusal(ctx: RunContext, state: RunState) -> str | None:
    if pairs_refuse_copies(ctx):
        return PAIRS_REASON
    baseline, subject = state.models["baseline"].identity, state.models["subject"].identity
    if baseline.runtime is not None:  # an ONNX graph rewritten over the same initializers kept its identity
        return RUNTIME_REASON.format(runtime=baseline.runtime)
    loading = ("adapter", "dtype", "device", "runtime")
    if any(getattr(baseline, f) != getattr(subject, f) for f in loading):
        return LOADING_REASON
    return None
