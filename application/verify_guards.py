"""verify's guard checks: outcomes re-derived from recorded measurements, the chain order, the guard overhead."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
from invarlock.domain import analysis
from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError
from invarlock.domain.guards import chain, invariants
from invarlock.domain.policy import Policy

from .verify_report import MALFORMED, VerifyReport, compare, diff


def _derived(cert: c.Certificate, name: str, section: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """A measured guard's outcome re-derived from its recorded measurements under `policy`."""
    return chain.derive(
        name,
        section.get("measurements", {}),
        policy,
        seed=cert.bootstrap.seed,
        plan_digest=cert.dataset.window_plan_digest,
    )


def rederived_sections(cert: c.Certificate, policy: Policy) -> dict[str, dict[str, Any]]:
    """Every guard section with its outcome (verdict included) re-derived under `policy`."""
    out = {}
    for name, section in cert.guards.items():
        if name in chain.MEASURED_GUARDS:
            section = {**section, **_derived(cert, name, section, policy), "mode": policy.guards.mode_of(name)}
        out[name] = section
    return out


def _measured_guard(
    cert: c.Certificate, name: str, section: dict[str, Any], policy: Policy, report: VerifyReport
) -> None:
    try:
        derived = _derived(cert, name, section, policy)
    except (InvarlockError, *MALFORMED) as exc:
        report.add(f"guard:{name}", False, f"measurements cannot be re-derived: {exc}")
        return
    stated = {key: section.get(key) for key in derived}
    where = diff(msgspec.to_builtins(stated), msgspec.to_builtins(derived), f"guards.{name}")
    mode_ok = section.get("mode") == policy.guards.mode_of(name)
    ok = where is None and mode_ok
    detail = "outcome re-derived from recorded measurements" if ok else f"guard outcome altered at {where or 'mode'}"
    report.add(f"guard:{name}", ok, detail)


def guard_order(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """The guard sections are exactly the guards of the policy's order, and invariants ran in both its phases."""
    sections, order = set(cert.guards), set(policy.guard_order)
    problems = [f"guard {g} is in the order but has no section" for g in sorted(order - sections)]
    problems += [f"guard {g} has a section but is not in the order" for g in sorted(sections - order)]
    inv = cert.guards.get("invariants")
    phases = inv.get("phases") if isinstance(inv, dict) else None
    want = {"pre", "post"} if Counter(policy.guard_order)["invariants"] == 2 else None
    if want is not None and (not isinstance(phases, dict) or set(phases) != want):
        problems.append("invariants did not record both its pre and post phases")
    ok = not problems
    report.add("guard_order", ok, f"ran {', '.join(policy.guard_order)}" if ok else problems[0])


def guards(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """Every guard section's verdict or outcome re-derived from what it recorded."""
    for name, section in cert.guards.items():
        if name in chain.MEASURED_GUARDS:
            _measured_guard(cert, name, section, policy, report)
            continue
        phases = section.get("phases", {})
        derived = [invariants.verdict_of(p.get("checks", [])) for p in phases.values()] if name == "invariants" else []
        stated = [p.get("verdict") for p in phases.values()]
        overall = "fail" if "fail" in stated else "pass"
        ok = name == "invariants" and derived == stated and section.get("verdict") == overall
        report.add(f"guard:{name}", ok, "verdicts re-derived from recorded checks" if ok else "guard verdict altered")


def overhead(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """guard_overhead recomputed from the bare final-arm NLLs when a guard repaired the subject."""
    stated, final = cert.guard_overhead, cert.evidence.final
    repaired = sorted({n for g, s in cert.guards.items() for n in chain.repairs_of(g, s)})
    if stated is None or final is None:
        ok = stated is None and (not repaired or final is None)
        report.add("guard_overhead", ok, "no repair, nothing to measure" if ok else "repairs without overhead")
        return
    try:
        recomputed = analysis.guard_overhead(
            final, stated.bare_subject_nll, repaired, policy.gates.guard_overhead_limit
        )
    except (InvarlockError, ArithmeticError) as exc:
        report.add("guard_overhead", False, f"cannot be recomputed: {exc}")
        return
    compare(report, "guard_overhead", stated, recomputed)
