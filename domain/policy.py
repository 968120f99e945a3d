"""Tiers and profiles: the one place where every threshold lives, and the policy digest over them."""

from __future__ import annotations

from typing import Any

import msgspec

from .canonical import canonical_bytes, sha256_hex
from .errors import UsageError

TIERS = ("conservative", "balanced", "aggressive")
PROFILES = ("dev", "ci", "release")


class GatePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Thresholds of the certificate gates for one tier (STATISTICS.md §4–5)."""

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


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """The entire resolved policy of a run. Its canonical JSON is what the policy digest covers."""

    tier: str
    profile: str
    gates: GatePolicy
    replicates: int
    min_windows: int
    enforce_floors: bool
    guards: dict[str, dict[str, Any]]
    overrides: dict[str, Any]


_GATES: dict[str, GatePolicy] = {
    "conservative": GatePolicy(
        ratio_limit=1.05,
        min_final_tokens=20_000,
        min_windows_ci=220,
        min_windows_release=400,
        replicates_ci=1500,
        replicates_release=3200,
        catastrophe_ratio=2.0,
        drift_min=0.95,
        drift_max=1.05,
        alpha=0.05,
        guard_overhead_limit=1.01,
    ),
    "balanced": GatePolicy(
        ratio_limit=1.10,
        min_final_tokens=50_000,
        min_windows_ci=180,
        min_windows_release=400,
        replicates_ci=1200,
        replicates_release=3200,
        catastrophe_ratio=2.0,
        drift_min=0.95,
        drift_max=1.05,
        alpha=0.05,
        guard_overhead_limit=1.01,
    ),
    "aggressive": GatePolicy(
        ratio_limit=1.20,
        min_final_tokens=50_000,
        min_windows_ci=140,
        min_windows_release=400,
        replicates_ci=800,
        replicates_release=3200,
        catastrophe_ratio=2.0,
        drift_min=0.95,
        drift_max=1.05,
        alpha=0.05,
        guard_overhead_limit=1.01,
    ),
}

DEV_REPLICATES = 500

# Invariants have no tunable numbers; the other guards of GUARDS.md join this table with their own issue.
_GUARDS: dict[str, dict[str, dict[str, Any]]] = {
    tier: {"invariants": {"mode": "gate", "report_limit": 20}} for tier in TIERS
}


def _gate_overrides(gates: GatePolicy, overrides: dict[str, Any]) -> GatePolicy:
    fields = set(GatePolicy.__struct_fields__)
    for key, value in overrides.items():
        if key not in fields:
            raise UsageError("E202", f"unknown policy override '{key}'", f"known keys: {', '.join(sorted(fields))}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError("E202", f"policy override '{key}' must be a number, got {value!r}", "give a number")
    return msgspec.structs.replace(gates, **overrides)


def resolve_policy(tier: str, profile: str, overrides: dict[str, Any] | None = None) -> Policy:
    """Resolve a tier and profile (plus optional numeric gate overrides) into the full policy."""
    if tier not in TIERS:
        raise UsageError("E202", f"unknown tier '{tier}'", f"use one of: {', '.join(TIERS)}")
    if profile not in PROFILES:
        raise UsageError("E202", f"unknown profile '{profile}'", f"use one of: {', '.join(PROFILES)}")
    overrides = dict(overrides or {})
    gates = _gate_overrides(_GATES[tier], overrides)
    replicates = {"dev": DEV_REPLICATES, "ci": gates.replicates_ci, "release": gates.replicates_release}[profile]
    min_windows = {"dev": 2, "ci": gates.min_windows_ci, "release": gates.min_windows_release}[profile]
    return Policy(
        tier=tier,
        profile=profile,
        gates=gates,
        replicates=replicates,
        min_windows=min_windows,
        enforce_floors=profile != "dev",
        guards=_GUARDS[tier],
        overrides=overrides,
    )


def policy_from_dict(data: dict[str, Any]) -> Policy:
    """Decode a recorded policy (raises UsageError E601 when it is not a valid policy)."""
    try:
        return msgspec.convert(data, Policy)
    except msgspec.ValidationError as exc:
        raise UsageError(
            "E601",
            f"policy section is invalid: {exc}",
            "the certificate's policy was altered or is from another version",
        ) from exc


def policy_digest(policy: Policy) -> str:
    """sha256 over the canonical JSON of the entire resolved policy."""
    return sha256_hex(canonical_bytes(policy))
