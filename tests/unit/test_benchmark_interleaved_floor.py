"""benchmarks/interleaved_floor.py times the floor inside a certify run: one model at a time, the baseline's floor
passes follow each chunk its pass keeps (while it is held) and count against that step, and a chunk's ratio pairs
the baseline's kept chunk with the subject's scored chunk of the same windows."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from invarlock.application.certification import baseline_pass, pair_scoring

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from interleaved_floor import InterleavedFloor, _FloorAfterKeeping, interleaved


class RecordingModule:
    """A model body that records the id tensors it is called with."""

    def __init__(self) -> None:
        self.calls: list[list[list[int]]] = []

    def __call__(self, input_ids: Any, use_cache: bool) -> SimpleNamespace:
        assert use_cache is False
        self.calls.append(input_ids.tolist())
        return SimpleNamespace(logits=None)


class RecordingKeeping:
    """A kept reference that records the chunks it keeps."""

    batch_size = 2

    def __init__(self) -> None:
        self.kept: list[tuple[list[Any], Any]] = []

    def keep(self, windows: list[Any], progress: Any = None) -> None:
        self.kept.append((list(windows), progress))


def _windows(*ids: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(window_id=i, tokens=[i, i + 1, i + 2]) for i in ids]


def test_a_kept_chunk_is_followed_by_the_baselines_floor_passes_counted_in_its_pass() -> None:
    torch = pytest.importorskip("torch")  # the floor passes are torch tensors; the newest-Python lane has none
    module, keeping, floor = RecordingModule(), RecordingKeeping(), InterleavedFloor()
    model = SimpleNamespace(module=module, batch_size=2, device=torch.device("cpu"))
    chunk, progress = _windows(1, 5, 9), object()
    timed = _FloorAfterKeeping(keeping, model, floor)
    assert timed.batch_size == 2
    timed.keep(chunk, progress)
    assert keeping.kept == [(chunk, progress)]
    assert module.calls == [[[1, 2, 3], [5, 6, 7]], [[9, 10, 11]]]  # the model's batches, the last one short
    assert floor.windows == {"baseline": 3, "subject": 0}
    assert floor.passes == 2 and floor.by_role["subject"] == 0.0 and floor.by_role["baseline"] > 0.0
    assert floor.block_by_step["baseline_pass"] > 0.0 and floor.block_by_step["scoring"] == 0.0
    assert len(floor.kept) == 1 and floor.chunks == []


def test_a_chunks_ratio_pairs_the_kept_chunk_with_the_scored_one() -> None:
    # the baseline's chunk 3 s over a floor of 1 s, the subject's 1 s over 3 s: together 4 s over 4 s
    sequential = InterleavedFloor(kept=[(3.0, 1.0)] * 3, chunks=[(1.0, 3.0)] * 3)
    assert sequential.chunk_ratios() == {"q1": 1.0, "median": 1.0, "q3": 1.0, "chunks": 3}
    lockstep = InterleavedFloor(chunks=[(1.0, 3.0)] * 3)
    assert lockstep.chunk_ratios()["median"] == round(1 / 3, 4)


def test_the_hooks_are_gone_afterwards() -> None:
    originals = (pair_scoring.InProcessPairScorer.score_batches, baseline_pass._keep_arm)
    with interleaved(InterleavedFloor()):
        assert baseline_pass._keep_arm is not originals[1]
        assert pair_scoring.InProcessPairScorer.score_batches is not originals[0]
    assert (pair_scoring.InProcessPairScorer.score_batches, baseline_pass._keep_arm) == originals
