"""Tiers and profiles: the one place where every threshold lives, and the policy digest over them.

The Structs the thresholds fill live in gate_policy and policy_sections, the checking of a config's overrides in
policy_overrides; this module holds every value (the tier tables and limits), resolves a tier and profile
into a Policy, and re-exports every name of them so that `from invarlock.domain.policy import ...` reaches them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from . import policy_overrides
from .canonical import canonical_bytes, sha256_hex
from .errors import UsageError
from .gate_policy import AccuracyGates, EmbeddingGates, GatePolicy, SecondaryPolicy
from .guards.settings import (
    FamilyEpsilon,
    GuardSettings,
    InvariantsSettings,
    RmtSettings,
    SpectralSettings,
    VarianceSettings,
)
from .policy_overrides import GUARD_OVERRIDABLE, _gate_overrides, _guard_overrides, _order, _plugin_settings
from .policy_releases import as_released
from .policy_sections import (
    DEFAULT_GUARD_ORDER,
    EVIDENCE_DTYPES,
    GUARD_NAMES,
    EvidencePolicy,
    Policy,
    order_shape_problem,
)

__all__ = [
    "DEFAULT_GUARD_ORDER",
    "DEV_REPLICATES",
    "EVIDENCE_DTYPES",
    "GUARD_NAMES",
    "GUARD_OVERRIDABLE",
    "PREFLIGHT_MIN_FREE_BYTES",
    "PROFILES",
    "RECORDED_STATISTIC_REL_TOL",
    "REEXECUTION_DEFAULT_SAMPLE",
    "REEXECUTION_REL_TOL",
    "SECTIONS",
    "THRESHOLD_TOLERANCE",
    "TIERS",
    "VERIFY_MAX_BOOTSTRAP_CELLS",
    "VERIFY_MAX_DEALT_WINDOWS",
    "VERIFY_MAX_REPLICATES",
    "AccuracyGates",
    "EmbeddingGates",
    "EvidencePolicy",
    "GatePolicy",
    "Policy",
    "SecondaryPolicy",
    "order_shape_problem",
    "policy_digest",
    "policy_from_dict",
    "re_resolve",
    "resolve_policy",
]

TIERS = ("conservative", "balanced", "aggressive")
PROFILES = ("dev", "ci", "release")


def _tier_gates(*, ratio_limit: float, min_final_tokens: int, min_windows_ci: int, replicates_ci: int) -> GatePolicy:
    """One tier's gates: what differs between tiers is named in the call, every other threshold is shared."""
    return GatePolicy(
        ratio_limit=ratio_limit,
        min_final_tokens=min_final_tokens,
        min_windows_ci=min_windows_ci,
        min_windows_release=400,
        replicates_ci=replicates_ci,
        replicates_release=3200,
        catastrophe_ratio=2.0,
        drift_min=0.95,
        drift_max=1.05,
        alpha=0.05,
        guard_overhead_limit=1.01,
    )


_GATES: dict[str, GatePolicy] = {
    "conservative": _tier_gates(ratio_limit=1.05, min_final_tokens=20_000, min_windows_ci=220, replicates_ci=1500),
    "balanced": _tier_gates(ratio_limit=1.10, min_final_tokens=50_000, min_windows_ci=180, replicates_ci=1200),
    "aggressive": _tier_gates(ratio_limit=1.20, min_final_tokens=50_000, min_windows_ci=140, replicates_ci=800),
}

_ACCURACY: dict[str, AccuracyGates] = {
    "conservative": AccuracyGates(delta_pp_limit=1.0, catastrophe_pp=25.0, drift_pp_max=10.0),
    "balanced": AccuracyGates(delta_pp_limit=2.0, catastrophe_pp=25.0, drift_pp_max=10.0),
    "aggressive": AccuracyGates(delta_pp_limit=5.0, catastrophe_pp=25.0, drift_pp_max=10.0),
}
# A mean cosine of pooled embeddings over paired texts (all-MiniLM-L6-v2 on Wikipedia: int8 RTN 0.9995, int4
# RTN 0.89): balanced lets 1 % of the direction go, conservative 0.5 %, aggressive 2 %.
_EMBEDDING: dict[str, EmbeddingGates] = {
    tier: EmbeddingGates(min_cosine=limit, catastrophe_cosine=0.5, drift_max=0.02)
    for tier, limit in (("conservative", 0.995), ("balanced", 0.99), ("aggressive", 0.98))
}
# Optional policy sections by name: a metric kind names the one its gates read (Metric.policy_section).
SECTIONS = ("accuracy", "embedding")
# Secondary-metric gates per tier (conservative, balanced, aggressive). Measured on the demo model (SmolLM2-135M,
# 8 windows of 512 tokens of the gensim Lee corpus, docs/reference/statistics.md §10): RTN int8 has mean KL
# 0.0033 nats and 96.3 % top-1, RTN int4 0.97 nats and 46.5 %: balanced passes int8 with margin, every tier
# fails int4 by far.
_SECONDARY = {
    "conservative": SecondaryPolicy(kl_mean_upper_limit=0.01, top1_lower_limit=95.0),
    "balanced": SecondaryPolicy(kl_mean_upper_limit=0.02, top1_lower_limit=92.0),
    "aggressive": SecondaryPolicy(kl_mean_upper_limit=0.05, top1_lower_limit=88.0),
}

