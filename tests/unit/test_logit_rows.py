"""The logit-row statistics every CPU reduction is built from (adapters/logit_rows.py): the compiled kernel
gives the numpy reference's bits, both are float64-accurate against an exact computation, and bad rows give
non-finite results (which the callers turn into E402) instead of numbers."""

from __future__ import annotations

import math
import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.adapters import logit_rows
from invarlock.domain.errors import UsageError


@pytest.fixture
def reference(monkeypatch: pytest.MonkeyPatch):
    """logit_rows with the kernel taken away: the numpy reference answers."""
    monkeypatch.setattr(logit_rows, "_compiled", None)
    return logit_rows


def _c_toolchain() -> bool:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(compiler) is not None and Path(sysconfig.get_paths()["include"], "Python.h").is_file()


def _rows(seed: int, rows: int, vocab: int, spread: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = (rng.standard_normal((rows, vocab)) * spread).astype(np.float32)
    subj = (base + rng.standard_normal((rows, vocab)) * 0.05).astype(np.float32)
    return base, subj


def _compiled_and_reference(base: np.ndarray, subj: np.ndarray, monkeypatch: pytest.MonkeyPatch):
    compiled = logit_rows.pair_stats(base, subj), logit_rows.row_stats(base)
    monkeypatch.setattr(logit_rows, "_compiled", None)
    return compiled, (logit_rows.pair_stats(base, subj), logit_rows.row_stats(base))


def test_the_kernel_is_built_wherever_a_c_compiler_and_the_python_headers_are() -> None:
    if not _c_toolchain():
        pytest.skip("no C compiler or Python headers here: the numpy reference runs (same bits, slower)")
    assert logit_rows.KERNEL == "compiled", "pip install -e . should have built invarlock.adapters._logit_rows"


@pytest.mark.parametrize("vocab", [49_152, 49_157, 1, 7, 8, 13])
def test_the_kernel_gives_the_references_bits(vocab: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if logit_rows.KERNEL != "compiled":
        pytest.skip("kernel not built here (test_the_kernel_is_built... says whether it should be)")
    base, subj = _rows(vocab, 19, vocab)
    if vocab > 1:
        base[3, 0] = -np.inf  # a banned token: exp gives the floor's tiny term, not NaN
    base[4] = -1000.0  # one logit 1003 nats above the rest: every other term under the floor
    base[4, vocab // 2] = 3.0
    subj[5] = base[5]  # an identical row: T = 0
    (pair, row), (ref_pair, ref_row) = _compiled_and_reference(base, subj, monkeypatch)
    assert np.array_equal(pair, ref_pair) and np.array_equal(row, ref_row)
    assert np.array_equal(row, pair[:, :2])  # a row's (m, S) is the same alone and in a pair


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 200),
    st.integers(0, 2**32 - 1),
    st.floats(1e-3, 60.0),
)
def test_any_rows_give_the_references_bits(vocab: int, seed: int, spread: float) -> None:
    if logit_rows.KERNEL != "compiled":
        pytest.skip("kernel not built here")
    base, subj = _rows(seed, 3, vocab, spread)
    compiled = logit_rows.pair_stats(base, subj)
    kernel, logit_rows._compiled = logit_rows._compiled, None
    try:
        assert np.array_equal(compiled, logit_rows.pair_stats(base, subj))
    finally:
        logit_rows._compiled = kernel


def _exact(base: np.ndarray, subj: np.ndarray) -> tuple[float, float, float]:
    """(lse_b, lse_s, KL) of one row pair with math.exp and math.fsum (each term within 1 ulp, sums exact)."""
    xb, xs = base.astype(float).tolist(), subj.astype(float).tolist()
    lse_b = max(xb) + math.log(math.fsum(math.exp(x - max(xb)) for x in xb))
    lse_s = max(xs) + math.log(math.fsum(math.exp(x - max(xs)) for x in xs))
    kl = math.fsum(math.exp(b - lse_b) * ((b - lse_b) - (s - lse_s)) for b, s in zip(xb, xs, strict=True))
    return lse_b, lse_s, kl


@pytest.mark.parametrize("closeness", [1e-1, 1e-2, 1e-3])
def test_nll_and_kl_are_float64_accurate_down_to_the_smallest_kl_bin(closeness: float) -> None:
    rng = np.random.default_rng(11)
    base = (rng.standard_normal((2, 4099)) * 5).astype(np.float32)
    subj = (base + rng.standard_normal((2, 4099)) * closeness).astype(np.float32)
    stats = logit_rows.pair_stats(base, subj)  # the reference's bits too (tests above)
    for i in range(2):
        lse_b, lse_s, kl = _exact(base[i], subj[i])
        m_b, s_b, m_s, s_s, _ = stats[i]
        ours = logit_rows.pair_kl(stats)[i]
        assert m_b + math.log(s_b) == pytest.approx(lse_b, rel=1e-15, abs=1e-14)
        assert m_s + math.log(s_s) == pytest.approx(lse_s, rel=1e-15, abs=1e-14)
        assert kl > 1e-8 and abs(ours - kl) < 1e-13  # the smallest KL bin edge is 1e-8


def test_the_exp_is_within_1e_15_relative_of_math_exp(reference) -> None:
    x = np.concatenate([-np.linspace(0.0, 700.0, 200_001), -np.linspace(0.0, 40.0, 400_001)])
    ours = reference._exp(x)
    exact = np.array([math.exp(v) for v in x.tolist()])
    assert np.max(np.abs(ours / exact - 1.0)) < 1e-15  # math.exp's own error is below 1 ulp (1.1e-16)
    assert reference._exp(np.array([0.0]))[0] == 1.0  # the row maximum's term is exactly 1


def test_an_identical_pair_has_exactly_zero_kl() -> None:
    base, _ = _rows(5, 4, 1031)
    assert np.array_equal(logit_rows.pair_kl(logit_rows.pair_stats(base, base.copy())), np.zeros(4))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_nan_or_positive_infinity_makes_the_rows_partition_sum_non_finite(bad: float, reference) -> None:
    base, subj = _rows(2, 3, 64)
    base[1, 9] = bad
    for stats in (logit_rows.pair_stats(base, subj), reference.pair_stats(base, subj)):
        assert not math.isfinite(stats[1, 1]) and not math.isfinite(stats[1, 4])
        assert np.isfinite(stats[[0, 2]]).all()  # the other rows are untouched


def test_rows_of_two_shapes_or_not_two_dimensional_are_refused() -> None:
    base, subj = _rows(1, 2, 16)
    with pytest.raises(UsageError, match="the baseline's logits are 16 wide and the subject's 8"):
        logit_rows.pair_stats(base, subj[:, :8])
    with pytest.raises(ValueError, match="2-D"):
        logit_rows.row_stats(base[0])


def test_the_kernel_refuses_a_buffer_of_the_wrong_size() -> None:
    if logit_rows.KERNEL != "compiled":
        pytest.skip("kernel not built here")
    base, _ = _rows(1, 2, 16)
    with pytest.raises(ValueError, match="out holds"):
        logit_rows._compiled.row_stats(base, 2, 16, np.empty((1, 2)))
    with pytest.raises(ValueError, match="logits holds"):
        logit_rows._compiled.row_stats(base, 3, 16, np.empty((3, 2)))
    for rows, vocab in ((-1, 16), (2, 0), (2**61, 16), (2, 2**61)):  # never multiplied past Py_ssize_t
        with pytest.raises(ValueError, match="rows must be >= 0 and vocab > 0"):
            logit_rows._compiled.pair_stats(base, base, rows, vocab, np.empty((2, 5)))


def _spots(vocab: int, count: int) -> list[int]:
    """Where _tied_rows puts its largest values: from the row's end (the tail block) backwards, 67 apart, so in
    as many 64-element blocks as the row has."""
    spots = [(vocab - 1 - 67 * k) % vocab for k in range(count)]
    assert len(set(spots)) == count
    return spots


def _tied_rows(vocab: int) -> np.ndarray:
    """Rows whose top-5 each case below plants (the rest well below them), one row per case."""
    rows = (np.random.default_rng(vocab).standard_normal((7, vocab)) - 20.0).astype(np.float32)
    top = np.float32([9.0, 8.0, 7.0, 6.0, 5.0, 4.0])
    spots = _spots(vocab, 6)
    free = [i for i in range(vocab) if i not in spots][:2]
    for row in rows:
        row[spots] = top
    rows[1, free[0]] = 9.0  # two equal maxima
    rows[2, free[0]] = 4.0  # the 6th largest twice: ties below the top-5 do not matter
    rows[3, free[1]] = 5.0  # the 5th and 6th largest equal
    rows[4, free[1]] = np.nan  # NaN: a non-finite partition sum
    rows[5, :] = -np.inf  # only six finite logits
    rows[5, spots] = top
    rows[6, spots[0]] = np.float32(-0.0)  # a -0.0 and a +0.0 among the top-5 compare equal
    rows[6, spots[1]] = np.float32(0.0)
    return rows


@pytest.mark.parametrize("vocab", [49_152, 49_157, 8, 71, 64 * 6 + 3])
def test_the_top5_is_found_only_where_the_six_largest_are_distinct(vocab: int, reference) -> None:
    rows = _tied_rows(vocab)
    spots = _spots(vocab, 5)
    _, top = reference.pair_stats_top(rows, rows[::-1].copy())
    assert top[0, 0].tolist() == spots and top[5, 0].tolist() == spots
    assert top[2, 0].tolist() == spots  # the 7th largest tying the 6th leaves the top-5 unambiguous
    assert (top[[1, 3, 4, 6], 0] == -1).all()
    assert np.array_equal(top[:, 1], top[::-1, 0])  # the subject's rows likewise


@pytest.mark.parametrize("vocab", [49_152, 49_157, 8, 71, 64 * 6 + 3, 5, 1])
def test_the_kernels_top5_is_the_references(vocab: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if logit_rows.KERNEL != "compiled":
        pytest.skip("kernel not built here")
    base = _tied_rows(vocab) if vocab > 6 else np.arange(vocab, dtype=np.float32)[None].repeat(7, 0)
    subj = np.concatenate([_rows(vocab, 3, vocab)[0], base[:4]])[: len(base)]
    compiled = logit_rows.pair_stats_top(base, subj)
    monkeypatch.setattr(logit_rows, "_compiled", None)
    expected = logit_rows.pair_stats_top(base, subj)
    assert np.array_equal(compiled[0], expected[0], equal_nan=True)  # the NaN row's sums are NaN
    assert np.array_equal(compiled[1], expected[1])
    assert np.array_equal(compiled[0], logit_rows.pair_stats(base, subj), equal_nan=True)  # pair_stats' pass
    if vocab <= 5:
        assert (compiled[1] == -1).all()  # at most five logits: nothing to rank against a sixth


@settings(max_examples=40, deadline=None)
@given(st.integers(6, 300), st.integers(0, 2**32 - 1), st.floats(1e-3, 60.0), st.integers(0, 3))
def test_any_rows_give_the_references_top5(vocab: int, seed: int, spread: float, coarse: int) -> None:
    if logit_rows.KERNEL != "compiled":
        pytest.skip("kernel not built here")
    base, subj = _rows(seed, 4, vocab, spread)
    if coarse:  # values on a coarse grid: ties among the largest are common
        base, subj = np.round(base * coarse) / coarse, np.round(subj * coarse) / coarse
    compiled = logit_rows.pair_stats_top(base, subj)[1]
    kernel, logit_rows._compiled = logit_rows._compiled, None
    try:
        assert np.array_equal(compiled, logit_rows.pair_stats_top(base, subj)[1])
    finally:
        logit_rows._compiled = kernel
    for found, row in ((compiled[:, 0], base), (compiled[:, 1], subj)):
        for indices, values in zip(found, row, strict=True):
            if indices[0] >= 0:  # distinct: the one exact answer
                assert indices.tolist() == np.argsort(-values, kind="stable")[:5].tolist()
