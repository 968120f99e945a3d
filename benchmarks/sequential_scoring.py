"""Scoring one model at a time (the default on the CPU since 0.3.6) against lockstep and against the bare forward
passes, on the same batches of the int8 preset in one process, the three ways alternating batch by batch so that a
drift of the machine's speed falls on all of them:

- `floor`: per batch, both models' bare `module(input_ids).logits` (benchmarks/interleaved_floor.timed_pass);
- `sequential`: the baseline's kept reference (`kept_reference().keep(batch)`: its body, the hidden states written to
  the temporary file) then `reference.score_pair(subject, batch)` (the subject's forward pass, both heads, the paired
  reductions), as a sequential run's baseline pass and scoring do;
- `lockstep`: `baseline.score_pair(subject, batch)` (both models held).

Prints each way's seconds, `sequential/floor`, `lockstep/floor` and `sequential/lockstep`, and checks that both ways
gave the same PairedScores, every bit. The baseline is not released (the models are shared by the three ways); the
subject is the int8 `quant_rtn` copy of it that `invarlock run` makes.

Usage:
    python benchmarks/sequential_scoring.py --windows 48 --threads 2
    python benchmarks/sequential_scoring.py --windows 16 --json
"""

from __future__ import annotations

import sys
import time
from typing import Any

import torch
from bench_output import cpu_model, emit
from interleaved_floor import timed_pass
from kl_overhead import models_and_windows, parse_args

WAYS = ("floor", "sequential", "lockstep")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], windows=48)
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline, subject, windows = models_and_windows(args.config, args.windows)
    size = baseline.batch_size
    batches = [windows[start : start + size] for start in range(0, len(windows), size)]
    reference = baseline.kept_reference()
    try:
        seconds, pairs = timed_ways(baseline, subject, reference, batches[:1])  # warm-up: first-call allocations
        seconds, pairs = timed_ways(baseline, subject, reference, batches)
    finally:
        reference.close()
    if pairs["sequential"] != pairs["lockstep"]:
        sys.exit("one model at a time gave other PairedScores than lockstep")
    result = {
        "windows": len(windows),
        "batch_size": size,
        "threads": torch.get_num_threads(),
        "machine": cpu_model(),
        **{f"{way}_s": round(seconds[way], 3) for way in WAYS},
        "sequential/floor": round(seconds["sequential"] / seconds["floor"], 4),
        "lockstep/floor": round(seconds["lockstep"] / seconds["floor"], 4),
        "sequential/lockstep": round(seconds["sequential"] / seconds["lockstep"], 4),
        "same_evidence": True,
    }
    emit(result, args.json)


def timed_ways(
    baseline: Any, subject: Any, reference: Any, batches: list[list[Any]]
) -> tuple[dict[str, float], dict[str, list[Any]]]:
    """Each way's seconds over `batches`, the order of the ways reversed from one batch to the next, and the pairs
    of the two scoring ways."""
    seconds = dict.fromkeys(WAYS, 0.0)
    pairs: dict[str, list[Any]] = {"sequential": [], "lockstep": []}
    for index, batch in enumerate(batches):
        for way in WAYS if index % 2 == 0 else WAYS[::-1]:
            start = time.perf_counter()
            if way == "floor":
                ids = torch.tensor([w.tokens for w in batch], dtype=torch.long)
                with torch.inference_mode():
                    timed_pass(baseline, ids)
                    timed_pass(subject, ids)
            elif way == "sequential":
                reference.keep(batch)
                pairs[way] += list(reference.score_pair(subject, batch))
            else:
                pairs[way] += list(baseline.score_pair(subject, batch))
            seconds[way] += time.perf_counter() - start
    return seconds, pairs


if __name__ == "__main__":
    main()
