"""The MeasurementPool contract, run against the threaded adapter (one worker and several) and the fake."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from invarlock.adapters.measurement_threads import ThreadMeasurementPool
from invarlock.ports.measurement import MeasurementPool

from tests.fakes.measurement import InlineMeasurementPool

POOLS: dict[str, Callable[[], MeasurementPool]] = {
    "threads-1": lambda: ThreadMeasurementPool(workers=1),
    "threads-3": lambda: ThreadMeasurementPool(workers=3),
    "inline": InlineMeasurementPool,
}


@pytest.fixture(params=sorted(POOLS))
def pool(request: pytest.FixtureRequest) -> MeasurementPool:
    return POOLS[request.param]()


def test_results_come_back_in_the_items_order(pool: MeasurementPool) -> None:
    assert pool.map(lambda i: i * i, iter(range(20))) == [i * i for i in range(20)]


def test_no_items_map_to_no_results(pool: MeasurementPool) -> None:
    assert pool.map(lambda i: i, []) == []


def test_items_are_read_in_the_calling_thread(pool: MeasurementPool) -> None:
    caller, readers = threading.get_ident(), set()

    def items():
        for i in range(6):
            readers.add(threading.get_ident())
            yield i

    pool.map(lambda i: i, items())
    assert readers == {caller}


def test_a_measurement_error_propagates(pool: MeasurementPool) -> None:
    def odd_fails(i: int) -> int:
        if i % 2:
            raise ArithmeticError(f"item {i}")
        return i

    with pytest.raises(ArithmeticError, match="item 1"):
        pool.map(odd_fails, range(5))


def test_each_measurement_runs_on_at_least_one_blas_thread(pool: MeasurementPool) -> None:
    assert pool.blas_threads >= 1


def test_a_pinned_measurement_runs_in_the_calling_thread_and_returns_its_result(pool: MeasurementPool) -> None:
    caller = threading.get_ident()
    assert pool.pinned(lambda: (threading.get_ident(), 42)) == (caller, 42)


def test_the_threaded_pool_pins_the_blas_of_a_single_measurement_too() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    assert blas_threads(), "numpy loads a BLAS"
    assert ThreadMeasurementPool(blas_threads=1).pinned(blas_threads) == {1}
