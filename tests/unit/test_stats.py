"""Paired statistics and the deterministic BCa bootstrap, checked against an independent recipe."""

from __future__ import annotations

import hashlib
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain import stats
from invarlock.domain.errors import AbortError, UsageError
from scipy.stats import norm


def _auditor_bca(n, lb, ls, seed, plan, arm, B, alpha):
    """Written from docs/reference/statistics.md alone, without calling the product's code."""
    key = hashlib.sha256(f"invarlock/bootstrap/v1\x00{seed}\x00{plan}\x00{arm}".encode()).digest()
    words = np.frombuffer(hashlib.shake_256(key).digest(8 * B * len(n)), dtype="<u8")
    idx = (words.reshape(B, len(n)) % np.uint64(len(n))).astype(np.int64)
    d = (ls - lb) / n
    theta = float(np.sum(n * d) / np.sum(n))
    reps = np.empty(B)
    for b in range(B):
        num = den = 0.0
        for j in idx[b]:
            num += n[j] * d[j]
            den += n[j]
        reps[b] = num / den
    z0 = norm.ppf(min(max(np.sum(reps < theta) / B, 1e-6), 1 - 1e-6))
    loo = np.array([(np.sum(n * d) - n[i] * d[i]) / (np.sum(n) - n[i]) for i in range(len(n))])
    dev = loo.mean() - loo
    a = np.sum(dev**3) / (6 * np.sum(dev**2) ** 1.5)
    levels = [norm.cdf(z0 + (z0 + norm.ppf(q)) / (1 - a * (z0 + norm.ppf(q)))) for q in (alpha / 2, 1 - alpha / 2)]
    return np.quantile(reps, levels)


def _sample(rng, k=24):
    n = rng.integers(100, 512, k).astype(float)
    lb = rng.normal(3.0, 0.3, k) * n
    ls = lb + rng.normal(0.003, 0.01, k) * n
    return n, lb, ls


def test_bca_matches_an_independent_implementation_of_the_documented_recipe():
    n, lb, ls = _sample(np.random.default_rng(1))
    key = stats.bootstrap_key(42, "plan", "final")
    ours = stats.bca_interval(n, lb, ls, key=key, replicates=300, alpha=0.05)
    lo, hi = _auditor_bca(n, lb, ls, 42, "plan", "final", 300, 0.05)
    assert ours.method == "bca"
    assert ours.lo == pytest.approx(lo, rel=1e-12) and ours.hi == pytest.approx(hi, rel=1e-12)


def test_ratio_equals_exp_of_mean_delta_and_ppl_quotient():
    n, lb, ls = _sample(np.random.default_rng(2))
    s = stats.paired_summary(n, lb, ls)
    assert s.ratio == pytest.approx(math.exp(s.delta_mean), rel=1e-15)
    assert s.ratio == pytest.approx(s.subject_ppl / s.baseline_ppl, rel=1e-12)


def test_all_equal_deltas_collapse_the_interval():
    n = np.full(10, 100.0)
    lb = np.full(10, 300.0)
    ci = stats.bca_interval(n, lb, lb + 1.0, key=b"k", replicates=100, alpha=0.05)
    assert (ci.method, ci.lo, ci.hi) == ("degenerate", 0.01, 0.01)


def test_interval_is_bit_identical_across_calls():
    n, lb, ls = _sample(np.random.default_rng(3))
    key = stats.bootstrap_key(1, "p", "final")
    a = stats.bca_interval(n, lb, ls, key=key, replicates=500, alpha=0.1)
    b = stats.bca_interval(n.copy(), lb.copy(), ls.copy(), key=key, replicates=500, alpha=0.1)
    assert a == b


@pytest.mark.parametrize(
    "bad",
    [
        dict(n=np.array([10.0]), lb=np.array([1.0]), ls=np.array([1.0])),
        dict(n=np.array([10.0, 10.0]), lb=np.array([1.0, np.nan]), ls=np.array([1.0, 1.0])),
        dict(n=np.array([10.0, 0.0]), lb=np.array([1.0, 1.0]), ls=np.array([1.0, 1.0])),
    ],
)
def test_thin_or_non_finite_evidence_is_an_error(bad):
    with pytest.raises(UsageError):
        stats.paired_summary(bad["n"], bad["lb"], bad["ls"])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 30), st.integers(0, 10_000))
def test_interval_is_ordered_and_inside_the_range_of_window_deltas(k, seed):
    n, lb, ls = _sample(np.random.default_rng(seed), k)
    ci = stats.bca_interval(n, lb, ls, key=seed.to_bytes(4, "little"), replicates=200, alpha=0.05)
    d = (ls - lb) / n
    assert ci.lo <= ci.hi
    assert d.min() - 1e-12 <= ci.lo and ci.hi <= d.max() + 1e-12


# ---------------------------------------------------------------------------------------------------------
# No BLAS: the bootstrap is integers, hashing and ordered IEEE additions (docs/reference/statistics.md §9)
# ---------------------------------------------------------------------------------------------------------

_BLAS_ENTRY_POINTS = ("dot", "vdot", "inner", "outer", "matmul", "tensordot", "einsum", "einsum_path", "kron")
_STATISTICS_MODULES = ("stats.py", "analysis.py", "gates.py", "metrics/ppl_causal.py", "metrics/ppl_gates.py")


def _python_indices(key: bytes, replicates: int, k: int) -> list[list[int]]:
    """Pure Python: little-endian 8-byte words of shake_256(key), each reduced modulo k."""
    stream = hashlib.shake_256(key).digest(8 * replicates * k)
    words = [int.from_bytes(stream[8 * i : 8 * i + 8], "little") for i in range(replicates * k)]
    return [[w % k for w in words[b * k : (b + 1) * k]] for b in range(replicates)]


