"""Guard outcomes as pure functions of recorded measurements and a policy (used to record and to verify)."""

from __future__ import annotations

from typing import Any

from ..policy import Policy
from ..stats import bootstrap_key
from . import rmt, spectral, variance

MEASURED_GUARDS = ("spectral", "rmt", "variance")


def derive(guard: str, measurements: dict[str, Any], policy: Policy, *, seed: int, plan_digest: str) -> dict[str, Any]:
    """The outcome (verdict, summary, tables, violations, repairs) of a measured guard under `policy`."""
    settings = policy.guards
    if guard == "spectral":
        return spectral.evaluate(measurements["matrices"], settings.spectral)
    if guard == "rmt":
        return rmt.evaluate(measurements["matrices"], settings.rmt)
    if guard == "variance":
        key = bootstrap_key(seed, plan_digest, "calibration")
        return variance.evaluate(
            measurements["taps"], measurements.get("ab"), settings.variance, key=key, replicates=policy.replicates
        )
    raise ValueError(f"{guard} is not a measured guard")


def repairs_of(guard: str, outcome: dict[str, Any]) -> dict[str, float]:
    """Weight scales a guard's outcome applied to the subject ({} when it repaired nothing)."""
    if guard == "spectral":
        return dict(outcome.get("repairs", {}))
    if guard == "variance":
        return dict(outcome.get("applied", {}))
    return {}


def compose(current: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    """Cumulative weight scales after applying `more` on top of `current`."""
    out = dict(current)
    for name, factor in more.items():
        out[name] = out.get(name, 1.0) * factor
    return out
