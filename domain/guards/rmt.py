"""RMT guard: Marchenko–Pastur edge ratio and outlier count, subject vs baseline (docs/assurance/guards.md §3)."""

from __future__ import annotations

import math

from .rmt_records import RmtFamily, RmtJudgement, RmtMatrix, RmtMeasurements, RmtOutcome, RmtReason, RmtSide, RmtSummary
from .robust import top_by
from .settings import RmtSettings
from .spectrum import MatrixMeasure


def _side(m: MatrixMeasure) -> RmtSide:
    return RmtSide(
        bulk_scale=m.bulk_scale, edge=m.edge, outlier_threshold=m.outlier_threshold, sigma=m.sigma, outliers=m.outliers
    )


def measurement(name: str, family: str, base: MatrixMeasure, subj: MatrixMeasure) -> RmtMatrix:
    """The per-matrix record the guard decides on: both sides' bulk scale, edge, σ_max and outlier count."""
    return RmtMatrix(
        name=name,
        family=family,
        rows=base.rows,
        cols=base.cols,
        method=(f"{base.scale_method}/{base.spectrum_method}", f"{subj.scale_method}/{subj.spectrum_method}"),
        baseline=_side(base),
        subject=_side(subj),
    )


def _log_edge_ratio(e_b: float | None, e_s: float | None) -> float | None:
    # Two all-zero matrices have the same (empty) spectrum; one zero side against a non-zero one is no ratio.
    if e_b is None or e_s is None:
        return 0.0 if e_b is None and e_s is None else None
    return 0.0 if e_b == e_s else math.log(e_s / e_b)


def _judge(row: RmtMatrix, settings: RmtSettings) -> RmtJudgement:
    eps = settings.epsilon.of(row.family)
    log_e = _log_edge_ratio(row.baseline.edge_ratio, row.subject.edge_ratio)
    k_b, k_s = row.baseline.outliers, row.subject.outliers
    k_allowed = max(settings.k_floor, math.ceil(eps * k_b))
    reasons: list[RmtReason] = []
    if log_e is None or abs(log_e) > eps:
        reasons.append("edge_ratio")
    if abs(k_s - k_b) > k_allowed:
        reasons.append("outliers")
    return RmtJudgement(
        name=row.name,
        family=row.family,
        log_edge_ratio=log_e,
        epsilon=eps,
        outliers=(k_b, k_s),
        outliers_allowed=k_allowed,
        reasons=reasons,
    )


def evaluate(measured: RmtMeasurements, settings: RmtSettings) -> RmtOutcome:
    """Per-matrix violations (|ln(e_s/e_b)| > ε_f or |k_s − k_b| > max(k_floor, ⌈ε_f·k_b⌉)), per-family
    summary, the top violations and the verdict (violations ≤ max_violations)."""
    judged = [_judge(row, settings) for row in measured.matrices]
    violations = [j for j in judged if j.reasons]
    stable = len(violations) <= settings.max_violations
    ordered = top_by(violations, lambda j: j.log_edge_ratio, len(violations))
    ordered += sorted((v for v in violations if v not in ordered), key=lambda v: v.name)
    return RmtOutcome(
        verdict="pass" if stable else "fail",
        summary=RmtSummary(
            matrices=len(judged), violations=len(violations), max_violations=settings.max_violations, stable=stable
        ),
        families=_families(judged),
        violations=ordered,
    )


def _families(judged: list[RmtJudgement]) -> dict[str, RmtFamily]:
    out: dict[str, RmtFamily] = {}
    for family in sorted({j.family for j in judged}):
        members = [j for j in judged if j.family == family]
        logs = [abs(j.log_edge_ratio) for j in members if j.log_edge_ratio is not None]
        out[family] = RmtFamily(
            count=len(members),
            max_abs_log_edge_ratio=max(logs, default=0.0),
            outliers_baseline=sum(j.outliers[0] for j in members),
            outliers_subject=sum(j.outliers[1] for j in members),
            violations=sum(bool(j.reasons) for j in members),
        )
    return out
