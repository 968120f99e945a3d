"""causal_rows.reusing_output: a plain linear LM head writes every call's logits into one tensor, with the bits
of the module's own call; any other head, or a call that autograd records, is the module's call."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.hf

from invarlock.adapters.causal_rows import (  # noqa: E402  (needs torch)
    HEAD_ROWS,
    MIN_ROWS,
    reusing_output,
    row_blocks,
    rows_per_call,
    window_logit_pairs,
)

HIDDEN, VOCAB = 24, 320


def _head(bias: bool = False, dtype: torch.dtype = torch.float32) -> torch.nn.Linear:
    torch.manual_seed(3)
    return torch.nn.Linear(HIDDEN, VOCAB, bias=bias).to(dtype)


def _rows(count: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(count, HIDDEN, generator=torch.Generator().manual_seed(seed)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_call_writes_the_modules_bits_into_one_tensor(dtype: torch.dtype) -> None:
    head = _head(dtype=dtype)
    applied = reusing_output(head)
    with torch.inference_mode():
        first = applied(_rows(17, 1, dtype))
        assert torch.equal(first, head(_rows(17, 1, dtype)))
        second = applied(_rows(17, 2, dtype))
        assert second.data_ptr() == first.data_ptr()
        assert torch.equal(second, head(_rows(17, 2, dtype)))
        assert torch.equal(first, second)  # the first call's logits are overwritten: reduce before the next call


def test_fewer_rows_fill_the_first_rows_of_the_tensor_and_more_rows_get_a_larger_one() -> None:
    """A window's row blocks (causal_rows.row_blocks) differ by a row: no new tensor per block."""
    head = _head()
    applied = reusing_output(head)
    with torch.inference_mode():
        first = applied(_rows(17, 1))
        shorter = applied(_rows(5, 2))
        assert shorter.shape == (5, VOCAB) and shorter.data_ptr() == first.data_ptr()
        assert torch.equal(shorter, head(_rows(5, 2)))
        longer = applied(_rows(18, 3))
        assert longer.shape == (18, VOCAB) and torch.equal(longer, head(_rows(18, 3)))
        assert applied(_rows(17, 4)).data_ptr() == longer.data_ptr()


def test_a_head_with_a_bias_or_hooks_is_called_as_it_is() -> None:
    biased = _head(bias=True)
    assert reusing_output(biased) is biased
    hooked = _head()
    handle = hooked.register_forward_hook(lambda *_: None)
    assert reusing_output(hooked) is hooked
    handle.remove()
    assert reusing_output(hooked) is not hooked
    accelerated = _head()
    accelerated._hf_hook = object()  # accelerate's device hook: its forward moves the rows first
    assert reusing_output(accelerated) is accelerated
    identity = torch.nn.Identity()  # not a Linear
    assert reusing_output(identity) is identity


def test_a_call_with_autograd_on_gets_a_fresh_tensor() -> None:
    head = _head()
    applied = reusing_output(head)
    with torch.enable_grad():  # whatever mode earlier tests in the process left
        logits = applied(_rows(17, 1))
        assert logits.requires_grad
        assert torch.equal(logits, head(_rows(17, 1)))


def test_a_callers_list_keeps_the_tensor_between_callables() -> None:
    head, held = _head(), []
    with torch.inference_mode():
        first = reusing_output(head, held)(_rows(17, 1))
        second = reusing_output(head, held)(_rows(17, 2))  # the next batch's head: no new pages
        assert second.data_ptr() == first.data_ptr() and len(held) == 1 and held[0].data_ptr() == first.data_ptr()
        assert torch.equal(second, head(_rows(17, 2)))
        shorter = reusing_output(head, held)(_rows(5, 3))
        assert len(held) == 1 and held[0].data_ptr() == shorter.data_ptr() and torch.equal(shorter, head(_rows(5, 3)))


class _Runner:
    """A recorded-state split-head runner: a fixed body output and a plain linear head kept as HFCausalModel
    keeps it; its full logits are never asked for when the head splits off."""

    def __init__(self, hidden: torch.Tensor, head: torch.nn.Linear) -> None:
        self.hidden, self.head, self.held = hidden, head, []

    def causal_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        return self.hidden, reusing_output(self.head, self.held)

    def causal_logits(self, ids: torch.Tensor) -> torch.Tensor:
        raise AssertionError("the head splits off: no full logits")


WINDOWS, POSITIONS = 3, 18  # 17 rows per window: above MIN_ROWS


def _hidden(seed: int) -> torch.Tensor:
    return torch.randn(WINDOWS, POSITIONS, HIDDEN, generator=torch.Generator().manual_seed(seed))


