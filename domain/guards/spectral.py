"""Spectral guard: change of each matrix's largest singular value, subject vs baseline (docs/assurance/guards.md §2)."""

from __future__ import annotations

import math

import numpy as np

from .robust import robust_z, top_by
from .settings import SpectralSettings
from .spectral_records import (
    SpectralFamily,
    SpectralMatrix,
    SpectralMeasurements,
    SpectralOutcome,
    SpectralReason,
    SpectralScore,
    SpectralSummary,
)
from .spectrum import MatrixMeasure
from .testing import correct, two_sided_p


def measurement(name: str, family: str, base: MatrixMeasure, subj: MatrixMeasure) -> SpectralMatrix:
    """The per-matrix record the guard decides on (and that verify re-derives the decision from)."""
    return SpectralMatrix(
        name=name,
        family=family,
        sigma_baseline=base.sigma,
        sigma_subject=subj.sigma,
        method=(base.sigma_method, subj.sigma_method),
        iterations=(base.iterations, subj.iterations),
        residual=(base.residual, subj.residual),
    )


def _log_ratio(row: SpectralMatrix) -> float | None:
    """ln(σ_s/σ_b); None when a σ is 0 or the ratio under- or overflows float64 (no finite log)."""
    b, s = row.sigma_baseline, row.sigma_subject
    if b == s:
        return 0.0
    ratio = s / b if b > 0.0 else 0.0
    return math.log(ratio) if 0.0 < ratio < math.inf else None


def _z_scores(rows: list[SpectralMatrix], r: list[float | None], settings: SpectralSettings) -> list[float | None]:
    z: list[float | None] = [None] * len(rows)
    for family in sorted({row.family for row in rows}):
        idx = [i for i, row in enumerate(rows) if row.family == family and r[i] is not None]
        if len(idx) < settings.min_family_size:
            continue
        values = robust_z(np.array([r[i] for i in idx]), settings.z_floor)
        for i, value in zip(idx, values, strict=True):
            z[i] = float(value)
    return z


def _significant(z: list[float | None], settings: SpectralSettings) -> list[bool]:
    tested = [i for i, value in enumerate(z) if value is not None]
    reject = correct(two_sided_p(np.array([z[i] for i in tested])), settings.correction, settings.alpha)
    flags = [False] * len(z)
    for i, rejected in zip(tested, reject, strict=True):
        flags[i] = bool(rejected)
    return flags


def _reason(r: float | None, significant: bool, settings: SpectralSettings) -> SpectralReason:
    if r is None:
        return "zero_sigma"
    if abs(r) > settings.deadband:
        return "deadband"
    if significant and abs(r) > settings.min_effect:
        return "family_z"
    return None


def evaluate(measured: SpectralMeasurements, settings: SpectralSettings) -> SpectralOutcome:
    """Decide from per-matrix σ records: r = ln(σ_s/σ_b), robust per-family z, multiple-testing-corrected
    significance, violations, caps, per-family table, top matrices by |z| and the verdict."""
    rows = measured.matrices
    r = [_log_ratio(row) for row in rows]
    z = _z_scores(rows, r, settings)
    significant = _significant(z, settings)
    scored = [
        SpectralScore(name=row.name, family=row.family, r=ri, z=zi, reason=_reason(ri, sig, settings))
        for row, ri, zi, sig in zip(rows, r, z, significant, strict=True)
    ]
    violations = [item for item in scored if item.reason is not None]
    caps = len(violations)
    stable = caps <= settings.max_caps
    return SpectralOutcome(
        verdict="pass" if stable else "fail",
        summary=SpectralSummary(matrices=len(rows), caps_applied=caps, max_caps=settings.max_caps, stable=stable),
        families=_families(scored),
        violations=sorted(violations, key=lambda v: (-abs(v.r or math.inf), v.name)),
        top=top_by(scored, lambda s: s.z, settings.top_k),
        repairs=_repairs(rows, scored, settings) if settings.repair else {},
    )


def _families(scored: list[SpectralScore]) -> dict[str, SpectralFamily]:
    out: dict[str, SpectralFamily] = {}
    for family in sorted({s.family for s in scored}):
        members = [s for s in scored if s.family == family]
        rs = [abs(s.r) for s in members if s.r is not None]
        zs = [abs(s.z) for s in members if s.z is not None]
        out[family] = SpectralFamily(
            count=len(members),
            max_abs_r=max(rs, default=0.0),
            max_abs_z=max(zs) if zs else None,
            violations=sum(s.reason is not None for s in members),
        )
    return out


def _repairs(rows: list[SpectralMatrix], scored: list[SpectralScore], settings: SpectralSettings) -> dict[str, float]:
    """Repair mode caps growth only: σ_s is scaled back to σ_b·(1 + deadband)."""
    out: dict[str, float] = {}
    for row, item in zip(rows, scored, strict=True):
        if item.reason is not None and item.r is not None and item.r > settings.deadband:
            cap = row.sigma_baseline * (1.0 + settings.deadband)
            out[row.name] = cap / row.sigma_subject
    return out
