"""verify's guard checks: outcomes re-derived from recorded measurements, the chain order, the guard overhead."""

from __future__ import annotations

from collections import Counter

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError
from invarlock.domain.guards import chain, invariants
from invarlock.domain.guards import section_checks as sc
from invarlock.domain.guards import sections as gs
from invarlock.domain.guards.applicability import applicability_problem
from invarlock.domain.guards.results import Outcome
from invarlock.domain.guards.rmt_records import RmtMeasurements
from invarlock.domain.guards.variance_records import VarianceMeasurements
from invarlock.domain.metrics import metric_for
from invarlock.domain.metrics.answers import checked_overhead
from invarlock.domain.policy import Policy, order_shape_problem

from .verify_fields import window_tokens
from .verify_plugin_guards import check as check_plugin
from .verify_plugin_guards import rederived as rederived_plugin
from .verify_report import VerifyReport, compare, diff

# What re-deriving an outcome can raise on recorded values that decode but make no sense (a tap over zero
# values, a family outside attn|embed|ffn|other, A/B lists of unequal length).
_UNDERIVABLE = (InvarlockError, ValueError, ArithmeticError)


def _derived(cert: c.Certificate, section: gs.MeasuredSection, policy: Policy) -> Outcome:
    """A measured guard's outcome re-derived from its recorded measurements under `policy`."""
    return chain.derive(
        section.measurements, policy, seed=cert.bootstrap.seed, plan_digest=cert.dataset.window_plan_digest
    )


def rederived_sections(cert: c.Certificate, policy: Policy) -> gs.GuardSections:
    """Every guard section with its outcome (verdict included) re-derived under `policy` (a plugin guard's by
    its plugin's `decide`: InvarlockError E222 when it is not installed)."""
    out: dict[str, gs.MeasuredSection] = {}
    plugins: dict[str, gs.PluginSection] = {}
    for name, section in cert.guards.items():
        if isinstance(section, gs.PluginSection):
            plugins[name] = rederived_plugin(name, section, policy)
        elif not isinstance(section, gs.InvariantsSection):
            result = gs.result_of_section(section, _derived(cert, section, policy))
            out[name] = gs.measured_section(result, mode=policy.guards.mode_of(name), seconds=section.seconds)
    return msgspec.structs.replace(cert.guards, **out, plugins=plugins or None)


def _measured_guard(
    cert: c.Certificate, name: str, section: gs.MeasuredSection, policy: Policy, report: VerifyReport
) -> None:
    rows = _rows(cert, section, policy)  # first: a forged row list is named as such, not as the outcome it changes
    if rows is not None:
        report.add(f"guard:{name}", False, rows)
        return
    try:
        derived = _derived(cert, section, policy)
    except _UNDERIVABLE as exc:
        report.add(f"guard:{name}", False, f"measurements cannot be re-derived: {exc}")
        return
    stated = gs.outcome_of(section)
    where = diff(msgspec.to_builtins(stated), msgspec.to_builtins(derived), f"guards.{name}")
    mode_ok = section.mode == policy.guards.mode_of(name)
    problem = None if where is None and mode_ok else f"guard outcome altered at {where or 'mode'}"
    problem = problem or _applicability(cert, section) or _same_matrices(cert, section)
    report.add(f"guard:{name}", problem is None, problem or "outcome re-derived from recorded measurements")


def _rows(cert: c.Certificate, section: gs.MeasuredSection, policy: Policy) -> str | None:
    m = section.measurements
    problem = sc.rows_problem(m)
    if problem is None and isinstance(m, VarianceMeasurements):
        try:
            tokens = window_tokens(cert)[0]
        except InvarlockError as exc:
            return f"the A/B tokens cannot be checked: {exc}"
        problem = sc.ab_problem(m, tokens) or sc.repair_digest_problem(m)
    if problem is None and isinstance(m, RmtMeasurements):
        problem = sc.rmt_sides_problem(m, policy.guards.rmt.outlier_tw_quantile)
    return problem


