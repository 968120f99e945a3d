"""What a certificate's guard sections must hold whatever their values: each weight measured once, in a known
family, the same weights in both weight guards, the A/B pass on the calibration windows. A forger who drops the
one violating row and re-derives the outcome would otherwise get a consistent section."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from .rmt_records import RmtMeasurements
from .spectral_records import SpectralMeasurements
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
