"""InlineMeasurementPool: the MeasurementPool port in the calling thread, recording how many items each map
measured (a use case that measures through its pool shows up in `mapped`)."""

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

    def map(self, measure: Callable[[Item], Result], items: Iterable[Item]) -> list[Result]:
        results = [measure(item) for item in items]
        self.mapped.append(len(results))
        return results
