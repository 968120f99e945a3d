"""The per-window reductions spread over threads by row chunk (adapters/reduce_pool.py) give the bits one thread
gives: both NLL sums, the KL, its histogram and top-k of a window are equal whatever torch's thread count, on the
CPU kernel's path and on the torch path a GPU takes, and the pool keeps the chunks' order and gives torch its
thread count back."""

from __future__ import annotations

import threading

import pytest
import torch
from invarlock.adapters import reduce_pool
from invarlock.adapters.hf_kl import paired_score, window_comparison
from invarlock.adapters.hf_nll import window_nll
from invarlock.domain.windows import TokenWindow

pytestmark = pytest.mark.hf

VOCAB = 49_152  # the demo model's: a multiple of the top-k block, so the blockwise top-5 path runs


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _logits(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(rows, VOCAB, generator=gen) * 3
    return base, base + torch.randn(rows, VOCAB, generator=gen) * 0.05


@pytest.mark.parametrize("rows", [255, 37, 1])
def test_a_window_compares_to_the_same_bits_on_one_thread_and_on_several(torch_threads: None, rows: int) -> None:
    base, subj = _logits(rows, seed=rows)
    ids = torch.randint(0, VOCAB, (rows + 1,), generator=torch.Generator().manual_seed(rows))
    window = TokenWindow(window_id=4, tokens=tuple(ids.tolist()))
    torch.set_num_threads(1)
    serial, serial_torch = paired_score(window, ids, base, subj), window_comparison(4, base, subj)
    for threads in (2, 3):
        torch.set_num_threads(threads)
        assert paired_score(window, ids, base, subj) == serial  # frozen Structs: every float compared with ==
        assert window_comparison(4, base, subj) == serial_torch
        assert torch.get_num_threads() == threads
    comparison = serial.comparison
    assert comparison is not None and comparison.positions == rows and comparison.kl_sum > 0
    assert sum(comparison.kl_histogram or ()) == rows
    # each model's NLL in the pair has the bits of that model's logits scored alone
    assert serial.baseline is not None and serial.baseline.nll_sum == window_nll(base, ids[1:], 4)
    assert serial.subject is not None and serial.subject.nll_sum == window_nll(subj, ids[1:], 4)


def test_chunks_come_back_in_order_from_several_threads(torch_threads: None) -> None:
    torch.set_num_threads(2)
    seen: set[str] = set()

    def square(start: int) -> int:
        seen.add(threading.current_thread().name)
        assert torch.get_num_threads() == 1  # each chunk runs torch on one thread
        return start * start

    starts = list(range(0, 400, 16))
    assert reduce_pool.chunk_map(torch.device("cpu"), square, starts) == [s * s for s in starts]
    assert seen and all(name.startswith("invarlock-reduce") for name in seen)
    assert torch.get_num_threads() == 2


def test_one_thread_reduces_in_the_caller(torch_threads: None) -> None:
    torch.set_num_threads(1)
    names = reduce_pool.chunk_map(torch.device("cpu"), lambda _s: threading.current_thread().name, [0, 16])
    assert names == [threading.current_thread().name] * 2


def test_a_chunk_that_fails_raises_in_the_caller_and_restores_the_threads(torch_threads: None) -> None:
    torch.set_num_threads(2)

    def fail_at_32(start: int) -> int:
        if start == 32:
            raise ValueError("chunk 32")
        return start

    with pytest.raises(ValueError, match="chunk 32"):
        reduce_pool.chunk_map(torch.device("cpu"), fail_at_32, [0, 16, 32, 48])
    assert torch.get_num_threads() == 2


def test_each_thread_keeps_its_own_scratch_buffer() -> None:
    cpu = torch.device("cpu")
    mine = reduce_pool.scratch("t", (2, 3), torch.float64, cpu)
    assert reduce_pool.scratch("t", (2, 3), torch.float64, cpu) is mine
    assert reduce_pool.scratch("t", (2, 4), torch.float64, cpu) is not mine
    other: list[torch.Tensor] = []
    worker = threading.Thread(target=lambda: other.append(reduce_pool.scratch("t", (2, 4), torch.float64, cpu)))
    worker.start()
    worker.join()
    assert other[0] is not reduce_pool.scratch("t", (2, 4), torch.float64, cpu)
