"""The one certification pipeline: ordered steps that each decide from the run state what is left to do.

A new run (`certify_edit`) and a resumed one (`certify --resume`) run the same steps on their stream. The
input steps record the fingerprints, edit and window plan or compare them with the recorded ones; the
guard chain skips recorded guards and re-applies their repairs; scoring skips scored windows; the preview
assessment and the rollback are recorded once."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.metrics import recorded_metric
from invarlock.domain.policy import Policy
from invarlock.domain.preview_check import preview_assessment, rollback_reason
from invarlock.domain.run import RunState

from ..services import Services
from .baseline_pass import measure_baseline, rescore_baseline, retap_baseline
from .baseline_reuse import reuse_baseline
from .guard_chain import ChainContext, run_chain
from .guard_reuse import reused_measures
from .guards import runners_for
from .input_steps import load_baseline, load_models, load_subject_alone, record_plan
from .issuing import issue
from .pair_scoring import InProcessPairScorer, close_scorer, pair_scorer
from .preflight import INPUT_CHECKS, preflight_of, run_checks
from .recorded_baseline import RecordedBaseline
from .recorder import RunRecorder
from .run_context import RunContext
from .run_request import CertifyOutcome, CertifyRequest
from .scoring import score_arm, score_role
from .variance_reuse import reused_taps

Step = Callable[[RunContext], None]


def run_pipeline(req: CertifyRequest, policy: Policy, recorder: RunRecorder, svc: Services) -> CertifyOutcome:
    """Run the preflight's input checks (device, model references, tokenizers, window plan: before any
    weights load, so a corpus too small stops the run cheaply), run every step on `recorder`'s stream, issue
    the certificate and export the subject when asked."""
    pf = preflight_of(req, svc, policy)
    run_checks(pf, INPUT_CHECKS, stop=True)
    assert pf.planned is not None, "the windows check plans or raises"
    planned, rows = pf.planned
    ctx = RunContext(request=req, policy=policy, recorder=recorder, svc=svc, planned=planned, rows=rows)
    try:
        for step in SEQUENTIAL_STEPS if req.config.eval.sequential else STEPS:
            step(ctx)
    finally:
        close_scorer(ctx)
        if ctx.recorded is not None and ctx.recorded.reference is not None:
            ctx.recorded.reference.close()
    certificate = issue(recorder, svc)
    if req.export is not None and recorder.state.rollback is None:
        try:
            ctx.models["subject"].export(req.export)
        except UsageError as exc:  # after the certificate was issued: its file is written only after the export
            run = recorder.run_id
            again = f"run {run} is recorded: `invarlock replay {run} -o FILE` (with this run's --events) writes it"
            raise UsageError(exc.code, exc.message, f"{exc.hint}; {again}") from exc
    return CertifyOutcome(run_id=recorder.run_id, certificate=certificate)


def run_guards(ctx: RunContext) -> None:
    """The guard chain of the configured order; the subject keeps the repairs it settles on. A sequential
    run's chain compares the subject with the baseline it recorded before releasing it."""
    recorded = ctx.recorded
    chain = ChainContext(
        recorder=ctx.recorder,
        models=ctx.models,
        policy=ctx.policy,
        rows=ctx.rows,
        progress=ctx.svc.progress,
        timer=ctx.svc.timer,
        base_census=None if recorded is None else recorded.census,
        baseline_measures=reused_measures(ctx) if recorded is None else _recorded_measures(ctx, recorded),
        baseline_taps=partial(reused_taps, ctx),
        pool=ctx.svc.measurements,
        recorded=recorded,
        retap=None if recorded is None else partial(retap_baseline, ctx),
    )
    order = ctx.request.config.guards.order
    run_chain(order, chain, runners_for(order))
    ctx.repairs = chain.repairs


def _recorded_measures(ctx: RunContext, recorded: RecordedBaseline) -> dict[str, MatrixMeasure]:
    """A sequential run's baseline measurements; the link to the run some came from is recorded here, where
    a run holding both records it."""
    if recorded.guard_link is not None and ctx.recorder.state.guard_source is None:
        ctx.recorder.record(recorded.guard_link)
    return recorded.measures


