"""Validation flags and the verdict (STATISTICS.md §4). Missing values fail; they never pass."""

from __future__ import annotations

from typing import Any

from . import certificate as c
from .policy import Policy


def _primary(pm: c.PrimaryMetric, policy: Policy) -> tuple[bool, str]:
    if pm.display_ci is None or pm.final is None:
        return False, "final arm not scored: no interval to gate on"
    limit = policy.gates.ratio_limit
    if pm.display_ci[1] > limit:
        return False, f"upper CI of the ratio {pm.display_ci[1]:.4f} exceeds the {policy.tier} limit {limit}"
    if policy.enforce_floors and pm.final.tokens < policy.gates.min_final_tokens:
        return False, f"{pm.final.tokens} final-arm tokens < floor {policy.gates.min_final_tokens}"
    return True, ""


def _drift(pm: c.PrimaryMetric, policy: Policy) -> tuple[bool, str]:
    if pm.drift is None:
        return False, "final arm not scored: drift unknown"
    lo, hi = policy.gates.drift_min, policy.gates.drift_max
    return (lo <= pm.drift <= hi), f"drift {pm.drift:.4f} outside [{lo}, {hi}]"


def _pairing(p: c.PairingSection, base: c.ModelSection, subj: c.ModelSection) -> tuple[bool, str]:
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


def _named(section: dict[str, Any]) -> str:
    names = [str(v.get("name")) for v in section.get("violations", [])[:3] if isinstance(v, dict)]
    return f" ({', '.join(names)})" if names else ""


def _guard_flag(guards: dict[str, dict[str, Any]], name: str, order: list[str]) -> tuple[c.Flag, str]:
    """A guard's flag: its verdict; `not_applicable` only when the run's guard order left it out."""
    section = guards.get(name)
    if section is None:
        return (False, f"guard {name} was not evaluated") if name in order else ("not_applicable", "")
    verdict = section.get("verdict")
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
    guards: dict[str, dict[str, Any]],
    baseline: c.ModelSection,
    subject: c.ModelSection,
    policy: Policy,
    *,
    order: list[str],
    overhead: c.GuardOverhead | None,
) -> tuple[dict[str, c.Flag], c.VerdictSection]:
    """Every validation flag and the verdict; PASS iff every applicable flag holds. A guard in `monitor`
    mode (under `policy`) reports its flag but cannot fail the verdict."""
    checks: dict[str, tuple[c.Flag, str]] = {
        "primary_metric_acceptable": _primary(pm, policy),
        "preview_final_drift_acceptable": _drift(pm, policy),
        "pairing_ok": _pairing(pairing, baseline, subject),
    }
    monitored = set()
    for guard, flag in GUARD_FLAGS.items():
        checks[flag] = _guard_flag(guards, guard, order)
        if policy.guards[guard]["mode"] == "monitor":
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
