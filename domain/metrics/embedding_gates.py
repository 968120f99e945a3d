"""The gates of `embedding_cosine` (docs/reference/statistics.md, embedding cosine). Missing values fail."""

from __future__ import annotations

from .. import certificate as c
from ..errors import UsageError
from ..policy import EmbeddingGates, Policy
from . import ppl_gates


def section(policy: Policy) -> EmbeddingGates:
    """The policy's embedding section (UsageError E601 when absent: a cosine gate never passes without it)."""
    if policy.embedding is None:
        raise UsageError("E601", "the policy has no embedding section for embedding_cosine", "re-issue the run")
    return policy.embedding


def _primary(pm: c.PrimaryMetric, gates: EmbeddingGates, tier: str) -> tuple[bool, str]:
    if pm.display_ci is None or pm.final is None:
        return False, "final arm not scored: no interval to gate on"
    if pm.display_ci[0] < gates.min_cosine:
        return False, f"lower CI of the mean cosine {pm.display_ci[0]:.4f} is below the {tier} limit {gates.min_cosine}"
    return True, ""


def _drift(pm: c.PrimaryMetric, gates: EmbeddingGates) -> tuple[bool, str]:
    if pm.drift is None:
        return False, "final arm not scored: drift unknown"
    return abs(pm.drift) <= gates.drift_max, f"mean cosine drift {pm.drift:+.4f} beyond ±{gates.drift_max}"


def flags(pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
    """The lower bound of the mean cosine over the tier limit, the window floors (the token floor is a
    perplexity floor: not_applicable) and |final − preview| mean cosine within drift_max, in verdict order."""
    gates = section(policy)
    return {
        "primary_metric_acceptable": _primary(pm, gates, policy.tier),
        **ppl_gates.floors(pm, policy),
        "token_floor_met": ("not_applicable", ""),
        "preview_final_drift_acceptable": _drift(pm, gates),
    }
