"""The resolved Policy and its evidence requirements (the gates of a tier and of each metric: gate_policy.py).
Their values live in domain/policy.py, which re-exports every name here."""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import UsageError
from .gate_policy import AccuracyGates, EmbeddingGates, GatePolicy, SecondaryPolicy
from .guards.plugin_records import PluginGuardSettings
from .guards.settings import GuardSettings
from .stats import check_bootstrap_settings

GUARD_NAMES = ("invariants", "spectral", "rmt", "variance")
DEFAULT_GUARD_ORDER = ("invariants", "spectral", "rmt", "variance", "invariants")


def order_shape_problem(order: tuple[str, ...] | list[str]) -> str | None:
    """Why a guard order is none a run takes (it starts and ends with invariants, which checks the model before
    and after the other guards, names it only there and every other guard once), or None. The names are not
    checked here."""
    if len(order) < 2 or order[0] != "invariants" or order[-1] != "invariants" or order.count("invariants") != 2:
        return "must start and end with invariants (and name it only there)"
    repeated = sorted({n for n in order if n != "invariants" and order.count(n) > 1})
    return f"names {', '.join(repeated)} twice" if repeated else None


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
