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


# The policy threshold each headline is gated against, where the resolved policy states it: (section, key, sign)
# — the ratio's upper bound, Δaccuracy's lower bound −delta_pp_limit, the mean cosine's lower bound.
_LIMITS = {
    "ratio": ("gates", "ratio_limit", 1.0),
    "delta_pp": ("accuracy", "delta_pp_limit", -1.0),
    "mean_cosine": ("embedding", "min_cosine", 1.0),
}


def policy_limit(cert: c.Certificate, field: str) -> float | None:
    """The limit of the headline `field` from the certificate's resolved policy, None when it states none."""
    if field not in _LIMITS:
        return None
    section_name, key, sign = _LIMITS[field]
    section = cert.policy.resolved.get(section_name)
    limit = section.get(key) if isinstance(section, dict) else None
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit):
        return None
    return sign * float(limit)


def headline(cert: c.Certificate) -> Headline:
    """The final arm's headline with the certificate's display CI, or the preview arm's after a rollback."""
    pm = cert.primary_metric
    arm, where = (pm.final, "final") if pm.final is not None else (pm.preview, "preview")
    for field, what, reference in _HEADLINES:
        value = getattr(arm, field)
        if value is not None:
            ci = pm.display_ci if pm.final is not None else None
            limit = policy_limit(cert, field)
            suffix = "" if pm.final is not None else " (rolled back: no final arm)"
            return Headline(field, value, ci, reference, limit, f"{where} {what}{suffix}")
    return Headline(None, None, pm.display_ci, 1.0, None, f"{where} arm states no ratio, Δ accuracy or cosine")
