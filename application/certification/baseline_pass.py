"""A sequential run's baseline pass (docs/reference/sequential.md): with the baseline the only model held,
measure and score everything the rest of the run reads from it (recorded_baseline.RecordedBaseline), so that
it can be released before the subject loads. What a resumed run has recorded already is not measured again,
nor what an earlier run's identical work supplies (baseline reuse: the copies are recorded once the subject is
loaded, pipeline._score_apart).

The numbers are those a run holding both models computes (the same functions over the same matrices and
windows): the baseline's scores are recorded as it would record them, each guard decides from the same
measurements."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence

from invarlock.domain.errors import UsageError
from invarlock.domain.guards import invariants
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.policy import Policy
from invarlock.domain.windows import TokenWindow, token_count, token_windows
from invarlock.ports.kept_reference import KeptReference, ReferenceKeeping
from invarlock.ports.measurement import MeasurementPool
from invarlock.ports.model import LoadedModel, NamedMatrix

from .baseline_reuse import copy_expected, pairs_refuse_copies
from .guard_chain import measure_each, measure_matrix
from .guard_reuse import WEIGHT_GUARDS, found_measures
from .input_steps import load_baseline
from .recorded_baseline import MatrixSummary, RecordedBaseline, summary_of
from .run_context import RunContext
from .scoring import arm_batches, scored_alone
from .variance_guard import taps_only
from .variance_reuse import taps_expected
from .weight_checks import (
    checked_census,
    checked_matrix,
    checked_stats,
    checked_taps,
    checked_unmapped,
    refuse_non_finite,
)

ARMS = ("preview", "final")


def measure_baseline(ctx: RunContext) -> None:
    """Record in `ctx.recorded` the baseline's census, unmapped weights, matrices, activation statistics on the
    calibration arm and scores of the arms, each only when a step left to run reads it."""
    state, model = ctx.recorder.state, ctx.models["baseline"]
    recorded = RecordedBaseline(
        census=checked_census(state, "baseline", model.census()),
        unmapped=checked_unmapped(state, "baseline", model.unmapped()),
    )
    # before anything measures a matrix (an eigensolver given a NaN raised LinAlgError: E999, the configs hunt)
    refuse_non_finite(
        invariants.health_checks(recorded.census, "baseline", limit=ctx.policy.guards.invariants.report_limit)
    )
    if pairs_refuse_copies(ctx):  # an adapter that cannot keep one, or a disk too small for it, stops the run now
        windows = [i for arm in _arms_left(ctx, recorded, copies=True) for i in _left_to_keep(ctx, arm)]
        _reference(ctx, model, recorded).check_room(token_count(windows, ctx.rows))
    measures = _left(ctx, WEIGHT_GUARDS)
    if measures:
        recorded.measures, recorded.guard_link = found_measures(ctx)
    if measures or (_left(ctx, ("variance",)) and ctx.policy.guards.variance.targets == "changed"):
        recorded.matrices, measured = _matrices(ctx, model, measures, {**recorded.unmapped, **recorded.measures})
        recorded.measures = {**recorded.measures, **measured}
    if _left(ctx, ("variance",)):
        _tap(ctx, model, recorded)
    score_arms(ctx, model, recorded, copies=True)
    ctx.recorded = recorded


def score_arms(ctx: RunContext, model: LoadedModel, recorded: RecordedBaseline, *, copies: bool) -> None:
    """The baseline's scores of each arm left to score (the final arm unless rolled back) that is not in
    `recorded` yet, nor, with `copies`, left to a copy of an earlier identical scoring. A run that measures KL
    and top-1 agreement keeps the baseline's side of them instead (`recorded.reference`: its scores come with the
    subject's, as in lockstep), then lets go of the model."""
    state = ctx.recorder.state
    keeping = _reference(ctx, model, recorded) if pairs_refuse_copies(ctx) else None
    for arm in _arms_left(ctx, recorded, copies=copies):
        if keeping is not None:
            _keep_arm(ctx, keeping, arm)
            recorded.scores[arm] = []
            continue
        scored = scored_alone(state, ctx.planned, "baseline", model, arm, ctx.rows, ctx.svc.progress)
        recorded.scores[arm] = list(scored)
    if keeping is not None:
        keeping.release_model()


def _keep_arm(ctx: RunContext, keeping: KeptReference, arm: str) -> None:
    """Keep the baseline's side of every window of `arm` whose paired measures the stream lacks (a resumed run
    recorded the rest), in the batches scoring runs."""
    state, progress = ctx.recorder.state, ctx.svc.progress
    ids = _left_to_keep(ctx, arm)
    progress.start(f"baseline pass, {arm} arm (kept for KL)", len(ids))
    try:
        for batch in arm_batches(state, ids, ctx.rows, keeping.batch_size):
            keeping.keep(batch, progress.advance)
    finally:
        progress.finish()


def _arms_left(ctx: RunContext, recorded: RecordedBaseline, *, copies: bool) -> list[str]:
    """The arms the baseline's pass scores or keeps (the final arm unless rolled back): not in `recorded` yet, nor,
    with `copies`, left to a copy of an earlier identical scoring."""
    state = ctx.recorder.state
    arms = ARMS if state.rollback is None else ARMS[:1]
    return [arm for arm in arms if arm not in recorded.scores and not (copies and copy_expected(ctx, arm))]


