"""Variance guard (VE): output-scale shifts at the FFN output taps, the proposed repair and its A/B gate
(docs/assurance/guards.md §4). Pure: it decides on recorded activation statistics and per-window NLL sums."""

from __future__ import annotations

import math

import numpy as np

from ..model import ActivationStats
from ..policy import THRESHOLD_TOLERANCE
from ..stats import bca_interval, paired_summary
from .settings import VarianceSettings
from .variance_records import (
    ABGate,
    ABPass,
    Proposal,
    VarianceMeasurements,
    VarianceOutcome,
    VarianceScale,
    VarianceSummary,
    VarianceTap,
    VarianceViolation,
)


def std_of(stats: ActivationStats) -> float:
    """Population standard deviation from {count, sum, sum_sq} of one module's output activations."""
    n, s, q = float(stats.count), float(stats.sum), float(stats.sum_sq)
    if n <= 0:
        raise ValueError("activation statistics over zero values")
    mean = s / n
    return math.sqrt(max(q / n - mean * mean, 0.0))


def beyond(value: float, limit: float) -> bool:
    """|value| > limit beyond float rounding (THRESHOLD_TOLERANCE): a value equal to the limit up to rounding is
    not beyond it."""
    return abs(value) > limit + THRESHOLD_TOLERANCE


def propose(std_baseline: float, std_subject: float, settings: VarianceSettings) -> Proposal:
    """c = clamp(std_b/std_s, lo, hi); kept iff |c − 1| > deadband and ≥ min_abs_adjust (both compared with
    THRESHOLD_TOLERANCE of slack for float rounding); the applied scale moves at most max_scale_step from 1
    (1.0 when not kept)."""
    lo, hi = settings.clamp
    raw = std_baseline / std_subject if std_subject > 0.0 else math.inf
    c = min(max(raw, lo), hi)
    kept = beyond(c - 1.0, settings.deadband) and abs(c - 1.0) >= settings.min_abs_adjust - THRESHOLD_TOLERANCE
    step = settings.max_scale_step
    applied = 1.0 + min(max(c - 1.0, -step), step) if kept else 1.0
    return Proposal(ratio=raw if math.isfinite(raw) else None, proposed=c, kept=kept, applied=applied)


def proposals(taps: list[VarianceTap], settings: VarianceSettings) -> dict[str, float]:
    """The scales VE would apply: {weight name: applied scale} for every kept proposal."""
    out: dict[str, float] = {}
    for tap in taps:
        p = propose(std_of(tap.baseline), std_of(tap.subject), settings)
        if p.kept:
            out[tap.weight] = p.applied
    return out


def ab_gate(ab: ABPass, settings: VarianceSettings, *, key: bytes, replicates: int) -> ABGate:
    """Paired d_i = NLL(subject+VE)_i − NLL(subject)_i over the calibration windows, token-weighted mean and
    window-bootstrap interval; enable iff the interval shows an improvement beyond min_effect (one-sided:
    upper bound of a (1 − α) one-sided interval; two-sided: the interval excludes 0 and the mean is below)."""
    tokens = np.asarray(ab.tokens, dtype=np.float64)
    without, with_ve = np.asarray(ab.nll_without), np.asarray(ab.nll_with)
    alpha = settings.alpha
    two_sided = settings.sided == "two"
    ci = bca_interval(tokens, without, with_ve, key=key, replicates=replicates, alpha=alpha if two_sided else 2 * alpha)
    mean = paired_summary(tokens, without, with_ve).delta_mean
    effect = settings.min_effect
    enabled = (ci.hi < 0.0 and mean < -effect) if two_sided else ci.hi < -effect
    return ABGate(mean_delta=mean, ci=(ci.lo, ci.hi), method=ci.method, enabled=bool(enabled))


def _scale(tap: VarianceTap, enabled: bool, settings: VarianceSettings) -> VarianceScale:
    std_b, std_s = std_of(tap.baseline), std_of(tap.subject)
    final = std_of(tap.repaired) if enabled and tap.repaired is not None else std_s
    p = propose(std_b, std_s, settings)
    return VarianceScale(
        weight=tap.weight,
        std_baseline=std_b,
        std_subject=std_s,
        std_final=final,
        residual_shift=std_b / final - 1.0 if final > 0.0 else None,
        ratio=p.ratio,
        proposed=p.proposed,
        kept=p.kept,
        applied=p.applied,
    )


def evaluate(
    measured: VarianceMeasurements, settings: VarianceSettings, *, key: bytes, replicates: int
) -> VarianceOutcome:
    """Proposals per tap, the A/B decision (when any scale was proposed) and the verdict: a violation is a
    tap whose output scale, as the subject is finally evaluated, is still off the baseline's by more than
    the deadband (with VE on, the post-repair measurement decides)."""
    scales = proposals(measured.taps, settings)
    ab = measured.ab
    gate = ab_gate(ab, settings, key=key, replicates=replicates) if ab is not None and scales else None
    enabled = bool(gate and gate.enabled)
    rows = [_scale(tap, enabled, settings) for tap in measured.taps]
    violations = [
        VarianceViolation(name=row.weight, residual_shift=row.residual_shift, ratio=row.ratio)
        for row in rows
        if row.residual_shift is None or beyond(row.residual_shift, settings.deadband)
    ]
    return VarianceOutcome(
        verdict="fail" if violations else "pass",
        summary=VarianceSummary(taps=len(rows), proposed=len(scales), enabled=enabled, violations=len(violations)),
        scales=rows,
        applied=scales if enabled else {},
        ab=gate,
        violations=violations,
    )