def _score_both(ctx: RunContext, arm: str) -> None:
    """The arm scored by the baseline and the subject in lockstep, in process or on the run's worker pool, or
    by the subject alone when the baseline's scores were copied from an identical earlier scoring
    (baseline_reuse.py). A sequential run records the baseline's scores of the arm it kept, then scores the
    subject alone."""
    if ctx.recorded is not None:
        _score_apart(ctx, ctx.recorded, arm)
        return
    if reuse_baseline(ctx, arm):
        score_role(ctx.recorder, "subject", ctx.models["subject"], arm, ctx.rows, ctx.svc.progress)
        return
    pairs = (
        not recorded_metric(ctx.recorder.state.started.config).per_model_scores
        or ctx.request.config.eval.measures_pairs
    )
    score_arm(ctx.recorder, pair_scorer(ctx), arm, ctx.rows, ctx.svc.progress, comparisons=pairs)


def _score_apart(ctx: RunContext, recorded: RecordedBaseline, arm: str) -> None:
    """A sequential run's arm: the baseline's scores copied from an earlier identical scoring when they can
    be (the same decision and records as a run holding both), else those its baseline pass kept, scored by a
    reloaded baseline when the pass counted on a copy that the subject's identity then refused; then the
    subject alone, or, when the run measures KL and top-1 agreement, paired with the baseline's kept side of
    them: the PairedScores of the baseline held, both models' scores and the paired measures recorded batch by
    batch as in lockstep."""
    kept = recorded.scores.pop(arm, None)
    if not reuse_baseline(ctx, arm):
        if kept is None:
            rescore_baseline(ctx)
            kept = recorded.scores.pop(arm, [])
        if kept:
            ctx.recorder.record(*kept)
    if recorded.reference is None:
        score_role(ctx.recorder, "subject", ctx.models["subject"], arm, ctx.rows, ctx.svc.progress)
        return
    scorer = InProcessPairScorer(recorded.reference, ctx.models["subject"])
    score_arm(ctx.recorder, scorer, arm, ctx.rows, ctx.svc.progress)


def score_preview(ctx: RunContext) -> None:
    if ctx.recorder.state.preview is None:
        _score_both(ctx, "preview")


def assess_preview(ctx: RunContext) -> None:
    """Record the preview arm's catastrophe check and, when it trips, the rollback that skips the final arm."""
    preview = ctx.recorder.state.preview
    if preview is None:
        preview = _assessment(ctx.recorder.state)
        ctx.recorder.record(preview)
    if preview.catastrophe and ctx.recorder.state.rollback is None:
        ctx.recorder.record(ev.RollbackPerformed(reason=rollback_reason(preview, ctx.policy)))


def _assessment(state: RunState) -> ev.PreviewAssessed | ev.PreviewChecked:
    try:
        return preview_assessment(state)
    except UsageError as exc:  # the runner scored something else than the kind's evidence (e.g. cosines only)
        kind = recorded_metric(state.started.config).kind
        raise UsageError(
            "E104",
            f"eval.metric.kind {kind} cannot be computed from what the models' adapter scored: {exc.message}",
            "choose the kind the adapter scores (docs/user-guide.md, Models) or another --adapter",
        ) from exc


def score_final(ctx: RunContext) -> None:
    if ctx.recorder.state.rollback is None:
        _score_both(ctx, "final")


def score_bare(ctx: RunContext) -> None:
    """When guards repaired the subject, the final arm of the bare subject (for the guard-overhead gate):
    undo every repair, check the subject is bit for bit the one fingerprinted, score, repair again."""
    if ctx.recorder.state.rollback is not None or not ctx.repairs:
        return
    subject = ctx.models["subject"]
    subject.scale_weights({})
    if subject.identity().weights_sha256 != ctx.recorder.state.models["subject"].identity.weights_sha256:
        raise AbortError("E605", "undoing the guard repairs did not restore the subject", "report this bug")
    score_role(ctx.recorder, "subject_bare", subject, "final", ctx.rows, ctx.svc.progress)
    subject.scale_weights(ctx.repairs)


ARM_STEPS: tuple[Step, ...] = (score_preview, assess_preview, score_final, score_bare)

STEPS: tuple[Step, ...] = (load_models, record_plan, run_guards, *ARM_STEPS)

SEQUENTIAL_STEPS: tuple[Step, ...] = (  # one model held at a time (eval.sequential, baseline_pass.py)
    load_baseline,
    measure_baseline,
    load_subject_alone,
    record_plan,
    run_guards,
    *ARM_STEPS,
)
