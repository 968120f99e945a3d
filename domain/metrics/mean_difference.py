"""The assessment shared by the kinds whose statistic is a mean over items with every item weighing one
(accuracy in pp, embedding cosine): BCa of stats.bca_interval with unit weights, so θ = mean(subject − baseline)
and the resampling is the primary metric's own (same key, same generator); the interval is stated as is (no
exp), and drift is the final arm's statistic minus the preview arm's."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import certificate as c
from ..policy import Policy
from ..stats import GENERATOR, bca_interval, bootstrap_key
from .base import Assessment, Metric

Columns = Callable[[c.ArmEvidence], tuple[np.ndarray, np.ndarray]]


def assess_mean_difference(
    metric: Metric,
    evidence: c.Evidence,
    columns: Columns,
    drift_field: str,
    *,
    seed: int,
    plan_digest: str,
    policy: Policy,
) -> Assessment:
    """Both arms' statistics and the gated arm's interval of mean(subject column − baseline column).

    `columns` gives an arm's per-item (baseline, subject) values; `drift_field` the ArmMetric field whose
    final − preview difference is the drift."""
    preview = metric.arm_statistic(evidence.preview)
    final = metric.arm_statistic(evidence.final) if evidence.final is not None else None
    arm_name, arm = ("final", evidence.final) if evidence.final is not None else ("preview", evidence.preview)
    base, subj = columns(arm)
    key = bootstrap_key(seed, plan_digest, arm_name)
    b = bca_interval(np.ones_like(subj), base, subj, key=key, replicates=policy.replicates, alpha=policy.gates.alpha)
    primary = c.PrimaryMetric(
        kind=metric.kind,
        unit=metric.unit,
        direction=metric.direction,
        gating_basis=metric.gating_basis,
        preview=preview,
        final=final,
        ratio_vs_baseline=None,
        ci=(b.lo, b.hi) if final else None,
        display_ci=(b.lo, b.hi) if final else None,
        drift=final.value(drift_field) - preview.value(drift_field) if final else None,
        ci_approximate=final is None or final.windows < policy.gates.min_windows_ci,
    )
    bootstrap = c.BootstrapSection(
        method=b.method, replicates=b.replicates, alpha=b.alpha, generator=GENERATOR, seed=seed, key=b.key
    )
    return Assessment(primary=primary, bootstrap=bootstrap)
