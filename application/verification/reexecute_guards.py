"""The audit's guard step: re-measure every matrix (and variance tap) each guard recorded, on the subject as it
was when that guard ran (after the repairs of the guards before it), check that the certificate lists exactly the
models' matrices, and run the invariants checks again. Every row, whatever the recipient's window sample: one row
decides a guard's verdict, and a sample of 16 of 211 matrices let a forged FAIL pass 92 % of the time (the guard
forgery hunt); measuring them costs what the run's guard chain cost, a few percent of scoring."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import partial

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.guards import chain, invariants, rmt, spectral
from invarlock.domain.guards import sections as gs
from invarlock.domain.guards.rmt_records import RmtMatrix
from invarlock.domain.guards.spectral_records import SpectralMatrix
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.policy import Policy
from invarlock.ports.model import NamedMatrix

from ..certification.guard_chain import measure_each, measure_matrix
from ..certification.plugin_guard import loaded_guard, measured_by, weights_unchanged
from ..certification.recorded_baseline import MatrixSummary, same_values
from .reexecute_answers import AuditedBaseline
from .reexecute_baseline import rows_by_name
from .reexecute_inputs import AuditContext, Finding, Tally
from .reexecute_rows import base_matrices, compare, mismatch, unmapped
from .reexecute_variance import variance_rows

_RECORDS = {"spectral": spectral.measurement, "rmt": rmt.measurement}


def repairs_before(cert: c.Certificate, order: Sequence[str], position: int) -> dict[str, float]:
    """Cumulative weight scales the guards before `position` in the chain applied to the subject."""
    repairs: dict[str, float] = {}
    for name in order[:position]:
        section = cert.guards.of(name)
        if section is not None:
            repairs = chain.compose(repairs, gs.repairs_of(section))
    return repairs


def guard_findings(audit: AuditContext) -> tuple[list[Finding], int]:
    """One finding per guard of the certificate, and how many matrices and taps were re-measured.
    The subject ends with every recorded repair applied (as it was scored)."""
    order = list(audit.policy.guard_order)
    findings = []
    checked = 0
    phases, structural = iter(("pre", "post")), Tally()
    for position, name in enumerate(order):
        section = audit.cert.guards.of(name)
        if section is None:
            continue
        repairs = repairs_before(audit.cert, order, position)
        audit.models["subject"].scale_weights(repairs)
        if isinstance(section, gs.InvariantsSection):
            _invariants(audit, section, next(phases, "post"), structural)
            if name not in order[position + 1 :]:  # one finding for both phases, after the second
                findings.append(_finding(name, structural))
            continue
        tally = Tally()
        if isinstance(section, gs.PluginSection):
            _plugin(audit, name, section, tally)
        elif isinstance(section, gs.VarianceSection):
            variance_rows(audit, section.measurements, repairs, tally)
        else:
            _matrices(audit, name, section.measurements.matrices, repairs, tally)
        findings.append(_finding(name, tally))
        checked += tally.checked
    audit.models["subject"].scale_weights(repairs_before(audit.cert, order, len(order)))
    return findings, checked


def _finding(name: str, tally: Tally) -> Finding:
    if tally.mismatches:
        shown = "; ".join(tally.mismatches[:5])
        return f"reexec:guard:{name}", False, f"{len(tally.mismatches)} of {tally.checked} differ: {shown}"
    if name == "variance" and not tally.checked:
        return f"reexec:guard:{name}", True, "the guard measured no tap (no target), nothing to re-measure"
    if name == "invariants":
        return f"reexec:guard:{name}", tally.checked > 0, f"{tally.checked} checks run again, all as recorded"
    what = "taps" if name == "variance" else "matrices"
    detail = f"{tally.checked} {what} re-measured, largest relative difference {tally.max_rel_diff:.3g}"
    return f"reexec:guard:{name}", tally.checked > 0, detail


def _matrices(
    audit: AuditContext,
    guard: str,
    recorded: Sequence[SpectralMatrix | RmtMatrix],
    repairs: dict[str, float],
    tally: Tally,
) -> None:
    wanted = rows_by_name(recorded)
    subject = audit.models["subject"]
    skip = unmapped(audit).keys() | subject.unmapped().keys()  # not measured: pair the rest as certify does
    base_all = (m for m in base_matrices(audit) if m.name not in skip)
    subj_all = (m for m in subject.matrices() if m.name not in skip)
    listed = {row.name for row in recorded}
    unlisted: list[str] = []  # the models' matrices the certificate does not list: a dropped row hides its verdict

    def found() -> Iterator[tuple[NamedMatrix | MatrixSummary, NamedMatrix, SpectralMatrix | RmtMatrix]]:
        for b, s in zip(base_all, subj_all, strict=False):
            if b.name not in listed:
                unlisted.append(b.name)
            if b.name in wanted:
                yield b, s, wanted.pop(b.name)

    cache = dict(audit.measured)
    jobs = ((base, subj, stated, (base.name, repairs.get(base.name, 1.0))) for base, subj, stated in found())
    job = partial(_job, audit.policy, cache, audit.baseline)
    for (name, family), stated, key, measures in measure_each(audit.pool, job, jobs):
        audit.measured[key] = measures
        recomputed = _RECORDS[guard](name, family, *measures)
        compare(audit, guard, name, msgspec.to_builtins(stated), msgspec.to_builtins(recomputed), tally)
    for name in wanted:  # recorded, but the models have no such matrix (a made-up row feeds the family statistics)
        mismatch(audit, guard, name, "the models have no such matrix", tally)
    for name in unlisted:
        mismatch(audit, guard, name, "the models have this matrix and the certificate does not list it", tally)


def _invariants(audit: AuditContext, section: gs.InvariantsSection, phase: str, tally: Tally) -> None:
    """The phase's checks run again on the audit's models' censuses, compared name for name."""
    recorded = section.phases.get(phase)
    limit = audit.policy.guards.invariants.report_limit
    released = audit.baseline
    base = released.read(released.census) if released is not None else audit.models["baseline"].census()
    subj = audit.models["subject"].census()
    if phase == "pre":
        again = invariants.health_checks(base, "baseline", limit=limit) + invariants.health_checks(
            subj, "subject", limit=limit
        )
    else:
        again = invariants.comparison_checks(base, subj, dtype_change_declared=False, limit=limit)
    if recorded is None:
        mismatch(audit, "invariants", phase, "the certificate has no such phase", tally)
        return
    stated = {check.name: check for check in recorded.checks}
    for check in again:
        if check.name not in stated:
            mismatch(audit, "invariants", f"{phase}.{check.name}", "the certificate does not list this check", tally)
            continue
        name, left = f"{phase}.{check.name}", msgspec.to_builtins(stated.pop(check.name))
        compare(audit, "invariants", name, left, msgspec.to_builtins(check), tally)
    for name in stated:
        mismatch(audit, "invariants", f"{phase}.{name}", "the guard records no such check", tally)


