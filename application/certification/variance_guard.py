"""The variance guard's measurements: FFN output statistics on the calibration arm and the VE A/B pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec
from invarlock.domain.errors import UsageError
from invarlock.domain.guards import chain, variance
from invarlock.domain.guards.variance_records import ABPass, CalibrationWindows, VarianceMeasurements, VarianceTap
from invarlock.domain.model import ActivationStats, WindowScore
from invarlock.domain.run import RunState
from invarlock.domain.windows import TokenWindow, token_windows
from invarlock.ports.model import LoadedModel, ModelRunner, Progress, TapsOnlyRunner

from .guard_chain import ChainContext, not_applicable_rows, pairs, record_measured, unmapped_names
from .recorded_baseline import same_values
from .score_rows import Run
from .weight_checks import checked_activation, checked_stats, checked_taps


def _changed(ctx: ChainContext, taps: list[str]) -> list[str]:
    wanted = set(taps)
    return [b.name for b, s in pairs(ctx) if b.name in wanted and not same_values(b, s)]


def _calibration(ctx: ChainContext) -> CalibrationWindows:
    chosen = ctx.recorder.state.planned().plan.arm("calibration")
    return CalibrationWindows(window_ids=[w.window_id for w in chosen], window_digests=[w.digest for w in chosen])


def run_variance(ctx: ChainContext, _phase: str) -> None:
    """Tap the targets on the calibration arm for both models; when VE proposes scales, score the arm
    again with them (the A/B pass) and keep them only if the recorded outcome enables VE."""
    t0 = ctx.timer()
    settings = ctx.policy.guards.variance
    skip = unmapped_names(ctx)
    found = checked_taps(ctx.recorder.state, "subject", ctx.models["subject"].variance_taps())
    taps = [name for name in found if name not in skip]
    targets = taps if settings.targets == "all_ffn" else _changed(ctx, taps)
    calibration = _calibration(ctx)
    measured = VarianceMeasurements(
        targets=settings.targets,
        calibration=calibration,
        taps=[],
        ab=None,
        repaired_weights_sha256=None,
        not_applicable=not_applicable_rows(ctx),
    )
    if targets:
        _require_windows(len(calibration.window_ids), settings.min_calibration_windows)
        measured = _measure(ctx, targets, measured)
    result = record_measured(ctx, measured, ctx.timer() - t0)
    ctx.apply_repairs(result.repairs)


def _require_windows(have: int, need: int) -> None:
    if have < need:
        raise UsageError(
            "E005",
            f"the variance guard needs >= {need} calibration windows, the plan has {have} (profile dev shrank the "
            "arms to what the corpus holds)",
            "use a larger corpus or a shorter dataset.seq_len, or drop variance from guards.order",
        )


def taps_only(
    model: ModelRunner, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
) -> object:
    """A model's activation statistics when its scores are not read (the baseline's: the A/B pass compares the
    subject's NLLs only): without scoring where the runner can (TapsOnlyRunner), the same bits either way.
    The answer is unchecked (checked_stats checks it); activation_stats' statistics, None when it is no pair."""
    if isinstance(model, TapsOnlyRunner):
        return model.activation_taps(windows, weights, progress)
    found: object = model.activation_stats(windows, weights, progress)
    return found[0] if isinstance(found, (tuple, list)) and len(found) == 2 else None


def _baseline_taps(ctx: ChainContext, windows: Sequence[TokenWindow], targets: list[str]) -> object:
    """The baseline's statistics: tapped now, or those a sequential run recorded before releasing it, or, when
    its pass left them to an earlier run's copy that did not come, tapped by the baseline loaded again."""
    if ctx.recorded is not None:
        if ctx.retap is None or set(targets) <= ctx.recorded.taps.keys():
            return ctx.recorded.taps
        return ctx.retap(windows, targets)
    return taps_only(ctx.models["baseline"], windows, targets, ctx.progress.advance)


def scaled_pass(
    subject: LoadedModel,
    state: RunState | Run,
    windows: Sequence[TokenWindow],
    targets: list[str],
    repairs_and_scales: tuple[dict[str, float], dict[str, float]],
    advance: Callable[[int], None] | None = None,
) -> tuple[dict[str, ActivationStats], list[WindowScore], str]:
    """The A/B pass's side with VE: the subject with `scales` on top of the chain's `repairs` so far, its taps and
    window scores (checked), and its weights' digest; the subject is left with `repairs` alone (the unrepaired
    subject until the outcome is recorded). certify runs it, and the re-execution audit again."""
    repairs, scales = repairs_and_scales
    subject.scale_weights(chain.compose(repairs, scales))
    try:
        found = subject.activation_stats(windows, targets, advance)
        stats, scores = checked_activation(state, "subject", found, windows, targets)
        return stats, scores, subject.identity().weights_sha256
    finally:
        subject.scale_weights(repairs)


def _measure(ctx: ChainContext, targets: list[str], measured: VarianceMeasurements) -> VarianceMeasurements:
    ids = measured.calibration.window_ids
    windows = token_windows(ids, ctx.rows, seed=ctx.recorder.state.started.seeds["dataset"])
    subject = ctx.models["subject"]
    reused = ctx.baseline_taps(targets, measured.calibration)  # {} unless an earlier run tapped this baseline
    held = not reused and ctx.recorded is None
    ctx.progress.start("variance guard: calibration arm", (2 if held else 1) * len(windows))
    try:
        state = ctx.recorder.state
        stats_b = reused or checked_stats(state, "baseline", _baseline_taps(ctx, windows, targets), targets)
        found = subject.activation_stats(windows, targets, ctx.progress.advance)
        stats_s, without = checked_activation(state, "subject", found, windows, targets)
    finally:
        ctx.progress.finish()
    taps = [VarianceTap(weight=w, baseline=stats_b[w], subject=stats_s[w]) for w in targets]
    scales = variance.proposals(taps, ctx.policy.guards.variance)
    if not scales:
        return msgspec.structs.replace(measured, taps=taps)
    ctx.progress.start("variance guard: A/B pass", len(windows))
    try:
        stats_r, with_ve, repaired_sha256 = scaled_pass(
            subject, ctx.recorder.state, windows, targets, (ctx.repairs, scales), ctx.progress.advance
        )
    finally:
        ctx.progress.finish()
    ab = ABPass(
        window_ids=ids,
        tokens=[s.tokens_scored for s in without],
        nll_without=[s.nll_sum for s in without],
        nll_with=[s.nll_sum for s in with_ve],
    )
    repaired = [msgspec.structs.replace(tap, repaired=stats_r[tap.weight]) for tap in taps]
    return msgspec.structs.replace(measured, taps=repaired, ab=ab, repaired_weights_sha256=repaired_sha256)
