"""MeasurementPool on worker threads with the BLAS pinned by threadpoolctl (numpy releases the GIL in BLAS
and LAPACK calls, so measurements on threads run in parallel)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from threadpoolctl import threadpool_limits

Item = TypeVar("Item")
Result = TypeVar("Result")

# One thread: a single-threaded BLAS reduces in one order on every machine, whatever its core count.
GUARD_BLAS_THREADS = 1
MAX_WORKERS = 8


def default_workers() -> int:
    """The cores this process may run on (at most MAX_WORKERS)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cores or 1))


class ThreadMeasurementPool:
    """Measurements on `workers` threads, every BLAS library of the process limited to `blas_threads`
    threads while they run (the limit is process-wide, so it is set once around the whole map, not per
    thread, and restored after)."""

    def __init__(self, *, blas_threads: int = GUARD_BLAS_THREADS, workers: int | None = None) -> None:
        if blas_threads < 1:
            raise ValueError(f"blas_threads must be at least 1, got {blas_threads}")
        self._blas_threads = blas_threads
        self._workers = workers if workers is not None else default_workers()

    @property
    def blas_threads(self) -> int:
        return self._blas_threads

    @property
    def workers(self) -> int:
        """Measurements run at once (results do not depend on it)."""
        return self._workers

    def pinned(self, measure: Callable[[], Result]) -> Result:
        with threadpool_limits(limits=self._blas_threads, user_api="blas"):
            return measure()

    def map(self, measure: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
        with threadpool_limits(limits=self._blas_threads, user_api="blas"):
            if self._workers == 1:
                return [measure(item) for item in items]
            return self._threaded(measure, items)

    def _threaded(self, measure: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
        results: list[Result] = []
        pending: deque[Future[Result]] = deque()
        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="invarlock-measure") as pool:
            try:
                for item in items:
                    pending.append(pool.submit(measure, item))
                    if len(pending) >= 2 * self._workers:  # bounds the matrices held at once
                        results.append(pending.popleft().result())
                results.extend(future.result() for future in pending)
            finally:
                for future in pending:
                    future.cancel()
        return results
