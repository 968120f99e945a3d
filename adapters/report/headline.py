"""The one number a report draws first: the gated arm's headline statistic, its CI and what it is compared with.

Which statistic depends on the fields the arm states, not on the kind's name, so a kind the report has never
seen still gets its number line when it states one of them: a ratio (perplexity kinds, no-change at 1), a
difference of accuracies in pp (no change at 0) or a mean cosine (identical embeddings at 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from invarlock.domain import certificate as c

# (ArmMetric field, what it is, the value that means "no change")
_HEADLINES = (("ratio", "ratio", 1.0), ("delta_pp", "Δ accuracy (pp)", 0.0), ("mean_cosine", "mean cosine", 1.0))


@dataclass(frozen=True)
class Headline:
    """The ArmMetric field drawn, its value and CI (None when the certificate states none), the value that
    means no change and the limit (None when the report knows of none)."""

    field: str | None
    value: float | None
    ci: tuple[float, float] | None
    reference: float
    limit: float | None
    label: str


def ratio_limit(cert: c.Certificate) -> float | None:
    """The tier's ratio limit (upper CI bound must stay at or below it), or None when the policy lacks one."""
    gates = cert.policy.resolved.get("gates")
    limit = gates.get("ratio_limit") if isinstance(gates, dict) else None
    return float(limit) if isinstance(limit, int | float) and math.isfinite(limit) else None


def headline(cert: c.Certificate) -> Headline:
    """The final arm's headline with the certificate's display CI, or the preview arm's after a rollback."""
    pm = cert.primary_metric
    arm, where = (pm.final, "final") if pm.final is not None else (pm.preview, "preview")
    for field, what, reference in _HEADLINES:
        value = getattr(arm, field)
        if value is not None:
            ci = pm.display_ci if pm.final is not None else None
            limit = ratio_limit(cert) if field == "ratio" else None
            suffix = "" if pm.final is not None else " (rolled back: no final arm)"
            return Headline(field, value, ci, reference, limit, f"{where} {what}{suffix}")
    return Headline(None, None, pm.display_ci, 1.0, None, f"{where} arm states no ratio, Δ accuracy or cosine")
