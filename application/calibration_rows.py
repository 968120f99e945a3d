"""One calibration table row from a certificate, and the Markdown table of all rows."""

from __future__ import annotations

import math
from typing import Any

import msgspec
from invarlock.domain.guards import sections as gs

from .certify import CertifyOutcome


def _spectral(s: gs.SpectralSection, matrix: str | None) -> dict[str, Any]:
    target = next((row for row in _scored(s) if row[0] == matrix), (matrix, None, None))
    return {
        "caps_applied": s.summary.caps_applied,
        "max_abs_r": max(f.max_abs_r for f in s.families.values()),
        "matrix_r": target[1],
        "matrix_z": target[2],
    }


def _scored(s: gs.SpectralSection) -> list[tuple[str, float | None, float | None]]:
    # r and z are listed for the violations and the top matrices; r of any other matrix comes from its σs
    rows = {v.name: (v.name, v.r, v.z) for v in s.top + s.violations}
    for m in s.measurements.matrices:
        if m.name not in rows and m.sigma_baseline > 0 and m.sigma_subject > 0:
            rows[m.name] = (m.name, math.log(m.sigma_subject / m.sigma_baseline), None)
    return list(rows.values())


def _rmt(s: gs.RmtSection, matrix: str | None) -> dict[str, Any]:
    m = next((row for row in s.measurements.matrices if row.name == matrix), None)
    log_e = None
    if m is not None:
        e_b = m.baseline.sigma / m.baseline.edge
        e_s = m.subject.sigma / m.subject.edge
        log_e = math.log(e_s / e_b)
    return {
        "violations": s.summary.violations,
        "max_abs_log_edge_ratio": max(f.max_abs_log_edge_ratio for f in s.families.values()),
        "matrix_log_edge_ratio": log_e,
        "matrix_outliers": [m.baseline.outliers, m.subject.outliers] if m is not None else None,
    }


def _variance(s: gs.VarianceSection, matrix: str | None) -> dict[str, Any]:
    tap = next((row for row in s.scales if row.weight == matrix), None)
    return {
        "taps": s.summary.taps,
        "proposed": s.summary.proposed,
        "enabled": s.summary.enabled,
        "matrix_std_ratio": tap.ratio if tap is not None else None,
        "matrix_applied": tap.applied if tap is not None else None,
        "ab_mean_delta": s.ab.mean_delta if s.ab else None,
        "ab_ci": list(s.ab.ci) if s.ab else None,
    }


def _details(section: gs.Section, matrix: str | None) -> dict[str, Any]:
    if isinstance(section, gs.SpectralSection):
        return _spectral(section, matrix)
    if isinstance(section, gs.RmtSection):
        return _rmt(section, matrix)
    if isinstance(section, gs.VarianceSection):
        return _variance(section, matrix)
    return {}


def case_row(
    case: str, kind: str, matrix: str | None, flagged_by: list[str], outcome: CertifyOutcome
) -> dict[str, Any]:
    """Everything the calibration table shows about one case, from its certificate."""
    cert = outcome.certificate
    guards = {}
    for name, section in cert.guards.items():
        violations = section.violations if not isinstance(section, gs.InvariantsSection) else []
        guards[name] = {
            "verdict": section.verdict,
            "seconds": section.seconds,
            "flagged": sorted({v.name for v in violations}),
            **_details(section, matrix),
        }
    pm = cert.primary_metric
    overhead = cert.guard_overhead
    return {
        "case": case,
        "kind": kind,
        "matrix": matrix,
        "flagged_by": flagged_by,
        "run_id": outcome.run_id,
        "ratio": pm.ratio_vs_baseline,
        "ci": pm.display_ci,
        "verdict": cert.verdict.status,
        "failed": [f.flag for f in cert.verdict.failed],
        "validation": msgspec.to_builtins(cert.validation),
        "guards": guards,
        "guard_overhead": None if overhead is None else {"ratio": overhead.ratio, "bare_ppl": overhead.bare_ppl},
        "certificate_digest": cert.digest,
    }


def _num(value: Any, fmt: str = ".4f") -> str:
    return "—" if value is None else format(value, fmt)


def markdown(rows: list[dict[str, Any]], header: str) -> str:
    """The calibration table (docs/assurance/guards.md §6) as Markdown."""
    lines = [
        header,
        "",
        "| case | kind | PPL ratio [CI] | spectral: caps, r (z) of the matrix | RMT: violations, ln e ratio, outliers"
        " | VE: std ratio, proposed → applied, on, A/B mean Δ [CI] | flagged (by guard) | verdict | guard s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        g = row["guards"]
        sp, rm, va = g.get("spectral", {}), g.get("rmt", {}), g.get("variance", {})
        ci = row["ci"] or [None, None]
        ab_ci = va.get("ab_ci") or [None, None]
        seconds = " / ".join(f"{n} {s['seconds']:.1f}" for n, s in g.items())
        flagged = "; ".join(f"{n}: {len(s['flagged'])}" for n, s in g.items() if s["flagged"]) or "none"
        lines.append(
            f"| {row['case']} | {row['kind']} | {_num(row['ratio'])} [{_num(ci[0])}, {_num(ci[1])}] "
            f"| {sp.get('caps_applied', '—')}, {_num(sp.get('matrix_r'))} ({_num(sp.get('matrix_z'), '.1f')}) "
            f"| {rm.get('violations', '—')}, {_num(rm.get('matrix_log_edge_ratio'))}, "
            f"{rm.get('matrix_outliers') or '—'} "
            f"| {_num(va.get('matrix_std_ratio'))}, {va.get('proposed', '—')} → {_num(va.get('matrix_applied'))}, "
            f"{va.get('enabled', '—')}, {_num(va.get('ab_mean_delta'), '.5f')} "
            f"[{_num(ab_ci[0], '.5f')}, {_num(ab_ci[1], '.5f')}] "
            f"| {flagged} | {row['verdict']} "
            f"| {seconds} |"
        )
    return "\n".join(lines) + "\n"
