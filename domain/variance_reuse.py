"""Variance guard baseline reuse: the baseline's tap statistics read back from a run's variance record, and the
certificate's statement of where they came from (docs/reference/baseline-reuse.md).

The taps are taken while the baseline scores the calibration windows, so they depend on exactly what its
scores depend on: two runs with equal scoring keys (domain/baseline_reuse.py) tap the baseline identically."""

from __future__ import annotations

from collections.abc import Iterable

from . import certificate as c
from . import events as ev
from .guards.results import VarianceResult
from .guards.variance_records import CalibrationWindows
from .model import ActivationStats


def variance_record(guards: Iterable[ev.GuardEvaluated]) -> VarianceResult | None:
    """The variance guard's recorded result among a run's guard records, None when it has none."""
    return next((g.result for g in guards if isinstance(g.result, VarianceResult)), None)


def baseline_taps(result: VarianceResult | None, calibration: CalibrationWindows) -> dict[str, ActivationStats]:
    """The baseline statistics a variance record states, by tapped weight; {} unless it tapped the same
    calibration windows (ids and digests)."""
    if result is None or result.measurements.calibration != calibration:
        return {}
    return {tap.weight: tap.baseline for tap in result.measurements.taps}


def variance_baseline(e: ev.VarianceBaselineReused | None) -> c.VarianceBaseline | None:
    """The certificate's provenance.variance_baseline; None when the taps were measured in the run."""
    if e is None:
        return None
    return c.VarianceBaseline(source_run_id=e.source_run_id, scoring_key=e.scoring_key, source_events=e.source_events)
