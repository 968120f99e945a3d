"""Quantiles of the Marchenko–Pastur law: where the singular values of a matrix of iid noise fall, to which the
spectral and RMT guards match a weight matrix's bulk (docs/assurance/guards.md §1)."""

from __future__ import annotations

import math
import threading
from functools import lru_cache

# Matrices are measured on worker threads (ports/measurement.py); QUADPACK was not re-entrant before scipy 1.15.
_QUADRATURE = threading.Lock()


def _mp_density(x: float, gamma: float) -> float:
    lo, hi = (1 - math.sqrt(gamma)) ** 2, (1 + math.sqrt(gamma)) ** 2
    if x <= lo or x >= hi:
        return 0.0
    return math.sqrt((hi - x) * (x - lo)) / (2 * math.pi * gamma * x)


@lru_cache(maxsize=256)
def mp_quantile_singular(gamma: float, q: float) -> float:
    """The q-quantile singular value of an m×n matrix (n = γm) with iid unit-variance entries, divided by √m
    (the square root of the Marchenko–Pastur q-quantile for aspect ratio γ ∈ (0, 1], q ∈ (0, 1))."""
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"aspect ratio must be in (0, 1], got {gamma}")
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {q}")
    # imported where a quantile is computed: only measuring needs one, and scipy.optimize and .integrate cost
    # verify, replay and runs (which import this module's callers) about 0.2 s of start-up each
    from scipy import integrate, optimize

    lo, hi = (1 - math.sqrt(gamma)) ** 2, (1 + math.sqrt(gamma)) ** 2

    def cdf_minus_q(t: float) -> float:
        value, _ = integrate.quad(_mp_density, lo, t, args=(gamma,), limit=200)
        return float(value) - q

    with _QUADRATURE:
        quantile = optimize.brentq(cdf_minus_q, lo, hi, xtol=1e-14, rtol=1e-12)
    return math.sqrt(float(quantile))


def mp_median_singular(gamma: float) -> float:
    """Median singular value of an m×n matrix (n = γm) with iid unit-variance entries, divided by √m."""
    return mp_quantile_singular(gamma, 0.5)
