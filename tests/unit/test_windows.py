"""Window planning: non-overlapping, deduplicated, disjoint arms, deterministic, capacity errors."""

from __future__ import annotations

import itertools
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain.arm_counts import ArmCounts, arm_floors, fit_counts
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.windows import TokenWindow, cut_windows, plan_windows, token_count, window_digest


def _stream(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 50_000, n).astype(np.uint32)


def test_windows_are_non_overlapping_spans_of_the_stream():
    stream = _stream(1000)
    rows = cut_windows(stream, 64, 64)
    assert rows.shape == (15, 64)
    assert np.array_equal(rows[3], stream[192:256])


def test_overlapping_stride_is_refused():
    with pytest.raises(UsageError, match="overlap"):
        cut_windows(_stream(100), 32, 16)


@pytest.mark.parametrize("seq_len, stride", [(256, 10**30), (10**30, 10**30), (2**31 + 1, 2**31 + 1)])
def test_a_window_beyond_any_context_length_is_e201_not_an_overflow(seq_len: int, stride: int):
    with pytest.raises(UsageError, match="above 2147483648 tokens") as caught:
        cut_windows(_stream(1000), seq_len, stride)
    assert caught.value.code == "E201"


def test_a_window_longer_than_the_stream_allocates_nothing_of_its_length():
    # seq_len 2**31 once cost a 16 GiB index (and ~50 s of page faults) before finding no window fits.
    tracemalloc.start()
    try:
        rows = cut_windows(_stream(1000), 2**31, 2**31)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows.shape == (0, 2**31)
    assert peak < 1 << 20


def test_duplicate_windows_are_dropped_and_counted():
    block = _stream(32)
    stream = np.concatenate([block, block, _stream(32 * 20, 1)])
    plan, _ = plan_windows(
        stream,
        seq_len=32,
        stride=32,
        counts=ArmCounts(preview=4, final=4),
        seed=1,
        dataset="d",
        tokenizer_sha256="t",
        allow_fewer=False,
    )
    assert plan.duplicates_dropped == 1
    assert len({w.digest for w in plan.windows}) == len(plan.windows)


def test_arms_are_disjoint_sized_as_asked_and_deterministic():
    stream = _stream(64 * 100)
    counts = ArmCounts(preview=10, final=20, calibration=5)
    a, rows = plan_windows(
        stream, seq_len=64, stride=64, counts=counts, seed=3, dataset="x", tokenizer_sha256="t", allow_fewer=False
    )
    b, _ = plan_windows(
        stream, seq_len=64, stride=64, counts=counts, seed=3, dataset="x", tokenizer_sha256="t", allow_fewer=False
    )
    c, _ = plan_windows(
        stream, seq_len=64, stride=64, counts=counts, seed=4, dataset="x", tokenizer_sha256="t", allow_fewer=False
    )
    assert a == b and a.window_plan_digest != c.window_plan_digest
    assert [len(a.arm(x)) for x in ("preview", "final", "calibration")] == [10, 20, 5]
    assert len({w.window_id for w in a.windows}) == 35
    assert all(window_digest(rows[w.window_id]) == w.digest for w in a.windows)


def test_too_few_windows_is_e303_unless_dev_allows_fewer():
    stream = _stream(64 * 10)
    counts = ArmCounts(preview=8, final=8)
    with pytest.raises(AbortError) as err:
        plan_windows(
            stream, seq_len=64, stride=64, counts=counts, seed=0, dataset="x", tokenizer_sha256="t", allow_fewer=False
        )
    assert err.value.code == "E303"
    plan, _ = plan_windows(
        stream, seq_len=64, stride=64, counts=counts, seed=0, dataset="x", tokenizer_sha256="t", allow_fewer=True
    )
    assert plan.approximate_counts and len(plan.windows) <= 10


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 40), st.integers(2, 40), st.integers(0, 1000))
def test_planned_windows_never_share_tokens(p, f, seed):
    stream = _stream(16 * (p + f + 5), seed)
    plan, _ = plan_windows(
        stream,
        seq_len=16,
        stride=16,
        counts=ArmCounts(preview=p, final=f),
        seed=seed,
        dataset="x",
        tokenizer_sha256="t",
        allow_fewer=False,
    )
    starts = sorted(w.window_id * 16 for w in plan.windows)
    assert all(b - a >= 16 for a, b in itertools.pairwise(starts))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    preview=st.integers(2, 300),
    final=st.integers(2, 300),
    calibration=st.integers(0, 40),
    available=st.integers(0, 700),
)
def test_dev_shrinks_the_arms_proportionally_keeping_two_windows_each(
    preview: int, final: int, calibration: int, available: int
) -> None:
    counts = ArmCounts(preview=preview, final=final, calibration=calibration)
    floors = arm_floors(counts)
    if available < min(counts.total, sum(floors)):
        with pytest.raises(AbortError) as err:
            fit_counts(counts, available, allow_fewer=True)
        assert err.value.code == "E303" and f"at least {sum(floors)}" in err.value.message
        return
    got = fit_counts(counts, available, allow_fewer=True)
    if available >= counts.total:
        assert got == counts
        return
    wanted = (preview, final, calibration)
    sizes = (got.preview, got.final, got.calibration)
    assert sum(sizes) == available
    for size, want, floor in zip(sizes, wanted, floors, strict=True):
        assert floor <= size <= want
        # The windows beyond the floors are shared in proportion to what each arm asked beyond its floor.
        quota = Fraction((available - sum(floors)) * (want - floor), counts.total - sum(floors))
        assert abs(size - floor - quota) < 1


def test_the_reviewed_dev_plan_keeps_two_final_windows() -> None:
    got = fit_counts(ArmCounts(preview=100, final=2), 5, allow_fewer=True)
    assert (got.preview, got.final) == (3, 2)
    with pytest.raises(AbortError, match="at least 4"):
        fit_counts(ArmCounts(preview=100, final=2), 3, allow_fewer=True)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(2, 60), st.integers(2, 60), st.integers(0, 10), st.integers(4, 40), st.integers(0, 1000))
def test_every_arm_of_a_shrunk_plan_has_the_size_fit_counts_gives(p, f, c, windows, seed):
    counts = ArmCounts(preview=p, final=f, calibration=c)
    if windows < sum(arm_floors(counts)):
        return
    plan, _ = plan_windows(
        _stream(16 * windows, seed),
        seq_len=16,
        stride=16,
        counts=counts,
        seed=seed,
        dataset="x",
        tokenizer_sha256="t",
        allow_fewer=True,
    )
    want = fit_counts(counts, plan.windows_available, allow_fewer=True)
    assert [len(plan.arm(a)) for a in ("preview", "final", "calibration")] == [
        want.preview,
        want.final,
        want.calibration,
    ]
    assert min(len(plan.arm("preview")), len(plan.arm("final"))) >= 2


def test_token_count_adds_stream_rows_and_labelled_examples() -> None:
    rows = {0: np.arange(5), 1: TokenWindow(window_id=1, tokens=(1, 2, 3), label=0), 2: np.arange(7)}
    assert token_count([0, 1], rows) == 8 and token_count([2, 0, 1], rows) == 15 and token_count([], rows) == 0
