"""The gates of `ppl_causal` (docs/reference/statistics.md §5). Missing values fail; they never pass."""

from __future__ import annotations

from .. import certificate as c
from ..policy import Policy


def _primary(pm: c.PrimaryMetric, policy: Policy) -> tuple[bool, str]:
    if pm.display_ci is None or pm.final is None:
        return False, "final arm not scored: no interval to gate on"
    limit = policy.gates.ratio_limit
    if pm.display_ci[1] > limit:
        return False, f"upper CI of the ratio {pm.display_ci[1]:.4f} exceeds the {policy.tier} limit {limit}"
    return True, ""


def floors(pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
    """The window floor (every scored arm), the final-arm token floor and an exact (not approximate) interval:
    gated under ci/release, `not_applicable` under dev."""
    names = ("window_floor_met", "token_floor_met", "ci_not_approximate")
    if not policy.enforce_floors:
        return {name: ("not_applicable", "") for name in names}
    arms = [("preview", pm.preview)] + ([("final", pm.final)] if pm.final is not None else [])
    short = [f"{arm} {m.windows}" for arm, m in arms if m.windows < policy.min_windows]
    tokens = pm.final.tokens if pm.final is not None else 0
    return {
        "window_floor_met": (not short, f"windows per arm ({', '.join(short)}) < floor {policy.min_windows}"),
        "token_floor_met": (
            tokens >= policy.gates.min_final_tokens,
            f"{tokens} final-arm tokens < floor {policy.gates.min_final_tokens}",
        ),
        "ci_not_approximate": (not pm.ci_approximate, "the interval is approximate (too few final windows)"),
    }


def _drift(pm: c.PrimaryMetric, policy: Policy) -> tuple[bool, str]:
    if pm.drift is None:
        return False, "final arm not scored: drift unknown"
    lo, hi = policy.gates.drift_min, policy.gates.drift_max
    return (lo <= pm.drift <= hi), f"drift {pm.drift:.4f} outside [{lo}, {hi}]"


def flags(pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
    """The ratio's upper bound under the tier limit, the floors, and the preview/final drift, in verdict order."""
    return {
        "primary_metric_acceptable": _primary(pm, policy),
        **floors(pm, policy),
        "preview_final_drift_acceptable": _drift(pm, policy),
    }


def catastrophe(preview: c.ArmMetric, policy: Policy) -> str | None:
    """The preview ratio above the catastrophe ratio: the run rolls back without scoring the final arm."""
    limit, ratio = policy.gates.catastrophe_ratio, preview.value("ratio")
    return f"preview ratio {ratio:.4f} > catastrophe ratio {limit}" if ratio > limit else None