DEV_REPLICATES = 500
# Slack when a guard compares a computed ratio with a threshold: |0.98 − 1| is 0.020000000000000018 in float64,
# which must not count as beyond a deadband of 0.02. Far below any meaningful difference, far above rounding.
THRESHOLD_TOLERANCE = 1e-12
# A statistic an event restates (the preview assessment's ratio), recomputed by replay from the evidence it was
# computed from: equal but for a summation order's rounding, far below the 4 decimals any gate or reason uses.
RECORDED_STATISTIC_REL_TOL = 1e-12
# What verify spends on a certificate's bootstrap. The resampling holds at most 40 bytes per (replicate, window)
# cell at its peak (32 measured), so the cell bound caps verify's bootstrap memory at 400 MB whatever the file asks.
VERIFY_MAX_REPLICATES = 10_000
VERIFY_MAX_BOOTSTRAP_CELLS = 10_000_000
# verify deals a plan's arms again over its windows_available: 8 bytes of rank each (400 MB at most).
VERIFY_MAX_DEALT_WINDOWS = 50_000_000
# `invarlock doctor` warns below this much free disk where the event store lives: one run records about 1 MB (the
# store_v1 fixture holds 3 runs in 2.1 MB), and DuckDB's write-ahead log and checkpoints need room beyond the file.
PREFLIGHT_MIN_FREE_BYTES = 256 * 2**20
# Re-execution audit (verify --baseline/--subject) on another device or build: a recomputed per-window NLL sum
# or guard measurement must agree within this relative difference (same build: bit for bit). A 0.1 % alteration
# of the evidence is ten times this bound; the audit loads the certified dtype, since bfloat16 vs float32 NLL
# sums differ by 2.7e-3 on the demo model (docs/user-guide.md, "Plain verify vs re-execution audit").
REEXECUTION_REL_TOL = 1e-4
# Windows re-scored per scored arm, and matrices re-measured per weight guard, unless --sample says otherwise.
REEXECUTION_DEFAULT_SAMPLE = 16

_TIER_INDEX = {"conservative": 0, "balanced": 1, "aggressive": 2}
_RMT_EPSILON_BALANCED = {"ffn": 0.10, "attn": 0.08, "embed": 0.12, "other": 0.12}


def _per_tier(tier: str, values: tuple[Any, Any, Any]) -> Any:
    return values[_TIER_INDEX[tier]]


def _guard_table(tier: str) -> GuardSettings:
    """Every guard threshold of one tier (GUARDS.md; the calibration in docs/assurance/guards.md justifies
    each number that differs from the design's starting value). Values given once hold for every tier;
    a triple is (conservative, balanced, aggressive)."""

    def per_tier(*values: Any) -> Any:
        return _per_tier(tier, values)

    mode = per_tier("gate", "monitor", "monitor")
    factor = per_tier(0.5, 1.0, 2.0)
    return GuardSettings(
        invariants=InvariantsSettings(mode="gate", report_limit=20),
        spectral=SpectralSettings(
            mode=mode,
            deadband=per_tier(0.05, 0.10, 0.15),
            min_effect=0.02,
            z_floor=0.01,
            min_family_size=4,
            correction=per_tier("bonferroni", "bh", "bh"),
            alpha=per_tier(0.000625, 0.05, 0.00078),
            max_caps=per_tier(0, 0, 2),
            top_k=10,
            repair=False,
            power_tol=1e-6,
            power_max_iter=0,  # σ_max from the spectrum the RMT guard computes anyway (0.3.7; 200 before)
        ),
        rmt=RmtSettings(
            mode=mode,
            epsilon=FamilyEpsilon(**{family: eps * factor for family, eps in _RMT_EPSILON_BALANCED.items()}),
            k_floor=2,
            outlier_tw_quantile=4.0,
            max_violations=per_tier(0, 0, 2),
            exact_max_dim=4096,
        ),
        variance=VarianceSettings(
            mode=mode,
            targets="changed",
            clamp=(0.85, 1.12),
            deadband=0.02,
            min_abs_adjust=0.012,
            max_scale_step=0.03,
            sided=per_tier("two", "one", "one"),
            min_effect=per_tier(0.016, 0.0009, 0.033),
            alpha=0.05,
            min_calibration_windows=8,
        ),
    )


