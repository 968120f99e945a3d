"""What a certificate's guard sections must hold whatever their values: each weight measured once, in a known
family, the same weights in both weight guards, the A/B pass on the calibration windows. A forger who drops the
one violating row and re-derives the outcome would otherwise get a consistent section."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from ..canonical import is_sha256_hex
from .rmt_records import RmtMeasurements, RmtSide
from .spectral_records import SpectralMeasurements
from .spectrum import outlier_threshold
from .variance_records import VarianceMeasurements

FAMILIES = ("attn", "embed", "ffn", "other")  # ports/model.NamedMatrix.family
MatrixMeasurements = SpectralMeasurements | RmtMeasurements


def _duplicate(names: Sequence[str]) -> str | None:
    repeated = [name for name, n in Counter(names).items() if n > 1]
    return repeated[0] if repeated else None


def rows_problem(measurements: MatrixMeasurements | VarianceMeasurements) -> str | None:
    """Why one guard's rows are inconsistent (a weight twice, or both measured and not applicable, or an unknown
    family), or None."""
    if isinstance(measurements, VarianceMeasurements):
        names = [t.weight for t in measurements.taps]
    else:
        names = [m.name for m in measurements.matrices]
        unknown = [m for m in measurements.matrices if m.family not in FAMILIES]
        if unknown:
            return f"{unknown[0].name} is in family {unknown[0].family!r}, not one of {', '.join(FAMILIES)}"
    twice = _duplicate(names + [row.name for row in measurements.not_applicable])
    return None if twice is None else f"{twice} is listed twice"


def same_matrices_problem(spectral: MatrixMeasurements, rmt: MatrixMeasurements) -> str | None:
    """Why the spectral and RMT guards do not list the same weights (both measure every matrix, in model order),
    or None."""
    a = [(m.name, m.family) for m in spectral.matrices]
    b = [(m.name, m.family) for m in rmt.matrices]
    if a == b and spectral.not_applicable == rmt.not_applicable:
        return None
    only = sorted(set(a) ^ set(b))
    return f"spectral and rmt list different matrices{f' ({only[0][0]})' if only else ''}"


def ab_problem(measurements: VarianceMeasurements, tokens_per_window: int) -> str | None:
    """Why the variance guard's A/B pass is not one pass over its calibration windows, or None."""
    ab = measurements.ab
    if ab is None:
        return None
    if ab.window_ids != measurements.calibration.window_ids:
        return "the A/B pass did not score the calibration windows"
    if any(t != tokens_per_window for t in ab.tokens):
        return f"an A/B window did not score {tokens_per_window} tokens"
    return None


def repair_digest_problem(measurements: VarianceMeasurements) -> str | None:
    """Why the digest of the repaired subject's weights is stated without an A/B pass or missing from one (the
    guard takes it in the pass that applies the scales), or is no sha256 hex, or None."""
    digest = measurements.repaired_weights_sha256
    if (measurements.ab is None) != (digest is None):
        return "repaired_weights_sha256 must be given exactly when the A/B pass ran"
    if digest is not None and not is_sha256_hex(digest):
        return f"repaired_weights_sha256 {digest!r} is not a sha256 in hex"
    return None


# The bulk scale methods whose edge and outlier threshold follow from the bulk scale and the matrix's shape as
# domain/guards/spectrum.py computes them; runs recorded with "entry_mad" predate that rule.
_MP_SCALE_METHODS = ("mp_median", "mp_median_cols")


def rmt_sides_problem(measurements: RmtMeasurements, tw_quantile: float) -> str | None:
    """Why a side's MP edge s(√m + √n) or outlier threshold (the edge plus the Tracy–Widom allowance at the
    policy's quantile) is not what its bulk scale and its matrix's shape give, or None."""
    for matrix in measurements.matrices:
        if not 1 <= matrix.cols <= matrix.rows:  # the tall orientation of a 2-D weight; the edge takes their roots
            return f"{matrix.name}: {matrix.rows} × {matrix.cols} is not the shape of a matrix with rows ≥ cols ≥ 1"
        sides = (("baseline", matrix.baseline), ("subject", matrix.subject))
        for (role, side), method in zip(sides, matrix.method, strict=True):
            if method.split("/", 1)[0] not in _MP_SCALE_METHODS:
                continue
            wrong = _side_problem(side, matrix.rows, matrix.cols, tw_quantile)
            if wrong is not None:
                return f"{matrix.name} {role}: {wrong}"
    return None


def _side_problem(side: RmtSide, rows: int, cols: int, tw_quantile: float) -> str | None:
    if side.edge != side.bulk_scale * (math.sqrt(rows) + math.sqrt(cols)):
        return f"edge {side.edge!r} is not bulk_scale × (√{rows} + √{cols})"
    if side.outlier_threshold != outlier_threshold(side.bulk_scale, rows, cols, tw_quantile):
        return f"outlier_threshold {side.outlier_threshold!r} is not the edge plus the allowance at {tw_quantile}"
    return None
