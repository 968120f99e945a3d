"""The RMT bulk scale on rank-deficient matrices (GUARDS.md §3; docs/assurance/guards.md): the median is taken
over the numerically non-zero singular values, so a rescale or an identical copy is never a violation, a
full-rank matrix keeps plain median matching bit for bit, and harmful edits are still flagged."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain.guards import marchenko_pastur, rmt, spectrum
from invarlock.domain.guards.settings import RmtSettings
from invarlock.domain.policy import resolve_policy

from tests.unit import guard_json

PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)
TIERS = ("conservative", "balanced", "aggressive")


def _guard(tier: str) -> RmtSettings:
    return resolve_policy(tier, "ci").guards.rmt


def _low_rank(m: int, n: int, rank: int, seed: int, zero_columns: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if zero_columns:  # structured pruning: whole input columns zeroed
        w = rng.standard_normal((m, n))
        w[:, rng.permutation(n)[: n - rank]] = 0.0
    else:  # a product of thin factors with uneven strengths
        w = (rng.standard_normal((m, rank)) * rng.uniform(0.05, 20.0, rank)) @ rng.standard_normal((rank, n))
    return w.astype(np.float32)


def _outcome(base: np.ndarray, subj: np.ndarray, tier: str = "balanced") -> dict[str, Any]:
    row = rmt.measurement("ffn.0", "ffn", spectrum.measure(base), spectrum.measure(subj))
    return guard_json.rmt_evaluate([row], _guard(tier))


@PROPERTY
@given(
    n=st.integers(min_value=2, max_value=60),
    extra_rows=st.integers(min_value=0, max_value=60),
    rank_share=st.floats(min_value=0.0, max_value=0.99),
    zero_columns=st.booleans(),
    wide=st.booleans(),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_a_rescale_by_0_995_of_a_low_rank_matrix_is_no_rmt_violation(
    n: int, extra_rows: int, rank_share: float, zero_columns: bool, wide: bool, seed: int
) -> None:
    rank = max(1, min(n - 1, int(rank_share * n)))
    w = _low_rank(n + extra_rows, n, rank, seed, zero_columns)
    w = w.T if wide else w
    scaled = (np.float32(0.995) * w).astype(np.float32)
    assert spectrum.numerical_rank(spectrum.singular_values(spectrum.gram(w))) == rank
    assert spectrum.measure(w).bulk_scale > 0.0
    for tier in TIERS:
        assert _outcome(w, scaled, tier)["violations"] == []


def test_the_rank_one_rescale_keeps_the_edge_ratio_to_rounding() -> None:
    w = _low_rank(300, 200, 1, seed=7)
    values = spectrum.singular_values(spectrum.gram(w))
    # The plain median of this spectrum is rounding noise (~1e-8 of σ_max), so a scale built on it was noise.
    assert float(np.median(values)) < 1e-6 * float(values[0])
    base, subj = spectrum.measure(w), spectrum.measure((np.float32(0.995) * w).astype(np.float32))
    assert abs(math.log((subj.sigma / subj.edge) / (base.sigma / base.edge))) < 1e-6
    assert subj.bulk_scale / base.bulk_scale == pytest.approx(0.995, rel=1e-6)


def test_identical_all_zero_matrices_are_no_violation_but_a_zeroed_matrix_is() -> None:
    zero = np.zeros((80, 40), dtype=np.float32)
    measured = spectrum.measure(zero)
    assert (measured.sigma, measured.bulk_scale, measured.edge, measured.outliers) == (0.0, 0.0, 0.0, 0)
    for tier in TIERS:
        assert _outcome(zero, zero.copy(), tier)["verdict"] == "pass"
    w = np.random.default_rng(3).standard_normal((80, 40)).astype(np.float32)
    for base, subj in ((w, zero), (zero, w)):
        outcome = _outcome(base, subj)
        assert [v["reasons"] for v in outcome["violations"]] == [["edge_ratio"]]
        assert outcome["violations"][0]["log_edge_ratio"] is None


@PROPERTY
@given(
    n=st.integers(min_value=2, max_value=80),
    extra_rows=st.integers(min_value=0, max_value=80),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_a_full_rank_matrix_keeps_plain_median_matching_bit_for_bit(n: int, extra_rows: int, seed: int) -> None:
    m = n + extra_rows
    w = np.random.default_rng(seed).standard_normal((m, n)).astype(np.float32)
    values = spectrum.singular_values(spectrum.gram(w))
    assert spectrum.numerical_rank(values) == n
    median_matched = float(np.median(values)) / (math.sqrt(m) * marchenko_pastur.mp_median_singular(n / m))
    assert spectrum.measure(w).bulk_scale == median_matched


def test_the_mp_quantile_matches_the_singular_values_of_a_large_gaussian_matrix() -> None:
    m, n = 1200, 600
    values = spectrum.singular_values(spectrum.gram(np.random.default_rng(11).standard_normal((m, n))))
    ascending = values[::-1] / math.sqrt(m)
    for q in (0.1, 0.5, 0.9, 0.99):
        expected = float(np.quantile(ascending, q))
        assert marchenko_pastur.mp_quantile_singular(n / m, q) == pytest.approx(expected, rel=0.01)
    assert marchenko_pastur.mp_quantile_singular(0.5, 0.5) == marchenko_pastur.mp_median_singular(0.5)


@pytest.mark.parametrize("rank", [1, 4, 20])
def test_a_large_spike_added_to_a_low_rank_matrix_is_still_flagged(rank: int) -> None:
    w = _low_rank(200, 100, rank, seed=rank)
    rng = np.random.default_rng(100 + rank)
    u, v = rng.standard_normal(200), rng.standard_normal(100)
    top = float(spectrum.singular_values(spectrum.gram(w))[0])
    spiked = (w + 5.0 * top * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))).astype(np.float32)
    for tier in TIERS:
        outcome = _outcome(w, spiked, tier)
        assert [v["name"] for v in outcome["violations"]] == ["ffn.0"]
        assert "edge_ratio" in outcome["violations"][0]["reasons"]


def test_removing_the_top_spike_of_a_noisy_matrix_is_still_flagged() -> None:
    rng = np.random.default_rng(9)
    noise = rng.standard_normal((400, 200))
    u, v = rng.standard_normal(400), rng.standard_normal(200)
    spike = 8.0 * (400 * 200) ** 0.25 * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    outcome = _outcome((noise + spike).astype(np.float32), noise.astype(np.float32))
    assert outcome["violations"] and "edge_ratio" in outcome["violations"][0]["reasons"]
