"""InlineMeasurementPool: the MeasurementPool port in the calling thread, recording how many items each map
measured and how many single measurements ran pinned (a use case that measures through its pool shows up in
`mapped` or `pinned_calls`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class InlineMeasurementPool:
    blas_threads: int = 1
    mapped: list[int] = field(default_factory=list)
    pinned_calls: int = 0

    def pinned(self, measure: Callable[[], Result]) -> Result:
        self.pinned_calls += 1
        return measure()

    def map(self, measure: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
        results = [measure(item) for item in items]
        self.mapped.append(len(results))
        return results
