"""The variance guard's measurements: FFN output statistics on the calibration arm and the VE A/B pass."""

from __future__ import annotations

import time
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.guards import chain, variance
from invarlock.domain.model import ActivationStats, WindowScore
from invarlock.domain.windows import TokenWindow

from .guard_chain import ChainContext, pairs, record_measured


def _stats(s: ActivationStats) -> dict[str, Any]:
    return {"count": s.count, "sum": s.sum, "sum_sq": s.sum_sq}


def _changed(ctx: ChainContext, taps: list[str]) -> list[str]:
    wanted = set(taps)
    return [b.name for b, s in pairs(ctx) if b.name in wanted and not (b.array == s.array).all()]


def _calibration(ctx: ChainContext) -> tuple[list[int], list[str]]:
    state = ctx.recorder.state
    assert state is not None and state.windows is not None
    plan = state.windows
    chosen = [
        (i, d) for i, d, a in zip(plan.window_ids, plan.window_digests, plan.arms, strict=True) if a == "calibration"
    ]
    return [i for i, _ in chosen], [d for _, d in chosen]


def _scores(scores: list[WindowScore]) -> tuple[list[int], list[float]]:
    return [s.tokens_scored for s in scores], [s.nll_sum for s in scores]


def run_variance(ctx: ChainContext, _phase: str) -> None:
    """Tap the targets on the calibration arm for both models; when VE proposes scales, score the arm
    again with them (the A/B pass) and keep them only if the recorded outcome enables VE."""
    t0 = time.perf_counter()
    settings = ctx.policy.guards.variance
    subject = ctx.models["subject"]
    taps = subject.variance_taps()
    targets = taps if settings.targets == "all_ffn" else _changed(ctx, taps)
    ids, digests = _calibration(ctx)
    measurements: dict[str, Any] = {
        "targets": settings.targets,
        "calibration": {"window_ids": ids, "window_digests": digests},
        "taps": [],
        "ab": None,
        "repaired_weights_sha256": None,
    }
    if targets:
        _require_windows(len(ids), settings.min_calibration_windows)
        _measure(ctx, targets, ids, measurements)
    outcome = record_measured(ctx, "variance", measurements, time.perf_counter() - t0)
    ctx.apply_repairs(chain.repairs_of("variance", outcome))


def _require_windows(have: int, need: int) -> None:
    if have < need:
        raise UsageError(
            "E005",
            f"the variance guard needs >= {need} calibration windows, the plan has {have}",
            "raise dataset.calibration_n (or drop variance from guards.order)",
        )


def _measure(ctx: ChainContext, targets: list[str], ids: list[int], out: dict[str, Any]) -> None:
    windows = [TokenWindow(window_id=i, tokens=tuple(int(t) for t in ctx.rows[i])) for i in ids]
    baseline, subject = ctx.models["baseline"], ctx.models["subject"]
    ctx.progress.start("variance guard: calibration arm", 2 * len(windows))
    try:
        stats_b, _ = baseline.activation_stats(windows, targets, ctx.progress.advance)
        stats_s, without = subject.activation_stats(windows, targets, ctx.progress.advance)
    finally:
        ctx.progress.finish()
    taps: list[dict[str, Any]] = [
        {"weight": w, "baseline": _stats(stats_b[w]), "subject": _stats(stats_s[w])} for w in targets
    ]
    out["taps"] = taps
    scales = variance.proposals(taps, ctx.policy.guards.variance)
    if not scales:
        return
    subject.scale_weights(chain.compose(ctx.repairs, scales))
    ctx.progress.start("variance guard: A/B pass", len(windows))
    try:
        stats_r, with_ve = subject.activation_stats(windows, targets, ctx.progress.advance)
        out["repaired_weights_sha256"] = subject.identity().weights_sha256
    finally:
        ctx.progress.finish()
        subject.scale_weights(ctx.repairs)  # back to the unrepaired subject until the outcome is recorded
    for tap in taps:
        tap["repaired"] = _stats(stats_r[tap["weight"]])
    tokens, nll_without = _scores(without)
    _, nll_with = _scores(with_ve)
    out["ab"] = {"window_ids": ids, "tokens": tokens, "nll_without": nll_without, "nll_with": nll_with}
