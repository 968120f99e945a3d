"""Validation flags and the verdict (docs/reference/statistics.md §5). Missing values fail; they never pass."""

from __future__ import annotations

from . import certificate as c
from .guards.sections import GuardSections, MeasuredSection, Section
from .model import ModelIdentity
from .policy import Policy


def _primary(pm: c.PrimaryMetric, policy: Policy) -> tuple[bool, str]:
    if pm.display_ci is None or pm.final is None:
        return False, "final arm not scored: no interval to gate on"
    limit = policy.gates.ratio_limit
    if pm.display_ci[1] > limit:
        return False, f"upper CI of the ratio {pm.display_ci[1]:.4f} exceeds the {policy.tier} limit {limit}"
    return True, ""


def _floors(pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
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


def _pairing(p: c.PairingSection, base: ModelIdentity, subj: ModelIdentity) -> tuple[bool, str]:
    if base.tokenizer_sha256 != subj.tokenizer_sha256:
        return False, "tokenizer digests differ"
    ok = p.match_fraction == 1.0 and p.overlap_fraction == 0.0 and p.reason is None
    return ok, f"match {p.match_fraction}, overlap {p.overlap_fraction}, reason {p.reason}"


def _catastrophe(pm: c.PrimaryMetric, policy: Policy) -> bool:
    return pm.preview.ratio > policy.gates.catastrophe_ratio


GUARD_FLAGS = {
    "invariants": "invariants_pass",
    "spectral": "spectral_stable",
    "rmt": "rmt_stable",
    "variance": "variance_ok",
}


def _named(section: Section) -> str:
    violations = section.violations[:3] if isinstance(section, MeasuredSection) else []
    return f" ({', '.join(v.name for v in violations)})" if violations else ""


def _guard_flag(guards: GuardSections, name: str, policy: Policy) -> tuple[c.Flag, str]:
    """A guard's flag: its verdict. A guard that did not run fails when the policy gates it or its guard
    order names it; it is `not_applicable` only when neither holds (a monitored guard left out)."""
    section = guards.of(name)
    if section is None:
        if name in policy.required_guards:
            return False, f"guard {name} is gated at tier {policy.tier} but did not run"
        if name in policy.guard_order:
            return False, f"guard {name} is in the guard order but was not evaluated"
        return "not_applicable", ""
    verdict = section.verdict
    return verdict == "pass", f"guard {name} verdict {verdict}{_named(section)}"


def _overhead(overhead: c.GuardOverhead | None, policy: Policy) -> tuple[c.Flag, str]:
    if overhead is None:
        return "not_applicable", ""
    limit = policy.gates.guard_overhead_limit
    ok = overhead.ratio <= limit
    return ok, f"PM guarded / bare {overhead.ratio:.6f} > {limit}"


def evaluate(
    pm: c.PrimaryMetric,
    pairing: c.PairingSection,
    guards: GuardSections,
    baseline: ModelIdentity,
    subject: ModelIdentity,
    policy: Policy,
    *,
    overhead: c.GuardOverhead | None,
) -> tuple[dict[str, c.Flag], c.VerdictSection]:
    """Every validation flag and the verdict; PASS iff every applicable flag holds. A guard in `monitor`
    mode (under `policy`) reports its flag but cannot fail the verdict; a guard the policy gates that did
    not run fails it."""
    checks: dict[str, tuple[c.Flag, str]] = {
        "primary_metric_acceptable": _primary(pm, policy),
        **_floors(pm, policy),
        "preview_final_drift_acceptable": _drift(pm, policy),
        "pairing_ok": _pairing(pairing, baseline, subject),
    }
    monitored = set()
    for guard, flag in GUARD_FLAGS.items():
        checks[flag] = _guard_flag(guards, guard, policy)
        if policy.guards.mode_of(guard) == "monitor":
            monitored.add(flag)
    checks["guard_overhead_acceptable"] = _overhead(overhead, policy)
    catastrophe = _catastrophe(pm, policy)
    flags: dict[str, c.Flag] = {name: ok for name, (ok, _) in checks.items()}
    flags["catastrophe"] = catastrophe
    failed = [c.FailedFlag(flag=n, reason=why) for n, (ok, why) in checks.items() if ok is False and n not in monitored]
    if catastrophe:
        reason = f"preview ratio {pm.preview.ratio:.4f} > catastrophe ratio {policy.gates.catastrophe_ratio}"
        failed.insert(0, c.FailedFlag(flag="catastrophe", reason=reason))
    return flags, c.VerdictSection(status="FAIL" if failed else "PASS", failed=failed)
