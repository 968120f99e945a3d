"""The large-matrix path's accuracy against the exact spectrum, within the bounds docs/assurance/guards.md
states ("Large-matrix path: cost and accuracy"), on a matrix small enough for a unit test: the policy's
exact_max_dim is lowered so an 800 × 800 matrix takes the path a > 4096 one takes."""

from __future__ import annotations

import math

import msgspec
import numpy as np
from invarlock.application.certification.guard_chain import measure_matrix
from invarlock.domain.guards import spectrum
from invarlock.domain.policy import Policy, resolve_policy
from scipy import stats

N = 800
SCALE = 0.02
SPIKES = 2.0 * math.sqrt(N) * SCALE * (1.0 + 0.5 * np.arange(8))  # 2·(mn)^{1/4}·s and up: above BBP


def mad_relative_se(dist: stats.rv_continuous, *args: float) -> float:
    """Asymptotic relative standard error of the MAD of N iid symmetric draws, times √N: the median of |X| has
    variance 1/(4N·g(q)²) with g = 2f the density of |X| at its median q, so sd/q = 1/(4·f(q)·q)."""
    q = float(dist.ppf(0.75, *args))
    return 1.0 / (4.0 * float(dist.pdf(q, *args)) * q)


MAD_RELATIVE_SE = mad_relative_se(stats.norm)


def _policy_with_exact_max_dim(limit: int) -> Policy:
    policy = resolve_policy("balanced", "ci")
    rmt = msgspec.structs.replace(policy.guards.rmt, exact_max_dim=limit)
    return msgspec.structs.replace(policy, guards=msgspec.structs.replace(policy.guards, rmt=rmt))


def _planted(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((N, len(SPIKES))))
    v, _ = np.linalg.qr(rng.standard_normal((N, len(SPIKES))))
    return (SCALE * rng.standard_normal((N, N)) + (u * SPIKES) @ v.T).astype(np.float32)


def test_the_large_path_on_a_planted_spectrum_is_within_the_documented_bounds() -> None:
    w = _planted(seed=5)
    large = measure_matrix(w, _policy_with_exact_max_dim(N - 1))
    exact = measure_matrix(w, resolve_policy("balanced", "ci"))
    assert large.scale_method == "entry_mad" and exact.scale_method == "mp_median"
    # σ_max: Lanczos converges the top Ritz value to float64 precision; bound √ε₆₄.
    assert abs(large.sigma / exact.sigma - 1) <= math.sqrt(np.finfo(np.float64).eps)
    # Bulk scale: the spikes spread over the entries and inflate their spread: the entry MAD lies between the
    # bulk's s and s·√(1 + ρ), ρ = ‖L‖_F² / (s²·mn) (all of the spikes' energy as Gaussian noise), give or take
    # 4 standard errors of a normal MAD. The exact path's median matching stays at s within the same margin.
    rho = float(np.sum(SPIKES**2)) / (SCALE**2 * N * N)
    margin = 4 * MAD_RELATIVE_SE / N
    assert SCALE * (1 - margin) <= large.bulk_scale <= SCALE * math.sqrt(1 + rho) * (1 + margin)
    assert abs(exact.bulk_scale / SCALE - 1) <= margin
    # The edge ratio e = σ/λ₊ then reads low by the same factor: ln e_large − ln e_exact ≈ −ln(ŝ_large/ŝ_exact).
    ln_diff = math.log((large.sigma / large.edge) / (exact.sigma / exact.edge))
    assert abs(ln_diff + math.log(large.bulk_scale / exact.bulk_scale)) <= math.sqrt(np.finfo(np.float64).eps)
    # Outliers: every planted spike clears both thresholds, nothing else does.
    assert large.outliers == exact.outliers == len(SPIKES)


def test_the_entry_mad_scale_of_a_heavy_tailed_bulk_reads_low_by_the_t_distribution_factor() -> None:
    # Student-t entries (5 dof) scaled to unit variance: the MP scale is their standard deviation, the entry
    # MAD reads 1.4826·t₀.₇₅(5)/√(5/3) of it (about 0.83): the path's documented bias on heavy tails.
    dof, n = 5.0, 600
    rng = np.random.default_rng(11)
    z = rng.standard_t(dof, size=(n, n)) / math.sqrt(dof / (dof - 2))
    factor = float(stats.norm.ppf(0.75) ** -1 * stats.t.ppf(0.75, dof)) / math.sqrt(dof / (dof - 2))
    measured = spectrum.entry_scale(SCALE * z) / SCALE
    assert abs(measured / factor - 1) <= 4 * mad_relative_se(stats.t, dof) / n