def _left_to_keep(ctx: RunContext, arm: str) -> list[int]:
    """The windows of `arm` whose paired measures the stream lacks, in plan order."""
    compared = ctx.recorder.state.compared(arm)
    return [w.window_id for w in ctx.planned.plan.arm(arm) if w.window_id not in compared]


def _reference(ctx: RunContext, model: LoadedModel, recorded: RecordedBaseline) -> KeptReference:
    if recorded.reference is None:
        adapter = ctx.recorder.state.models["baseline"].identity.adapter
        recorded.reference = kept_reference_of(
            model,
            adapter,
            "set eval.secondary.measure: false, or eval.sequential: false (--no-sequential: both models held, KL in "
            "lockstep)",
        )
    return recorded.reference


def kept_reference_of(model: LoadedModel, adapter: str, hint: str) -> KeptReference:
    """The baseline's kept side of KL and top-1 agreement (ReferenceKeeping); UsageError E104 with `hint` when its
    adapter cannot keep one. A sequential run's pass and the audit holding one model take it so."""
    if not isinstance(model, ReferenceKeeping):
        raise UsageError(
            "E104",
            f"one model at a time with KL and top-1 agreement needs the baseline's side of them kept, and the "
            f"{adapter} adapter cannot keep it",
            hint,
        )
    return model.kept_reference()


def rescore_baseline(ctx: RunContext) -> None:
    """Load the baseline again (its fingerprint compared with the recorded one) to score the arms its pass
    left to a copy that the subject's identity then refused (loaded otherwise); release it again."""
    assert ctx.recorded is not None, "a sequential run's baseline pass ran"
    load_baseline(ctx)
    model = ctx.models.pop("baseline")
    score_arms(ctx, model, ctx.recorded, copies=False)
    del model
    gc.collect()


def retap_baseline(ctx: RunContext, windows: Sequence[TokenWindow], targets: Sequence[str]) -> object:
    """Load the baseline again (its fingerprint compared with the recorded one) to tap `targets` on `windows`,
    which its pass left to a copy that the guard then did not find (the store changed since); release it."""
    load_baseline(ctx)
    model = ctx.models.pop("baseline")
    found = taps_only(model, windows, targets)
    del model
    gc.collect()
    return found


def _left(ctx: RunContext, guards: tuple[str, ...]) -> bool:
    """Whether one of `guards` is in the run's order and not recorded yet."""
    done = {g.guard for g in ctx.recorder.state.guards}
    return any(name in ctx.request.config.guards.order and name not in done for name in guards)


def _matrices(
    ctx: RunContext, model: LoadedModel, measure: bool, skip: Mapping[str, object]
) -> tuple[list[MatrixSummary], dict[str, MatrixMeasure]]:
    """Every matrix's summary and, when a weight guard is left, its measurement, but not of those in `skip` (the
    unmapped ones, which no guard compares, and those an earlier run measured), through the measurement pool."""
    found = (checked_matrix(ctx.recorder.state, "baseline", m) for m in model.matrices())
    wanted = (lambda name: name not in skip) if measure else (lambda name: False)
    return summarised(found, wanted, ctx.policy, ctx.svc.measurements)


def summarised(
    matrices: Iterable[NamedMatrix], wanted: Callable[[str], bool], policy: Policy, pool: MeasurementPool | None
) -> tuple[list[MatrixSummary], dict[str, MatrixMeasure]]:
    """Every matrix's summary, and the measurement of those `wanted` (by name), through the measurement pool (None:
    serially); the re-execution audit's baseline pass summarises its baseline so too."""

    def one(matrix: NamedMatrix) -> tuple[MatrixSummary, MatrixMeasure | None]:
        return summary_of(matrix), measure_matrix(matrix.array, policy) if wanted(matrix.name) else None

    pairs = measure_each(pool, one, matrices)
    return [s for s, _ in pairs], {s.name: m for s, m in pairs if m is not None}


def _tap(ctx: RunContext, model: LoadedModel, recorded: RecordedBaseline) -> None:
    """The baseline's statistics of every tap it can map on the calibration arm (the variance guard picks its
    targets among them once the subject is loaded); none when the arm is too small for the guard (it refuses), or
    when an earlier run's taps cover every one (the guard copies them: variance_reuse.taps_expected)."""
    state = ctx.recorder.state
    ids = [w.window_id for w in ctx.planned.plan.arm("calibration")]
    if len(ids) < ctx.policy.guards.variance.min_calibration_windows:
        return
    names = [n for n in checked_taps(state, "baseline", model.variance_taps()) if n not in recorded.unmapped]
    if not names or taps_expected(ctx, names):
        return
    windows = token_windows(ids, ctx.rows, seed=state.started.seeds["dataset"])
    progress = ctx.svc.progress
    progress.start("variance guard: baseline calibration arm", len(windows))
    try:
        recorded.taps = checked_stats(state, "baseline", taps_only(model, windows, names, progress.advance), names)
    finally:
        progress.finish()
