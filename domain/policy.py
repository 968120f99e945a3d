"""Tiers and profiles: the one place where every threshold lives, and the policy digest over them."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import msgspec

from .canonical import canonical_bytes, sha256_hex
from .errors import UsageError
from .guards.plugin import plugin_guard
from .guards.plugin_records import PluginGuardSettings, settings_of
from .guards.settings import (
    GUARD_MODES,
    FamilyEpsilon,
    GuardSettings,
    InvariantsSettings,
    RmtSettings,
    SpectralSettings,
    VarianceSettings,
)

TIERS = ("conservative", "balanced", "aggressive")
PROFILES = ("dev", "ci", "release")


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

    @property
    def required_guards(self) -> tuple[str, ...]:
        """Guards this policy gates on (mode `gate`): each must have run, or its flag fails."""
        return tuple(name for name in GUARD_NAMES if self.guards.mode_of(name) == "gate")


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
# What verify spends on a certificate's bootstrap. The resampling holds at most 40 bytes per (replicate, window)
# cell at its peak (32 measured), so the cell bound caps verify's bootstrap memory at 400 MB whatever the file asks.
VERIFY_MAX_REPLICATES = 10_000
VERIFY_MAX_BOOTSTRAP_CELLS = 10_000_000
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
            power_max_iter=200,
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


GUARD_NAMES = ("invariants", "spectral", "rmt", "variance")
DEFAULT_GUARD_ORDER = ("invariants", "spectral", "rmt", "variance", "invariants")
# Keys a run config (guards.<name>.<key>) may override; each override is part of the resolved policy. Any
# other setting of a guard may be stated in the config only with the tier's own value (a pin: an InvarLock
# 0.3.7 config states its thresholds); a pin changes nothing but is recorded like an override.
GUARD_OVERRIDABLE: dict[str, dict[str, tuple[str | bool, ...]]] = {
    "spectral": {"mode": GUARD_MODES, "repair": (True, False)},
    "rmt": {"mode": GUARD_MODES},
    "variance": {"mode": GUARD_MODES, "targets": ("changed", "all_ffn")},
}


def _plugin_settings(overrides: dict[str, dict[str, object]], order: Any) -> dict[str, PluginGuardSettings] | None:
    """The settings of the plugin guards the overrides or the order name (guards.<name>.*: thresholds, mode)."""
    named = [*overrides, *(order if isinstance(order, list | tuple) else ())]
    out = {}
    for name in dict.fromkeys(n for n in named if isinstance(n, str) and n not in GUARD_NAMES):
        guard = plugin_guard(name)
        if guard is not None:
            out[name] = settings_of(name, overrides.get(name, {}), tuple(guard.settings))
    return out or None


def _guard_overrides(table: GuardSettings, overrides: dict[str, dict[str, object]], tier: str) -> GuardSettings:
    out = table
    for guard, values in overrides.items():
        if guard not in GUARD_NAMES and plugin_guard(guard) is not None:
            continue  # a plugin guard's settings: _plugin_settings
        allowed = GUARD_OVERRIDABLE.get(guard, {})
        for key, value in values.items():
            if key not in allowed:
                _check_pin(table, guard, key, value, tier)
            elif value not in allowed[key] or not isinstance(value, type(allowed[key][0])):
                choices = ", ".join(map(str, allowed[key]))
                raise UsageError("E202", f"guards.{guard}.{key} is {value!r}", f"use one of: {choices}")
        changes = {k: v for k, v in values.items() if k in allowed}
        out = msgspec.structs.replace(out, **{guard: msgspec.structs.replace(out.of(guard), **changes)})
    return out


def _check_pin(table: GuardSettings, guard: str, key: str, value: object, tier: str) -> None:
    fields = table.of(guard).__struct_fields__ if guard in GUARD_NAMES else ()
    if key not in fields:
        known = ", ".join(f"guards.{g}.{k}" for g, ks in GUARD_OVERRIDABLE.items() for k in ks)
        close = difflib.get_close_matches(key, fields, n=1)
        hint = f"did you mean {close[0]}?" if close else f"settable: {known}"
        raise UsageError("E202", f"guards.{guard}.{key} cannot be set", hint)
    current = msgspec.to_builtins(getattr(table.of(guard), key))
    if value != current or isinstance(value, bool) != isinstance(current, bool):
        raise UsageError(
            "E202",
            f"guards.{guard}.{key} = {value!r} differs from the {tier} tier's {current!r}",
            "thresholds come from the tier: drop the key, or choose the tier whose value it is (auto.tier)",
        )


def _gate_overrides(gates: GatePolicy, overrides: Mapping[str, object]) -> GatePolicy:
    fields = set(GatePolicy.__struct_fields__)
    for key, value in overrides.items():
        if key not in fields:
            raise UsageError("E202", f"unknown policy override '{key}'", f"known keys: {', '.join(sorted(fields))}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError("E202", f"policy override '{key}' must be a number, got {value!r}", "give a number")
    # convert, not replace: an int given for a float threshold must become a float, or the policy's JSON (and
    # digest) would change when a verifier decodes it.
    try:
        return msgspec.convert({**msgspec.structs.asdict(gates), **overrides}, GatePolicy)
    except msgspec.ValidationError as exc:
        raise UsageError("E202", f"policy override: {exc}", "give a whole number for a count or replicates") from exc


def _order(guard_order: Any, plugins: Mapping[str, PluginGuardSettings] | None) -> tuple[str, ...]:
    """The chain order: built-in guards, then plugin guards (each with its settings), then only invariants."""
    if guard_order is None:
        return DEFAULT_GUARD_ORDER
    names = (*GUARD_NAMES, *(plugins or {}))
    if not isinstance(guard_order, list | tuple) or not all(g in names for g in guard_order):
        raise UsageError("E202", f"guard order {guard_order!r} is invalid", f"name only {', '.join(names)}")
    for i, name in enumerate(guard_order):
        if name in (plugins or {}) and any(g not in (plugins or {}) and g != "invariants" for g in guard_order[i:]):
            raise UsageError(
                "E202",
                f"guard order {list(guard_order)!r} puts the plugin guard {name} before a built-in guard",
                "plugin guards run after the built-in ones, before the closing invariants",
            )
    return tuple(guard_order)


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
    the optional section (one of SECTIONS) of the metric kind that runs, filled from the tier's table.
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
        guards=_guard_overrides(_guard_table(tier), guard_overrides or {}, tier),
        guard_order=order,
        secondary=_SECONDARY[tier] if secondary_gate else None,
        overrides={
            **overrides,
            **({"guards": guard_overrides} if guard_overrides else {}),
            **({"guard_order": list(order)} if order != DEFAULT_GUARD_ORDER else {}),
        },
        accuracy=_ACCURACY[tier] if section == "accuracy" else None,
        embedding=_EMBEDDING[tier] if section == "embedding" else None,
        plugin_guards=plugins,
        evidence=evidence,
    )


def re_resolve(policy: Policy) -> Policy:
    """The policy that `policy.tier`, `policy.profile` and its recorded `overrides` resolve to: a recorded
    policy must equal it (raises UsageError E202 when the recorded overrides are invalid)."""
    gate = {k: v for k, v in policy.overrides.items() if k not in ("guards", "guard_order")}
    guards = policy.overrides.get("guards")
    if guards is not None and not (isinstance(guards, dict) and all(isinstance(v, dict) for v in guards.values())):
        raise UsageError("E202", "recorded guard overrides are not a mapping of guard settings", "")
    section = next((name for name in SECTIONS if getattr(policy, name) is not None), None)
    order = policy.overrides.get("guard_order")
    secondary = policy.secondary is not None
    return resolve_policy(
        policy.tier, policy.profile, gate, guards, order, section, secondary_gate=secondary, evidence=policy.evidence
    )


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
