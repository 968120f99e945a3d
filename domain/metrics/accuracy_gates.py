"""The gates of `accuracy` (docs/reference/statistics.md, "Classification accuracy"). Missing values fail."""

from __future__ import annotations

from .. import certificate as c
from ..errors import UsageError
from ..policy import AccuracyGates, Policy


def accuracy_gates(policy: Policy) -> AccuracyGates:
    """The policy's accuracy section (UsageError E202 when the policy was resolved for another kind)."""
    if policy.accuracy is None:
        raise UsageError("E202", "the policy has no accuracy section", "resolve it with metric kind accuracy")
    return policy.accuracy


def _primary(pm: c.PrimaryMetric, policy: Policy) -> tuple[bool, str]:
    if pm.display_ci is None or pm.final is None:
        return False, "final arm not scored: no interval to gate on"
    limit = accuracy_gates(policy).delta_pp_limit
    lo = pm.display_ci[0]
    if lo < -limit:
        return False, f"lower CI of Δaccuracy {lo:+.2f} pp is below −{limit} pp ({policy.tier})"
    return True, ""


def _floors(pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
    """Examples per scored arm against the window floor and an exact interval (ci/release); an example is one
    prediction, so the token floor does not apply."""
    if not policy.enforce_floors:
        return {name: ("not_applicable", "") for name in ("window_floor_met", "token_floor_met", "ci_not_approximate")}
    arms = [("preview", pm.preview)] + ([("final", pm.final)] if pm.final is not None else [])
    short = [f"{arm} {m.windows}" for arm, m in arms if m.windows < policy.min_windows]
    return {
        "window_floor_met": (not short, f"examples per arm ({', '.join(short)}) < floor {policy.min_windows}"),
        "token_floor_met": ("not_applicable", ""),
        "ci_not_approximate": (not pm.ci_approximate, "the interval is approximate (too few final examples)"),
    }


def _drift(pm: c.PrimaryMetric, policy: Policy) -> tuple[bool, str]:
    if pm.drift is None:
        return False, "final arm not scored: drift unknown"
    limit = accuracy_gates(policy).drift_pp_max
    return abs(pm.drift) <= limit, f"|Δ final − Δ preview| = {abs(pm.drift):.2f} pp exceeds {limit} pp"


def flags(pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
    """Δaccuracy's lower bound above −limit, the example floors, and the preview/final drift, in verdict order."""
    return {
        "primary_metric_acceptable": _primary(pm, policy),
        **_floors(pm, policy),
        "preview_final_drift_acceptable": _drift(pm, policy),
    }
