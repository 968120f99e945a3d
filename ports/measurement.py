"""Where the weight guards' matrix measurements execute: with how many BLAS threads each, and side by side.

A matrix measurement (domain/guards/spectrum.py) is a Gram product and an eigendecomposition: its bits depend
on how many threads the BLAS splits them over, so certify and the re-execution audit measure through one
`MeasurementPool` that fixes that number whatever the machine's core count (docs/assurance/guards.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class MeasurementPool(Protocol):
    """Runs independent numpy measurements concurrently, each under the same fixed BLAS thread count."""

    @property
    def blas_threads(self) -> int:
        """BLAS threads each measurement runs with (recorded as `guard_blas_threads` in the environment)."""
        ...

    def pinned(self, measure: Callable[[], Result]) -> Result:
        """`measure()` in the calling thread under the same fixed BLAS thread count: a measurement that is not
        a map over matrices (a plugin guard's, which reads both models itself)."""
        ...

    def map(self, measure: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
        """`measure(item)` for every item, results in the items' order.

        `items` is consumed in the calling thread, a few items ahead of the measurements (models hand out
        their matrices lazily); `measure` runs on worker threads and must touch no shared mutable state.
        The first exception a measurement raises propagates once the measurements already started end."""
        ...