MeasureJob = tuple[NamedMatrix | MatrixSummary, NamedMatrix, SpectralMatrix | RmtMatrix, tuple[str, float]]


def _job(
    policy: Policy,
    cache: Mapping[tuple[str, float], tuple[MatrixMeasure, MatrixMeasure]],
    released: AuditedBaseline | None,
    job: MeasureJob,
) -> tuple[tuple[str, str], SpectralMatrix | RmtMatrix, tuple[str, float], tuple[MatrixMeasure, MatrixMeasure]]:
    """Both sides' measurement, once per matrix and subject scale (spectral and RMT share it, as in certify);
    the arrays are not returned, so a full sample does not hold every matrix until the last is measured. A
    baseline matrix summarised (`released`) was measured before the baseline was released."""
    base, subj, stated, key = job
    measures = cache.get(key)
    if measures is None:
        if isinstance(base, MatrixSummary):
            assert released is not None, "a summary is of a released baseline"
            m_b = released.measures[base.name]
        else:
            m_b = measure_matrix(base.array, policy)
        measures = (m_b, m_b if same_values(base, subj) else measure_matrix(subj.array, policy))
    return (base.name, base.family), stated, key, measures


def _plugin(audit: AuditContext, name: str, section: gs.PluginSection, tally: Tally) -> None:
    """Every matrix of the plugin guard measured again by the plugin on the audit's models."""
    recorded = section.measurements.matrices
    models = audit.models
    with weights_unchanged(name, models["baseline"], models["subject"]):  # the audit scores these models next
        again = measured_by(loaded_guard(name), models["baseline"], models["subject"], audit.pool).as_mapping()
    for row in recorded:
        if row.name not in again:
            mismatch(audit, name, row.name, "the plugin no longer measures this matrix", tally)
        else:
            compare(audit, name, row.name, dict(row.values), again[row.name], tally)
