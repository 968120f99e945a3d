"""One calibration table row from a certificate, and the Markdown table of all rows."""

from __future__ import annotations

import math

import msgspec
from invarlock.domain.certificate import Flag
from invarlock.domain.guards import sections as gs

from ..certification.certify import CertifyOutcome


class GuardRow(msgspec.Struct, frozen=True, kw_only=True):
    """What one guard said about one case: verdict, time and the matrices (or taps) it flagged."""

    verdict: str
    seconds: float
    flagged: list[str]


class SpectralRow(GuardRow, frozen=True):
    caps_applied: int
    max_abs_r: float
    matrix_r: float | None
    matrix_z: float | None


class RmtRow(GuardRow, frozen=True):
    violations: int
    max_abs_log_edge_ratio: float
    matrix_log_edge_ratio: float | None
    matrix_outliers: tuple[int, int] | None


class VarianceRow(GuardRow, frozen=True):
    taps: int
    proposed: int
    enabled: bool
    matrix_std_ratio: float | None
    matrix_applied: float | None
    ab_mean_delta: float | None
    ab_ci: tuple[float, float] | None


class OverheadRow(msgspec.Struct, frozen=True, kw_only=True):
    ratio: float
    bare_ppl: float


class CaseRow(msgspec.Struct, frozen=True, kw_only=True):
    """One case of the calibration table: its expectations, the certificate's verdict and every guard's row."""

    case: str
    kind: str
    matrix: str | None
    flagged_by: list[str]
    run_id: str
    ratio: float | None
    ci: tuple[float, float] | None
    verdict: str
    failed: list[str]
    validation: dict[str, Flag]
    guards: dict[str, GuardRow]
    guard_overhead: OverheadRow | None
    certificate_digest: str


def _spectral(s: gs.SpectralSection, matrix: str | None, row: GuardRow) -> SpectralRow:
    # r and z are listed for the violations and the top matrices; r of any other matrix comes from its σs
    listed = {v.name: (v.r, v.z) for v in s.top + s.violations}
    m = next((m for m in s.measurements.matrices if m.name == matrix), None)
    if matrix not in listed and m is not None and m.sigma_baseline > 0 and m.sigma_subject > 0:
        listed[m.name] = (math.log(m.sigma_subject / m.sigma_baseline), None)
    r, z = listed.get(matrix or "", (None, None))
    return SpectralRow(
        **msgspec.structs.asdict(row),
        caps_applied=s.summary.caps_applied,
        max_abs_r=max(f.max_abs_r for f in s.families.values()),
        matrix_r=r,
        matrix_z=z,
    )


def _rmt(s: gs.RmtSection, matrix: str | None, row: GuardRow) -> RmtRow:
    m = next((m for m in s.measurements.matrices if m.name == matrix), None)
    log_e = None
    if m is not None:
        log_e = math.log((m.subject.sigma / m.subject.edge) / (m.baseline.sigma / m.baseline.edge))
    return RmtRow(
        **msgspec.structs.asdict(row),
        violations=s.summary.violations,
        max_abs_log_edge_ratio=max(f.max_abs_log_edge_ratio for f in s.families.values()),
        matrix_log_edge_ratio=log_e,
        matrix_outliers=(m.baseline.outliers, m.subject.outliers) if m is not None else None,
    )


def _variance(s: gs.VarianceSection, matrix: str | None, row: GuardRow) -> VarianceRow:
    tap = next((t for t in s.scales if t.weight == matrix), None)
    return VarianceRow(
        **msgspec.structs.asdict(row),
        taps=s.summary.taps,
        proposed=s.summary.proposed,
        enabled=s.summary.enabled,
        matrix_std_ratio=tap.ratio if tap is not None else None,
        matrix_applied=tap.applied if tap is not None else None,
        ab_mean_delta=s.ab.mean_delta if s.ab else None,
        ab_ci=s.ab.ci if s.ab else None,
    )


def _guard_row(section: gs.Section, matrix: str | None) -> GuardRow:
    violations = [] if isinstance(section, gs.InvariantsSection) else section.violations
    row = GuardRow(verdict=section.verdict, seconds=section.seconds, flagged=sorted({v.name for v in violations}))
    if isinstance(section, gs.SpectralSection):
        return _spectral(section, matrix, row)
    if isinstance(section, gs.RmtSection):
        return _rmt(section, matrix, row)
    if isinstance(section, gs.VarianceSection):
        return _variance(section, matrix, row)
    return row


def case_row(case: str, kind: str, matrix: str | None, flagged_by: list[str], outcome: CertifyOutcome) -> CaseRow:
    """Everything the calibration table shows about one case, from its certificate."""
    cert = outcome.certificate
    pm = cert.primary_metric
    overhead = cert.guard_overhead
    return CaseRow(
        case=case,
        kind=kind,
        matrix=matrix,
        flagged_by=flagged_by,
        run_id=outcome.run_id,
        ratio=pm.ratio_vs_baseline,
        ci=pm.display_ci,
        verdict=cert.verdict.status,
        failed=[f.flag for f in cert.verdict.failed],
        validation=dict(cert.validation),
        guards={name: _guard_row(section, matrix) for name, section in cert.guards.items()},
        guard_overhead=None if overhead is None else OverheadRow(ratio=overhead.ratio, bare_ppl=overhead.bare_ppl),
        certificate_digest=cert.digest,
    )


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def _spectral_cell(row: GuardRow | None) -> str:
    if not isinstance(row, SpectralRow):
        return "—, — (—)"
    return f"{row.caps_applied}, {_num(row.matrix_r)} ({_num(row.matrix_z, '.1f')})"


def _rmt_cell(row: GuardRow | None) -> str:
    if not isinstance(row, RmtRow):
        return "—, —, —"
    outliers = list(row.matrix_outliers) if row.matrix_outliers else "—"
    return f"{row.violations}, {_num(row.matrix_log_edge_ratio)}, {outliers}"


def _variance_cell(row: GuardRow | None) -> str:
    if not isinstance(row, VarianceRow):
        return "—, — → —, —, — [—, —]"
    lo, hi = row.ab_ci or (None, None)
    return (
        f"{_num(row.matrix_std_ratio)}, {row.proposed} → {_num(row.matrix_applied)}, {row.enabled}, "
        f"{_num(row.ab_mean_delta, '.5f')} [{_num(lo, '.5f')}, {_num(hi, '.5f')}]"
    )


def markdown(rows: list[CaseRow], header: str) -> str:
    """The calibration table (docs/assurance/guards.md §6) as Markdown."""
    lines = [
        header,
        "",
        "| case | kind | PPL ratio [CI] | spectral: caps, r (z) of the matrix | RMT: violations, ln e ratio, outliers"
        " | VE: std ratio, proposed → applied, on, A/B mean Δ [CI] | flagged (by guard) | verdict | guard s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        g = row.guards
        lo, hi = row.ci or (None, None)
        seconds = " / ".join(f"{n} {s.seconds:.1f}" for n, s in g.items())
        flagged = "; ".join(f"{n}: {len(s.flagged)}" for n, s in g.items() if s.flagged) or "none"
        lines.append(
            f"| {_cell(row.case)} | {row.kind} | {_num(row.ratio)} [{_num(lo)}, {_num(hi)}] "
            f"| {_spectral_cell(g.get('spectral'))} | {_rmt_cell(g.get('rmt'))} | {_variance_cell(g.get('variance'))} "
            f"| {flagged} | {row.verdict} | {seconds} |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """`text` as one Markdown table cell: a `|` in a case name split its row (the tools hunt)."""
    return text.replace("|", "\\|")