def _python_replicates(n: list[float], nd: list[float], idx: list[list[int]]) -> list[float]:
    """Pure Python floats, summed left to right: the documented replicate statistic."""
    out = []
    for row in idx:
        num = den = 0.0
        for j in row:
            num += nd[j]
            den += n[j]
        out.append(num / den)
    return out


def test_bootstrap_indices_and_replicate_sums_equal_a_pure_python_reference_bit_for_bit():
    n, lb, ls = _sample(np.random.default_rng(5), k=37)
    key = stats.bootstrap_key(11, "plan", "final")
    idx = stats.resample_indices(key, 200, len(n))
    assert idx.tolist() == _python_indices(key, 200, len(n))
    nd = ls - lb
    ours = stats._weighted_mean(n, nd, idx)
    reference = _python_replicates(n.tolist(), nd.tolist(), idx.tolist())
    assert [x.hex() for x in ours.tolist()] == [x.hex() for x in reference]


def test_the_interval_is_computed_with_every_blas_entry_point_disabled(monkeypatch):
    n, lb, ls = _sample(np.random.default_rng(6))
    key = stats.bootstrap_key(3, "plan", "final")
    expected = (stats.bca_interval(n, lb, ls, key=key, replicates=500, alpha=0.05), stats.paired_summary(n, lb, ls))

    def refuse(*_args, **_kwargs):
        raise AssertionError("a BLAS-backed numpy function was called")

    for name in _BLAS_ENTRY_POINTS:
        monkeypatch.setattr(np, name, refuse)
    for name in [n for n in dir(np.linalg) if not n.startswith("_") and callable(getattr(np.linalg, n))]:
        if name not in ("LinAlgError",):
            monkeypatch.setattr(np.linalg, name, refuse)
    again = (stats.bca_interval(n, lb, ls, key=key, replicates=500, alpha=0.05), stats.paired_summary(n, lb, ls))
    assert again == expected


def test_the_statistics_modules_never_name_a_blas_routine_or_use_the_matmul_operator():
    # Monkeypatching cannot see `a @ b` (it calls the ufunc directly), so read the source as well.
    import ast
    from pathlib import Path

    import invarlock.domain.stats as module

    domain = Path(module.__file__).parent
    for filename in _STATISTICS_MODULES:
        tree = ast.parse((domain / filename).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.BinOp | ast.AugAssign) or not isinstance(node.op, ast.MatMult), filename
            if isinstance(node, ast.Attribute):
                assert node.attr not in (*_BLAS_ENTRY_POINTS, "linalg"), f"{filename}: {node.attr}"
            if isinstance(node, ast.Name):
                assert node.id not in (*_BLAS_ENTRY_POINTS, "linalg"), f"{filename}: {node.id}"


def test_a_perplexity_beyond_float64_is_an_e402_abort_not_an_overflow() -> None:
    """A finite but absurd mean loss (above 709 nats per token) has no float64 perplexity: no certificate can
    record it (found by a checkpoint whose tied embedding row was scaled by 1e4)."""
    tokens = np.array([31.0, 31.0])
    with pytest.raises(AbortError) as caught:
        stats.paired_summary(tokens, np.array([90.0, 95.0]), np.array([31.0 * 760, 31.0 * 800]))
    assert caught.value.code == "E402" and "subject perplexity overflows: exp(780)" in caught.value.message


OVERFLOWING = {
    "sums near the float64 limit": (np.array([3.0, 4, 5]), np.array([-1e308, 1e308, 0]), np.array([1e308, -1e308, 1])),
    "token counts near 2**63": (np.full(3, 2.0**63), np.array([1.0, 2, 3]), np.array([1e308, 1e308, 1e308])),
}


@pytest.mark.parametrize("case", sorted(OVERFLOWING))
def test_finite_evidence_that_overflows_when_summed_is_e403_not_nan_or_a_warning(case: str) -> None:
    # Each was a NaN ratio or NaN interval bound, with numpy's RuntimeWarnings printed on verify's stderr.
    n, lb, ls = OVERFLOWING[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UsageError) as summary:
            stats.paired_summary(n, lb, ls)
        with pytest.raises(UsageError) as interval:
            stats.bca_interval(n, lb, ls, key=b"k" * 32, replicates=200, alpha=0.05)
    assert summary.value.code == interval.value.code == "E403"
    assert "overflow float64" in summary.value.message and "overflow float64" in interval.value.message


def test_an_alpha_at_which_the_bca_level_would_wrap_is_e203_not_an_inverted_interval() -> None:
    """One window far off among 60 gives an acceleration near 1/6, so below alpha about 2e-9 the upper level's
    denominator 1 - a(z0 + z) turned negative and the level wrapped to about 0: a stricter alpha gave lo > hi, an
    upper bound below the point estimate, and a PASS where 0.05 failed (the statistics hunt)."""
    key = stats.bootstrap_key(7, "ab" * 32, "final")
    tokens, baseline = np.full(60, 127.0), np.full(60, 400.0)
    subject = baseline + 127 * np.log(np.r_[1.0 + np.linspace(0, 0.002, 59), 3.0])
    widths = [
        stats.bca_interval(tokens, baseline, subject, key=key, replicates=2000, alpha=a) for a in (0.05, 1e-3, 1e-6)
    ]
    assert all(w.lo <= w.hi for w in widths) and widths[0].hi <= widths[1].hi <= widths[2].hi
    with pytest.raises(UsageError) as refused:
        stats.bca_interval(tokens, baseline, subject, key=key, replicates=2000, alpha=1e-9)
    assert refused.value.code == "E203" and "the BCa interval is undefined at alpha 1e-09" in refused.value.message
