"""Guard outcomes as pure functions of recorded measurements and a policy (used to record and to verify)."""

from __future__ import annotations

from ..policy import Policy
from ..stats import bootstrap_key
from . import rmt, spectral, variance
from .results import Measurements, Outcome
from .rmt_records import RmtMeasurements
from .spectral_records import SpectralMeasurements
from .variance_records import VarianceMeasurements

MEASURED_GUARDS = ("spectral", "rmt", "variance")


def derive(measured: Measurements, policy: Policy, *, seed: int, plan_digest: str) -> Outcome:
    """The outcome (verdict, summary, tables, violations, repairs) of a measured guard under `policy`."""
    settings = policy.guards
    match measured:
        case SpectralMeasurements():
            return spectral.evaluate(measured, settings.spectral)
        case RmtMeasurements():
            return rmt.evaluate(measured, settings.rmt)
        case VarianceMeasurements():
            key = bootstrap_key(seed, plan_digest, "calibration")
            return variance.evaluate(measured, settings.variance, key=key, replicates=policy.replicates)
    raise TypeError(f"{type(measured).__name__} are not a measured guard's measurements")


def compose(current: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    """Cumulative weight scales after applying `more` on top of `current`."""
    out = dict(current)
    for name, factor in more.items():
        out[name] = out.get(name, 1.0) * factor
    return out
