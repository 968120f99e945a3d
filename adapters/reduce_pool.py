"""The vocabulary-wide reductions of one window (NLL partition sums, KL, top-k) spread over CPU threads by
row chunk. Every row is reduced on its own, so which thread reduces a chunk never changes a bit: the chunks'
results come back in order and the caller combines them in that order, exactly as a serial loop would.

Why threads and one torch thread each: these are many small ops over 16-row chunks, which ran 5-10x slower
with torch's own intra-op threads on a loaded 2-core machine (every op waits for every thread), while one
chunk per thread keeps each core busy with whole ops (the KL of a 255-row window: 74 ms on one thread,
38 ms on two, same bits). The pool has as many threads as torch was given for the forward passes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

T = TypeVar("T")
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_scratch = threading.local()


def chunk_map(device: torch.device, fn: Callable[[int], T], starts: Sequence[int]) -> list[T]:
    """[fn(s) for s in starts], in order: on a CPU device spread over as many threads as torch's intra-op
    thread count, each running torch with one thread; elsewhere (a GPU) in this thread."""
    if device.type != "cpu":
        return [fn(s) for s in starts]
    with _one_torch_thread() as workers:
        if workers < 2 or len(starts) < 2:
            return [fn(s) for s in starts]
        return list(_executor(workers).map(fn, starts))


def scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """This thread's reusable uninitialised buffer for `name` (fresh vocabulary-wide tensors per chunk would
    cost page faults at every chunk); reallocated when the shape, dtype or device asked for changes."""
    held = _scratch.__dict__.setdefault("buffers", {})
    buffer = held.get(name)
    if buffer is None or (tuple(buffer.shape), buffer.dtype, buffer.device) != (shape, dtype, device):
        buffer = held[name] = torch.empty(shape, dtype=dtype, device=device)
    return buffer


@contextmanager
def _one_torch_thread() -> Iterator[int]:
    """torch's intra-op threads set to one for the duration; yields the count it had (the pool's size)."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield 1
        return
    torch.set_num_threads(1)
    try:
        yield threads
    finally:
        torch.set_num_threads(threads)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != workers:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool, _pool_size = ThreadPoolExecutor(workers, thread_name_prefix="invarlock-reduce"), workers
        return _pool
