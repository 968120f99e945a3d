"""The audit's guard step: re-measure every matrix (and variance tap) each guard recorded, on the subject as it
was when that guard ran (after the repairs of the guards before it), check that the certificate lists exactly the
models' matrices, and run the invariants checks again. Every row, whatever the recipient's window sample: one row
decides a guard's verdict, and a sample of 16 of 211 matrices let a forged FAIL pass 92 % of the time (the guard
forgery hunt); measuring them costs what the run's guard chain cost, a few percent of scoring."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import partial

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.guards import chain, invariants, rmt, spectral, variance
from invarlock.domain.guards import sections as gs
from invarlock.domain.guards.rmt_records import RmtMatrix
from invarlock.domain.guards.spectral_records import SpectralMatrix
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.guards.variance_records import VarianceMeasurements
from invarlock.domain.policy import Policy
from invarlock.domain.reexecution import compare_tree
from invarlock.domain.windows import TokenWindow, token_windows
from invarlock.ports.model import NamedMatrix

from ..certification.guard_chain import measure_each, measure_matrix
from ..certification.plugin_guard import loaded_guard, measured_by
from ..certification.recorded_baseline import MatrixSummary, same_values
from ..certification.variance_guard import taps_only
from ..certification.weight_checks import checked_stats
from .reexecute_answers import AuditedBaseline
from .reexecute_baseline import rows_by_name
from .reexecute_inputs import AuditContext, Finding, Tally

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
            _variance(audit, section.measurements, repairs, tally)
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
    skip = _unmapped(audit).keys() | subject.unmapped().keys()  # not measured: pair the rest as certify does
    base_all = (m for m in _base_matrices(audit) if m.name not in skip)
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
        _compare(audit, guard, name, msgspec.to_builtins(stated), msgspec.to_builtins(recomputed), tally)
    for name in wanted:  # recorded, but the models have no such matrix (a made-up row feeds the family statistics)
        _mismatch(audit, guard, name, "the models have no such matrix", tally)
    for name in unlisted:
        _mismatch(audit, guard, name, "the models have this matrix and the certificate does not list it", tally)


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
        _mismatch(audit, "invariants", phase, "the certificate has no such phase", tally)
        return
    stated = {check.name: check for check in recorded.checks}
    for check in again:
        if check.name not in stated:
            _mismatch(audit, "invariants", f"{phase}.{check.name}", "the certificate does not list this check", tally)
            continue
        name, left = f"{phase}.{check.name}", msgspec.to_builtins(stated.pop(check.name))
        _compare(audit, "invariants", name, left, msgspec.to_builtins(check), tally)
    for name in stated:
        _mismatch(audit, "invariants", f"{phase}.{name}", "the guard records no such check", tally)


def _unmapped(audit: AuditContext) -> Mapping[str, str]:
    released = audit.baseline
    return released.read(released.unmapped) if released is not None else audit.models["baseline"].unmapped()


def _base_matrices(audit: AuditContext) -> Iterable[NamedMatrix | MatrixSummary]:
    released = audit.baseline
    return released.read(released.matrices) if released is not None else audit.models["baseline"].matrices()


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
    again = measured_by(loaded_guard(name), models["baseline"], models["subject"], audit.pool).as_mapping()
    for row in recorded:
        if row.name not in again:
            _mismatch(audit, name, row.name, "the plugin no longer measures this matrix", tally)
        else:
            _compare(audit, name, row.name, dict(row.values), again[row.name], tally)


def _variance(audit: AuditContext, measurements: VarianceMeasurements, repairs: dict[str, float], tally: Tally) -> None:
    taps = measurements.taps
    listed = [tap.weight for tap in taps]
    expected = _expected_taps(audit, measurements.targets)
    for name in (n for n in expected if n not in set(listed)):  # a dropped tap hides its violation
        _mismatch(
            audit, "variance", name, f"the models have this tap ({measurements.targets}) and it is not listed", tally
        )
    for name in (n for n in listed if n not in set(expected)):
        _mismatch(audit, "variance", name, f"not a tap of the models under targets {measurements.targets}", tally)
    if not taps:
        return
    weights = [tap.weight for tap in taps]
    ids = measurements.calibration.window_ids
    windows = token_windows(ids, audit.rows, seed=audit.cert.bootstrap.seed)
    run = audit.cert.provenance.config, audit.cert.provenance.environment  # which adapter (plugin) tapped
    if audit.baseline is not None:
        base = audit.baseline.read(audit.baseline.taps)
    else:
        base = checked_stats(run, "baseline", taps_only(audit.models["baseline"], windows, weights), weights)
    subj = checked_stats(run, "subject", taps_only(audit.models["subject"], windows, weights), weights)
    for tap in taps:
        stated = {"baseline": tap.baseline, "subject": tap.subject}
        recomputed = {"baseline": base[tap.weight], "subject": subj[tap.weight]}
        _compare(audit, "variance", tap.weight, msgspec.to_builtins(stated), msgspec.to_builtins(recomputed), tally)
    if measurements.ab is not None:
        _repaired(audit, measurements, windows, repairs, tally)


def _repaired(
    audit: AuditContext,
    measurements: VarianceMeasurements,
    windows: Sequence[TokenWindow],
    repairs: dict[str, float],
    tally: Tally,
) -> None:
    """The A/B pass again: the subject with the scales VE proposed from the stated (just re-measured) taps, its
    taps (`repaired`, which decide the verdict once VE is enabled) and the weights' digest with those scales.
    The taps alone were re-measured before, so `repaired` could say anything (the guard forgery hunt)."""
    subject = audit.models["subject"]
    scales = variance.proposals(measurements.taps, audit.policy.guards.variance)
    weights = [tap.weight for tap in measurements.taps]
    run = audit.cert.provenance.config, audit.cert.provenance.environment
    subject.scale_weights(chain.compose(repairs, scales))
    try:
        found = checked_stats(run, "subject", taps_only(subject, windows, weights), weights)
        digest = subject.identity().weights_sha256
    finally:
        subject.scale_weights(repairs)
    for tap in measurements.taps:
        stated = msgspec.to_builtins(tap.repaired) if tap.repaired is not None else None
        _compare(audit, "variance", f"{tap.weight} (repaired)", stated, msgspec.to_builtins(found[tap.weight]), tally)
    if digest != measurements.repaired_weights_sha256:
        _mismatch(audit, "variance", "repaired_weights_sha256", "the subject with VE's scales has other weights", tally)


def _expected_taps(audit: AuditContext, targets: str) -> list[str]:
    """The taps certify's variance guard takes of these models: every FFN tap the adapter offers (`all_ffn`), or
    those whose matrix the subject changed (`changed`; after the repairs of the guards before it, as certify
    compares them), without the weights either adapter cannot map."""
    subject = audit.models["subject"]
    skip = _unmapped(audit).keys() | subject.unmapped().keys()
    taps = [name for name in subject.variance_taps() if name not in skip]
    if targets == "all_ffn":
        return taps
    wanted = set(taps)
    base_all = (m for m in _base_matrices(audit) if m.name in wanted)
    subj_all = (m for m in subject.matrices() if m.name in wanted)
    changed = {b.name for b, s in zip(base_all, subj_all, strict=False) if not same_values(b, s)}
    return [name for name in taps if name in changed]


def _compare(audit: AuditContext, guard: str, name: str, stated: object, recomputed: object, tally: Tally) -> None:
    # Variance taps come from forward passes; matrix measurements (spectral, RMT, plugins) from BLAS/LAPACK;
    # invariants checks are names and counts.
    exact = audit.exact if guard == "variance" else guard == "invariants" or audit.exact_matrices
    where, diff = compare_tree(stated, recomputed, exact=exact, rel_tol=audit.rel_tol)
    tally.checked += 1
    tally.max_rel_diff = max(tally.max_rel_diff, diff)
    if where is not None:
        tally.mismatches.append(f"{name} at {where.lstrip('.') or 'the record'} (relative difference {diff:.3g})")
    audit.record(
        ev.MatrixRechecked(guard=guard, name=name, max_rel_diff=_finite(diff), ok=where is None, mismatch=where)
    )


def _mismatch(audit: AuditContext, guard: str, name: str, why: str, tally: Tally) -> None:
    tally.checked += 1
    tally.mismatches.append(f"{name}: {why}")
    audit.record(ev.MatrixRechecked(guard=guard, name=name, max_rel_diff=0.0, ok=False, mismatch=why))


def _finite(value: float) -> float:
    return value if value != float("inf") else 1.0
