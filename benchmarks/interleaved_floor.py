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

One model at a time (`eval.sequential`, the default where it can): the baseline's pass keeps each chunk's hidden
states (baseline_pass._keep_arm) while only the baseline is loaded, and the subject's scoring pairs them with the
subject's afterwards, so each role's floor runs where its model is held: the baseline's passes after each chunk
it kept (their block taken out of the `baseline_pass` step), the subject's after each chunk it scored (out of
`scoring`). A chunk's ratio is then the baseline's kept chunk plus the subject's scored chunk of the same windows
over their two floors.

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

from invarlock.application.certification import baseline_pass, pair_scoring


@dataclass
class InterleavedFloor:
    """Seconds of the bare forward passes run after each scored (or kept) chunk, per role, and of the whole blocks
    per certify step they interrupted."""

    by_role: dict[str, float] = field(default_factory=lambda: {"baseline": 0.0, "subject": 0.0})
    block_by_step: dict[str, float] = field(default_factory=lambda: {"baseline_pass": 0.0, "scoring": 0.0})
    passes: int = 0
    windows: dict[str, int] = field(default_factory=lambda: {"baseline": 0, "subject": 0})
    batch_size: int = 0
    device: Any = None
    chunks: list[tuple[float, float]] = field(default_factory=list)  # (scoring s, floor s) per scored chunk
    kept: list[tuple[float, float]] = field(default_factory=list)  # one model at a time: the baseline's, per chunk

    @property
    def seconds(self) -> float:
        return sum(self.by_role.values())

    @property
    def block_s(self) -> float:
        return sum(self.block_by_step.values())

    def chunk_ratios(self) -> dict[str, float]:
        """Quartiles of the per-chunk ratio of certify's passes to the floor passes timed right after them (one
        model at a time: the baseline's k-th kept chunk with the subject's k-th scored chunk, the same windows): a
        burst of the machine's drift moves a few chunks, not the median."""
        kept = zip(self.kept, self.chunks, strict=True)  # the same chunks (certify_overhead checks the windows)
        pairs = [(k + s, fk + fs) for (k, fk), (s, fs) in kept] if self.kept else self.chunks
        ratios = sorted(spent / floor for spent, floor in pairs)
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        return {"q1": round(q[0], 4), "median": round(q[1], 4), "q3": round(q[2], 4), "chunks": len(ratios)}

    def run(self, models: dict[str, Any], chunk: Sequence[Any], step: str) -> float:
        """The chunk's floor passes of `models` (by role), inside certify's `step`; returns their seconds."""
        import torch

        started, before = time.perf_counter(), self.seconds
        size = self.batch_size = next(iter(models.values())).batch_size
        self.device = next(iter(models.values())).device
        with torch.inference_mode():
            for start in range(0, len(chunk), size):
                rows = [w.tokens for w in chunk[start : start + size]]
                for role, model in models.items():
                    self.by_role[role] += timed_pass(model, torch.tensor(rows, dtype=torch.long, device=model.device))
                    self.passes += 1
        for role in models:
            self.windows[role] += len(chunk)
        self.block_by_step[step] += time.perf_counter() - started
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
    """While the block runs, every chunk the in-process scorer scores is followed by its floor passes (of the
    models it holds: the subject alone when the baseline's side is kept), and every chunk a sequential run's
    baseline keeps by the baseline's."""
    original, original_keep = pair_scoring.InProcessPairScorer.score_batches, baseline_pass._keep_arm

    def score_batches(self: Any, batches: Iterable[Sequence[Any]], progress: Any = None) -> Iterator[Any]:
        drawn: list[Sequence[Any]] = []

        def remembered() -> Iterator[Sequence[Any]]:
            for batch in batches:
                drawn.append(batch)
                yield batch

        held = {r: m for r, m in (("baseline", self._baseline), ("subject", self._subject)) if hasattr(m, "module")}
        scored = original(self, remembered(), progress)
        while True:
            t0 = time.perf_counter()
            pairs = next(scored, None)
            if pairs is None:
                return
            seconds = time.perf_counter() - t0
            floor.chunks.append((seconds, floor.run(held, drawn[-1], "scoring")))
            yield pairs

    def keep_arm(ctx: Any, keeping: Any, arm: str) -> None:
        original_keep(ctx, _FloorAfterKeeping(keeping, ctx.models["baseline"], floor), arm)

    pair_scoring.InProcessPairScorer.score_batches = score_batches  # type: ignore[method-assign]
    baseline_pass._keep_arm = keep_arm
    try:
        yield floor
    finally:
        pair_scoring.InProcessPairScorer.score_batches = original  # type: ignore[method-assign]
        baseline_pass._keep_arm = original_keep


class _FloorAfterKeeping:
    """A sequential run's kept reference whose every `keep` of a chunk is followed by the baseline's floor passes
    of that chunk (the model still held)."""

    def __init__(self, keeping: Any, model: Any, floor: InterleavedFloor) -> None:
        self._keeping, self._model, self._floor = keeping, model, floor

    @property
    def batch_size(self) -> int:
        return int(self._keeping.batch_size)

    def keep(self, windows: Sequence[Any], progress: Any = None) -> None:
        t0 = time.perf_counter()
        self._keeping.keep(windows, progress)
        seconds = time.perf_counter() - t0
        self._floor.kept.append((seconds, self._floor.run({"baseline": self._model}, windows, "baseline_pass")))