def _pairs(mine: _Runner, other: _Runner) -> list[tuple[torch.Tensor, torch.Tensor]]:
    ids = torch.zeros(WINDOWS, POSITIONS, dtype=torch.long)
    with torch.inference_mode():
        return [(a.clone(), b.clone()) for blocks in window_logit_pairs(mine, other, ids) for a, b in blocks]


def test_one_weight_tensor_makes_both_models_logits_in_one_matmul() -> None:
    head = _head()
    shared = torch.nn.Linear(HIDDEN, VOCAB, bias=False)
    shared.weight = torch.nn.Parameter(head.weight.detach())  # a copy on write's untouched head: same storage
    mine, other = _Runner(_hidden(1), head), _Runner(_hidden(2), shared)
    other.held.append(torch.empty(1))  # a tensor kept from an earlier pass alone: released
    pairs = _pairs(mine, other)
    assert other.held == [] and len(mine.held) == 1 and mine.held[0].shape == (2 * (POSITIONS - 1), VOCAB)
    with torch.inference_mode():
        for i, (a, b) in enumerate(pairs):
            assert torch.equal(a, head(mine.hidden[i, :-1])) and torch.equal(b, head(other.hidden[i, :-1]))


def test_one_head_tensor_in_bfloat16_is_called_apart() -> None:
    """The row-count property is established on CPU float32 only: in another dtype the heads run apart."""
    head = _head(dtype=torch.bfloat16)
    shared = torch.nn.Linear(HIDDEN, VOCAB, bias=False)
    shared.weight = torch.nn.Parameter(head.weight.detach())
    mine = _Runner(_hidden(1).to(torch.bfloat16), head)
    other = _Runner(_hidden(2).to(torch.bfloat16), shared)
    _pairs(mine, other)
    assert [t.shape[0] for t in mine.held + other.held] == [POSITIONS - 1, POSITIONS - 1]


@pytest.mark.parametrize("other_weight", ["equal values", "another dtype", "a bias"])
def test_heads_over_other_tensors_are_called_apart(other_weight: str) -> None:
    head = _head()
    other_head = _head(bias=other_weight == "a bias")
    if other_weight == "another dtype":
        other_head = other_head.to(torch.float64)
    mine, other = _Runner(_hidden(1), head), _Runner(_hidden(2).to(other_head.weight.dtype), other_head)
    pairs = _pairs(mine, other)
    assert len(mine.held) == 1 and mine.held[0].shape == (POSITIONS - 1, VOCAB)
    assert len(other.held) == (0 if other_weight == "a bias" else 1)
    with torch.inference_mode():
        for i, (a, b) in enumerate(pairs):
            assert torch.equal(a, head(mine.hidden[i, :-1])) and torch.equal(b, other_head(other.hidden[i, :-1]))


def test_same_weight_is_the_same_memory_not_equal_values() -> None:
    head = _head()
    same = reusing_output(head)
    assert same.same_weight(reusing_output(head))  # type: ignore[attr-defined]
    cloned = _head()  # the same seed: equal values in other memory
    assert torch.equal(cloned.weight, head.weight)
    assert not same.same_weight(reusing_output(cloned))  # type: ignore[attr-defined]
    transposed = torch.nn.Linear(VOCAB, HIDDEN, bias=False)
    transposed.weight = torch.nn.Parameter(head.weight.detach().t())  # same address, another layout
    assert not same.same_weight(reusing_output(transposed))  # type: ignore[attr-defined]


@pytest.mark.parametrize("most", [None, 64, 85, 128, 170])
def test_row_blocks_cover_a_window_in_near_equal_blocks_a_head_gives_the_same_bits(most: int | None) -> None:
    """Consecutive near-equal blocks of MIN_ROWS to `most` rows (the row-count property holds from MIN_ROWS rows
    up); one block for a window of at most `most` rows, or when `most` is None."""
    for rows in range(0, 4 * HEAD_ROWS + 3):
        blocks = row_blocks(rows, most)
        assert [b[0] for b in blocks] == [0, *(b[1] for b in blocks[:-1])] and blocks[-1][1] == rows
        sizes = [stop - start for start, stop in blocks]
        assert max(sizes) - min(sizes) <= 1
        assert (len(blocks) == 1) is (most is None or rows <= most), rows
        assert len(blocks) == 1 or (min(sizes) >= MIN_ROWS and max(sizes) <= most), rows


def test_rows_per_call_fit_the_heaps_mmap_threshold_or_the_window_is_not_split() -> None:
    assert rows_per_call(49_152) == 170  # the demo's vocabulary: 170 x 49 152 x 4 bytes = 31.9 MiB
    assert rows_per_call(32_000) == 262
    assert rows_per_call(65_536) == HEAD_ROWS
    assert rows_per_call(65_537) is None and rows_per_call(128_256) is None  # fewer than HEAD_ROWS rows fit
