"""The resolved policy's Structs: the gates of a tier, the optional sections (a metric kind's gates, the
secondary-metric gates, evidence requirements) and the Policy itself. Their values live in domain/policy.py,
which re-exports every name here."""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import UsageError
from .guards.plugin_records import PluginGuardSettings
from .guards.settings import GuardSettings
from .stats import check_bootstrap_settings

_RANGES = "ratio limits and the overhead limit above 0, 0 < drift_min <= drift_max, counts at least 0"
GUARD_NAMES = ("invariants", "spectral", "rmt", "variance")
DEFAULT_GUARD_ORDER = ("invariants", "spectral", "rmt", "variance", "invariants")


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


# Scoring dtypes a model's identity may state; a policy's `evidence.require_dtype` names one of them.
EVIDENCE_DTYPES = ("float32", "float16", "bfloat16")


class EvidencePolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the evidence itself must be (docs/reference/certificate.md, "Evidence precision"): both models'
    floating-point scoring dtype must be `require_dtype` (one of EVIDENCE_DTYPES). Present only when a policy
    sets `evidence:` (a recipient's `verify --policy FILE`); unset, it is not written."""

    require_dtype: str

    def __post_init__(self) -> None:
        if self.require_dtype not in EVIDENCE_DTYPES:
            raise UsageError(
                "E202",
                f"evidence.require_dtype is {self.require_dtype!r}",
                f"use one of: {', '.join(EVIDENCE_DTYPES)}",
            )


class Policy(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The entire resolved policy of a run. Its canonical JSON is what the policy digest covers.

    A metric kind's own section (`accuracy`, `embedding`: Metric.policy_section) is set only when that kind
    runs, the secondary-metric gates (`secondary`) only when the run config asks for them, the evidence
    requirements (`evidence`) only when a policy file states them; unset, they are not written, so the policies
    without them (and their digests) do not change."""

    tier: str
    profile: str
    gates: GatePolicy
    replicates: int
    min_windows: int
    enforce_floors: bool
    guards: GuardSettings
    guard_order: tuple[str, ...]
    overrides: dict[str, Any]
    accuracy: AccuracyGates | None = None
    embedding: EmbeddingGates | None = None
    secondary: SecondaryPolicy | None = None
    plugin_guards: dict[str, PluginGuardSettings] | None = None
    evidence: EvidencePolicy | None = None

    def __post_init__(self) -> None:
        check_bootstrap_settings(self.replicates, self.gates.alpha)

    @property
    def required_guards(self) -> tuple[str, ...]:
        """Guards this policy gates on (mode `gate`): each must have run, or its flag fails."""
        return tuple(name for name in GUARD_NAMES if self.guards.mode_of(name) == "gate")