def _same_matrices(cert: c.Certificate, section: gs.MeasuredSection) -> str | None:
    spectral, rmt = cert.guards.spectral, cert.guards.rmt
    if spectral is None or rmt is None or not isinstance(section, (gs.SpectralSection, gs.RmtSection)):
        return None
    return sc.same_matrices_problem(spectral.measurements, rmt.measurements)


def _applicability(cert: c.Certificate, section: gs.MeasuredSection) -> str | None:
    """Why the section's not_applicable rows or measured names disagree with the models' unmapped weights."""
    m = section.measurements
    names = [t.weight for t in m.taps] if isinstance(m, VarianceMeasurements) else [x.name for x in m.matrices]
    unmapped_b, unmapped_s = cert.baseline.unmapped or {}, cert.subject.unmapped or {}
    return applicability_problem(m.not_applicable, names, unmapped_b, unmapped_s)


def guard_order(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """The guard sections are exactly the guards of the policy's order, and invariants ran in both its phases."""
    sections, order = cert.guards.names(), set(policy.guard_order)
    problems = [f"guard {g} is in the order but has no section" for g in sorted(order - sections)]
    problems += [f"guard {g} has a section but is not in the order" for g in sorted(sections - order)]
    shape = order_shape_problem(policy.guard_order)  # the order a run refuses (E201), stated by a certificate
    if shape is not None:
        problems.insert(0, f"guard order {list(policy.guard_order)}: a run's guards.order {shape}")
    inv = cert.guards.invariants
    want = {"pre", "post"} if Counter(policy.guard_order)["invariants"] == 2 else None
    if want is not None and (inv is None or set(inv.phases) != want):
        problems.append("invariants did not record both its pre and post phases")
    ok = not problems
    report.add("guard_order", ok, f"ran {', '.join(policy.guard_order)}" if ok else problems[0])


def guards(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """Every guard section's verdict or outcome re-derived from what it recorded."""
    for name, section in cert.guards.items():
        if isinstance(section, gs.PluginSection):
            check_plugin(cert, name, section, policy, report)
            continue
        if not isinstance(section, gs.InvariantsSection):
            _measured_guard(cert, name, section, policy, report)
            continue
        _invariants(name, section, policy, report)


def _invariants(name: str, section: gs.InvariantsSection, policy: Policy, report: VerifyReport) -> None:
    phases = section.phases.values()
    derived = [invariants.verdict_of(p.checks) for p in phases]
    stated = [p.verdict for p in phases]
    overall = "fail" if "fail" in stated else "pass"
    problems = [
        invariants.checks_problem(phase, p.checks, limit=policy.guards.invariants.report_limit)
        for phase, p in section.phases.items()
    ]
    problem = next((p for p in problems if p is not None), None)
    if derived != stated or section.verdict != overall:
        problem = "guard verdict altered"
    elif section.mode != policy.guards.mode_of(name):
        problem = f"mode {section.mode} is not the policy's {policy.guards.mode_of(name)}"
    report.add(f"guard:{name}", problem is None, problem or "verdicts re-derived from recorded checks")


def overhead(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """guard_overhead recomputed from the bare final-arm NLLs when a guard repaired the subject."""
    stated, final = cert.guard_overhead, cert.evidence.final
    repaired = sorted({n for _, s in cert.guards.items() for n in gs.repairs_of(s)})
    if stated is None or final is None:
        ok = stated is None and (not repaired or final is None)
        report.add("guard_overhead", ok, "no repair, nothing to measure" if ok else "repairs without overhead")
        return
    try:
        metric, limit = metric_for(cert.primary_metric.kind), policy.gates.guard_overhead_limit
        found = metric.overhead(final, stated.bare_subject_nll, repaired, limit)
        recomputed = checked_overhead(
            metric.kind, found, bare_subject=stated.bare_subject_nll, repaired=repaired, limit=limit
        )
    except (InvarlockError, ArithmeticError) as exc:
        report.add("guard_overhead", False, f"cannot be recomputed: {exc}")
        return
    compare(report, "guard_overhead", stated, recomputed)