def resolve_policy(
    tier: str,
    profile: str,
    overrides: Mapping[str, object] | None = None,
    guard_overrides: dict[str, dict[str, object]] | None = None,
    guard_order: list[str] | tuple[str, ...] | None = None,
    section: str | None = None,
    secondary_gate: bool = False,
    evidence: EvidencePolicy | None = None,
) -> Policy:
    """Resolve a tier and profile (plus optional numeric gate overrides, guard settings such as
    {"spectral": {"mode": "gate"}} and the guard chain order) into the full policy. Every override, a
    guard order other than DEFAULT_GUARD_ORDER included, is listed in `Policy.overrides`. `section` names
    the optional section (one of SECTIONS) of the metric kind that runs, filled from the tier's table and the
    overrides of its keys (a kind with a section refuses the overrides only perplexity ratios read).
    `secondary_gate` adds the tier's secondary-metric gates (run config `eval.secondary.gate: true`);
    `evidence` the requirements on the evidence itself (EvidencePolicy)."""
    if tier not in TIERS:
        raise UsageError("E202", f"unknown tier '{tier}'", f"use one of: {', '.join(TIERS)}")
    if profile not in PROFILES:
        raise UsageError("E202", f"unknown profile '{profile}'", f"use one of: {', '.join(PROFILES)}")
    if section is not None and section not in SECTIONS:
        raise UsageError("E202", f"unknown policy section '{section}'", f"use one of: {', '.join(SECTIONS)}")
    overrides = dict(overrides or {})
    plugins = _plugin_settings(guard_overrides or {}, guard_order)
    order = _order(guard_order, plugins)
    table = (_ACCURACY if section == "accuracy" else _EMBEDDING)[tier] if section is not None else None
    gates = _gate_overrides(_GATES[tier], overrides, section, type(table).__struct_fields__ if table else ())
    kind_gates = policy_overrides.section_overrides(table, overrides) if table is not None else None
    replicates = {"dev": DEV_REPLICATES, "ci": gates.replicates_ci, "release": gates.replicates_release}[profile]
    if replicates > VERIFY_MAX_REPLICATES:  # its certificates could not be verified or replayed by default
        raise UsageError(
            "E202",
            f"policy override: {replicates} bootstrap replicates for the {profile} profile",
            f"ask for at most {VERIFY_MAX_REPLICATES} (what verify and replay recompute)",
        )
    min_windows = {"dev": 2, "ci": gates.min_windows_ci, "release": gates.min_windows_release}[profile]
    return Policy(
        tier=tier,
        profile=profile,
        gates=gates,
        replicates=replicates,
        min_windows=min_windows,
        enforce_floors=profile != "dev",
        guards=_guard_overrides(_guard_table(tier), guard_overrides or {}, tier),
        guard_order=order,
        secondary=_SECONDARY[tier] if secondary_gate else None,
        overrides={
            **overrides,
            **({"guards": guard_overrides} if guard_overrides else {}),
            **({"guard_order": list(order)} if order != DEFAULT_GUARD_ORDER else {}),
        },
        accuracy=kind_gates if isinstance(kind_gates, AccuracyGates) else None,
        embedding=kind_gates if isinstance(kind_gates, EmbeddingGates) else None,
        plugin_guards=plugins,
        evidence=evidence,
    )


# Tier defaults a release changed: (guard, setting, the first release with the new value, the value every earlier
# release resolved). 0.3.7: σ_max from the exact spectrum the RMT guard computes anyway, no power iteration first.
CHANGED_DEFAULTS = (("spectral", "power_max_iter", (0, 3, 7), 200),)


def re_resolve(policy: Policy, released: str | None = None) -> Policy:
    """The policy that `policy.tier`, `policy.profile` and its recorded `overrides` resolve to, with the tier table
    of the tool version `released` that recorded it (CHANGED_DEFAULTS; None or an unreadable version: this
    release's table): a recorded policy must equal it (raises UsageError E202 when the recorded overrides are
    invalid)."""
    gate = {k: v for k, v in policy.overrides.items() if k not in ("guards", "guard_order")}
    guards = policy.overrides.get("guards")
    if guards is not None and not (isinstance(guards, dict) and all(isinstance(v, dict) for v in guards.values())):
        raise UsageError(
            "E202",
            "recorded guard overrides are not a mapping of guard settings",
            "the certificate or event store was altered: take the policy from its issuer again",
        )
    section = next((name for name in SECTIONS if getattr(policy, name) is not None), None)
    order = policy.overrides.get("guard_order")
    secondary = policy.secondary is not None
    resolved = resolve_policy(
        policy.tier, policy.profile, gate, guards, order, section, secondary_gate=secondary, evidence=policy.evidence
    )
    return as_released(resolved, released, CHANGED_DEFAULTS)


def policy_from_dict(data: object) -> Policy:
    """Decode a recorded policy (raises UsageError E601 when it is not a valid policy)."""
    try:
        return msgspec.convert(data, Policy)
    except (msgspec.ValidationError, UsageError) as exc:
        raise UsageError(
            "E601",
            f"policy section is invalid: {exc}",
            "the certificate's policy was altered or is from another version",
        ) from exc


def policy_digest(policy: Policy) -> str:
    """sha256 over the canonical JSON of the entire resolved policy."""
    return sha256_hex(canonical_bytes(policy))
