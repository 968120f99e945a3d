"""A FakeModel that counts how many of the matrices it hands out are alive at once (the WeightSource
streaming checks: a consumer that keeps every matrix drives the peak up to the model's matrix count)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from tests.fakes.models import FakeMatrix, FakeModel


@dataclass
class AliveMatrices:
    """Matrices handed out (`handed`), alive now (`alive`) and the most alive at one moment (`peak`)."""

    handed: int = 0
    alive: int = 0
    peak: int = 0

    def track(self, array: np.ndarray) -> None:
        self.handed += 1
        self.alive += 1
        self.peak = max(self.peak, self.alive)
        weakref.finalize(array, self._freed)

    def _freed(self) -> None:
        self.alive -= 1


class CountingFakeModel(FakeModel):
    """A FakeModel whose `matrices()` registers every array it yields with the class's `tracker` (a class
    attribute: FakeLoader builds each loaded model anew from the registered one's fields)."""

    tracker: ClassVar[AliveMatrices]

    def matrices(self) -> Iterator[FakeMatrix]:
        for matrix in super().matrices():
            self.tracker.track(matrix.array)
            yield matrix


def counting_model_class(tracker: AliveMatrices) -> type[CountingFakeModel]:
    """A CountingFakeModel subclass bound to `tracker`."""
    return type("TrackedFakeModel", (CountingFakeModel,), {"tracker": tracker})


def blocks_of_weights(blocks: int, size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Random (size, size) float32 weights, four per block: attention q and o, FFN up and down."""
    rng = np.random.default_rng(seed)
    names = [f"{kind}.{b}.{part}" for b in range(blocks) for kind, part in (("attn", "q"), ("attn", "o"))]
    names += [f"ffn.{b}.{part}" for b in range(blocks) for part in ("up", "down")]
    return {name: rng.standard_normal((size, size)).astype(np.float32) for name in names}
