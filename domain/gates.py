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


def _guard_flag(guards: dict[str, dict[str, Any]], name: str) -> tuple[bool, str]:
    section = guards.get(name)
    if section is None:
        return False, f"guard {name} was not evaluated"
    verdict = section.get("verdict")
    if section.get("mode") == "monitor":
        return True, ""
    return verdict == "pass", f"guard {name} verdict {verdict}"


def evaluate(
    pm: c.PrimaryMetric,
    pairing: c.PairingSection,
    guards: dict[str, dict[str, Any]],
    baseline: c.ModelSection,
    subject: c.ModelSection,
    policy: Policy,
) -> tuple[dict[str, c.Flag], c.VerdictSection]:
    """Every validation flag and the verdict; PASS iff every applicable flag holds."""
    checks: dict[str, tuple[bool, str]] = {
        "primary_metric_acceptable": _primary(pm, policy),
        "preview_final_drift_acceptable": _drift(pm, policy),
        "pairing_ok": _pairing(pairing, baseline, subject),
        "invariants_pass": _guard_flag(guards, "invariants"),
    }
    catastrophe = _catastrophe(pm, policy)
    flags: dict[str, c.Flag] = {name: ok for name, (ok, _) in checks.items()}
    flags["catastrophe"] = catastrophe
    flags["guard_overhead_acceptable"] = "not_applicable"
    failed = [c.FailedFlag(flag=n, reason=why) for n, (ok, why) in checks.items() if not ok]
    if catastrophe:
        reason = f"preview ratio {pm.preview.ratio:.4f} > catastrophe ratio {policy.gates.catastrophe_ratio}"
        failed.insert(0, c.FailedFlag(flag="catastrophe", reason=reason))
    return flags, c.VerdictSection(status="FAIL" if failed else "PASS", failed=failed)
