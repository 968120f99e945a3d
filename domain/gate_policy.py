"""The gates of a tier as Structs: the perplexity ratio's, each metric kind's (embedding cosine, accuracy) and
the secondary metrics'. Their values live in domain/policy.py, which re-exports every name here."""

from __future__ import annotations

import msgspec

from .errors import UsageError
from .stats import check_bootstrap_settings

_RANGES = "ratio limits and the overhead limit above 0, 0 < drift_min <= drift_max, counts at least 0"


class GatePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds of the certificate gates for one tier (docs/reference/statistics.md §5)."""

    ratio_limit: float
    min_final_tokens: int
    min_windows_ci: int
    min_windows_release: int
    replicates_ci: int
    replicates_release: int
    catastrophe_ratio: float
    drift_min: float
    drift_max: float
    alpha: float
    guard_overhead_limit: float

    def __post_init__(self) -> None:
        for replicates in (self.replicates_ci, self.replicates_release):
            check_bootstrap_settings(replicates, self.alpha)
        positive = {k: getattr(self, k) for k in ("ratio_limit", "catastrophe_ratio", "guard_overhead_limit")}
        bad = [k for k, v in positive.items() if not v > 0] + ["drift_min"] * (not 0 < self.drift_min <= self.drift_max)
        counts = ("min_final_tokens", "min_windows_ci", "min_windows_release")
        bad += [k for k in counts if getattr(self, k) < 0]
        if bad:
            raise UsageError("E202", f"gates.{bad[0]} is {getattr(self, bad[0])}: out of range", _RANGES)


class EmbeddingGates(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds of the embedding cosine metric for one tier (docs/reference/statistics.md, embedding cosine).

    `min_cosine`: the lower bound of the mean cosine's interval must reach it; `catastrophe_cosine`: a preview
    mean cosine below it rolls the run back; `drift_max`: the largest |final − preview| mean cosine."""

    min_cosine: float
    catastrophe_cosine: float
    drift_max: float


class AccuracyGates(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds of metric kind `accuracy` for one tier, in percentage points (docs/reference/statistics.md,
    "Classification accuracy"): the lower CI bound of Δaccuracy must be ≥ −`delta_pp_limit`; a preview
    Δaccuracy below −`catastrophe_pp` rolls back; |Δ final − Δ preview| must be ≤ `drift_pp_max`."""

    delta_pp_limit: float
    catastrophe_pp: float
    drift_pp_max: float


class SecondaryPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Gates on the secondary metrics of a causal LM (statistics.md, "KL divergence and top-1 agreement"):
    the upper interval bound of the mean per-token KL(baseline ‖ subject) in nats, and the lower interval
    bound of top-1 agreement in percent. Present only when the run config sets `eval.secondary.gate: true`."""

    kl_mean_upper_limit: float
    top1_lower_limit: float
