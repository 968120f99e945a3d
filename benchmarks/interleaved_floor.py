"""The forward floor timed inside a certification, batch by batch, for benchmarks/certify_overhead.py
`--interleave`.

Why: on a VM whose speed drifts by the minute, a floor replayed after certify (or between two certifies,
`--bracket`) lands the drift on the ratio whole (two bracketed runs an hour apart: 1.114 and 1.215). Here, each
time the pipeline's in-process scorer has scored a chunk of windows (`InProcessPairScorer.score_batches`, one
chunk per recorded WindowsScored pair), the same windows are run again through both models' bare
`module(input_ids=batch, use_cache=False).logits` under `torch.inference_mode`, in the model's batches (the
last one as short as the chunk leaves it: the padding is certify's, not the floor's), baseline then subject,
and timed. The floor is then the sum of those passes, each taken seconds after the scoring it is compared
with, and the seconds of the whole interleaved block (tensors built, passes run) are taken out of the certify
wall and of its scoring step.

What this does not cancel: the drift over the steps outside scoring (guards, loads, tokenizing; about 6 % of
the wall), and the interleaved passes' effect on certify's caches (the weights do not fit any cache, so little).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from invarlock.application.certification import pair_scoring


@dataclass
class InterleavedFloor:
    """Seconds of the bare forward passes run after each scored chunk, per role, and of the whole blocks."""

    by_role: dict[str, float] = field(default_factory=lambda: {"baseline": 0.0, "subject": 0.0})
    block_s: float = 0.0
    passes: int = 0
    windows: int = 0
    batch_size: int = 0
    device: Any = None
    chunks: list[tuple[float, float]] = field(default_factory=list)  # (lockstep scoring s, floor s) per chunk

    @property
    def seconds(self) -> float:
        return sum(self.by_role.values())

    def chunk_ratios(self) -> dict[str, float]:
        """Quartiles of the per-chunk ratio of lockstep scoring to the floor passes timed right after it: a
        burst of the machine's drift moves a few chunks, not the median."""
        ratios = sorted(scored / floor for scored, floor in self.chunks)
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        return {"q1": round(q[0], 4), "median": round(q[1], 4), "q3": round(q[2], 4), "chunks": len(ratios)}

    def run(self, models: dict[str, Any], chunk: Sequence[Any]) -> float:
        """The chunk's floor passes; returns their seconds."""
        import torch

        started, before = time.perf_counter(), self.seconds
        size = self.batch_size = models["baseline"].batch_size
        self.device = models["baseline"].device
        with torch.inference_mode():
            for start in range(0, len(chunk), size):
                rows = [w.tokens for w in chunk[start : start + size]]
                for role, model in models.items():
                    self.by_role[role] += timed_pass(model, torch.tensor(rows, dtype=torch.long, device=model.device))
                    self.passes += 1
        self.windows += len(chunk)
        self.block_s += time.perf_counter() - started
        return self.seconds - before


def timed_pass(model: Any, ids: Any) -> float:
    """Seconds of one bare forward pass, `model.module(input_ids=ids, use_cache=False).logits`, under the
    caller's `torch.inference_mode`, synchronised on an accelerator (both floors time passes with it)."""
    import torch

    _sync(torch, model.device)
    t0 = time.perf_counter()
    model.module(input_ids=ids, use_cache=False).logits  # noqa: B018
    _sync(torch, model.device)
    return time.perf_counter() - t0


def _sync(torch: Any, device: Any) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def interleaved(floor: InterleavedFloor) -> Iterator[InterleavedFloor]:
    """While the block runs, every chunk the in-process scorer scores is followed by its floor passes."""
    original = pair_scoring.InProcessPairScorer.score_batches

    def score_batches(self: Any, batches: Iterable[Sequence[Any]], progress: Any = None) -> Iterator[Any]:
        drawn: list[Sequence[Any]] = []

        def remembered() -> Iterator[Sequence[Any]]:
            for batch in batches:
                drawn.append(batch)
                yield batch

        scored = original(self, remembered(), progress)
        while True:
            t0 = time.perf_counter()
            pairs = next(scored, None)
            if pairs is None:
                return
            seconds = time.perf_counter() - t0
            floor_s = floor.run({"baseline": self._baseline, "subject": self._subject}, drawn[-1])
            floor.chunks.append((seconds, floor_s))
            yield pairs

    pair_scoring.InProcessPairScorer.score_batches = score_batches  # type: ignore[method-assign]
    try:
        yield floor
    finally:
        pair_scoring.InProcessPairScorer.score_batches = original  # type: ignore[method-assign]
