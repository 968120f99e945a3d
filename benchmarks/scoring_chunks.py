"""Scoring calls of a multiple of the batch size against the old 16-window calls, at a batch size of 32 windows
per forward pass (the default on accelerators), in one process.

A runner pads the last pass of each call to its batch size (window_batches.token_ids), so when the pipeline handed it
16 windows per call (scoring.EVENT_BATCH) a runner of 32 ran every pass half full of padding. Since then it
hands chunk_size(32) = 32 windows per call. Both ways score the same `--windows` windows of the int8 preset
(the demo model and its quant_rtn edit, both loaded with `--batch-size`), call after call in alternating order
for `--rounds` rounds; the pairs must be equal bit for bit (a window's bits depend on its tokens and the batch
size only). Prints each wall and `chunked/sixteen`.

Usage:
    python benchmarks/scoring_chunks.py --windows 64 --batch-size 32 --threads 2
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from bench_output import emit, machine
from invarlock.application.certification.scoring import chunk_size
from kl_overhead import DEFAULT_CONFIG, models_and_windows

OLD_CALL = 16


def _calls(baseline: Any, subject: Any, windows: list[Any], size: int) -> tuple[list[Any], float]:
    start, pairs = time.perf_counter(), []
    for i in range(0, len(windows), size):
        pairs.extend(baseline.score_pair(subject, windows[i : i + size]))
    return pairs, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline, subject, windows = models_and_windows(DEFAULT_CONFIG, args.windows, batch_size=args.batch_size)
    sizes = {"sixteen": OLD_CALL, "chunked": chunk_size(baseline.batch_size)}
    walls = dict.fromkeys(sizes, 0.0)
    results: dict[str, list[Any]] = {}
    for n in range(args.rounds):
        for name in sizes if n % 2 == 0 else reversed(list(sizes)):
            results[name], seconds = _calls(baseline, subject, windows, sizes[name])
            walls[name] += seconds
    assert results["sixteen"] == results["chunked"], "the two chunkings gave other bits"
    result = {
        "windows": len(windows),
        "batch_size": baseline.batch_size,
        "call_sizes": sizes,
        **{f"{name}_s": round(seconds, 2) for name, seconds in walls.items()},
        "chunked/sixteen": round(walls["chunked"] / walls["sixteen"], 4),
        "machine": machine(),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
