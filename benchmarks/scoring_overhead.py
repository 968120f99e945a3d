"""Lockstep scoring wall over the bare forward passes, and today's whole-batch-logits path against the
one-window-at-a-time head (adapters/causal_rows.py), on the same windows in one process.

Three ways of scoring the same batches of the int8 preset (baseline and its quant_rtn subject), interleaved
for `--rounds` rounds, the fastest round of each kept (the machine may be loaded: ratios, not seconds):
- `floor`: per batch, both models' bare `module(input_ids).logits` (the forward passes incl. the LM head);
- `full`: lockstep scoring from the batch's full logits (both models' (batch, positions, vocab) held, then
  reduced: NLL sums, KL, top-k), i.e. the path before causal_rows, through runners that only give logits;
- `split`: `baseline.score_pair(subject, windows)` as certify calls it (the body once per batch, the head
  per window into one logits tensor per batch and model, each window reduced before the next one's logits
  are made);
- `apart`: as `split`, but each model's head called on its own window's rows (before 2026-12-02; `split` makes
  both models' logits of a window in one matmul when the subject's head is the baseline's tensor, as the int8
  edit of a copy on write leaves it: causal_rows.window_logit_pairs);
- `fresh`: as `split`, but each head call makes a fresh logits tensor (`module.lm_head(rows)`, 0.3.0): what
  writing every window's logits into one tensor saves;
- `group<g>` for each g of `--head-groups`: as `split`, but each head call makes the logits of g windows at
  once (GroupedHead below; g windows' logits alive per model): what grouping windows for the LM head would buy.
Prints each wall and `full/floor - 1`, `split/floor - 1` (the scoring overhead; issue target ≤ 3 %),
`apart/split`, `fresh/split` and `group<g>/split`. Every way's pairs are checked equal to `split`'s (the head
gives a row the same bits in any grouping of >= 16 rows, causal_rows.py).

Usage:
    python benchmarks/scoring_overhead.py --windows 16 --threads 1 --rounds 3 [--json]
    python benchmarks/scoring_overhead.py --windows 48 --threads 2 --rounds 2 --head-groups 2,4
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from bench_output import emit, run_main
from kl_overhead import DEFAULT_CONFIG, models_and_windows


class FullLogits:
    """A runner that only gives the batch's whole logits: lockstep scoring then reduces views of them."""

    def __init__(self, runner: Any) -> None:
        self.causal_logits = runner.causal_logits


class FreshHead:
    """A split-head runner whose head is the model's LM head module itself: a fresh logits tensor per call."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.causal_logits = runner.causal_logits

    def causal_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        hidden, _ = self.runner.causal_hidden(ids)
        return hidden, self.runner.module.get_output_embeddings()


class ApartHead:
    """A split-head runner whose head is called on its own (not a causal_rows.HeldHead, so never stacked with
    the other model's): the per-window heads as they ran before window_logit_pairs."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.causal_logits = runner.causal_logits

    def causal_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        hidden, head = self.runner.causal_hidden(ids)
        return hidden, lambda rows: head(rows)


class GroupedHead:
    """A split-head runner whose head, called for window k of a batch (in order, as causal_rows does), makes
    the logits of windows k..k+g-1 in one call when k is a multiple of g and hands out their slices."""

    def __init__(self, runner: Any, group: int) -> None:
        self.runner, self.group = runner, group
        self.causal_logits = runner.causal_logits

    def causal_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
        hidden, head = self.runner.causal_hidden(ids)
        calls, held = [0], [torch.empty(0)]

        def grouped(rows: torch.Tensor) -> torch.Tensor:
            k, n = calls[0], rows.shape[0]
            calls[0] += 1
            if k % self.group == 0:
                block = hidden[k : k + self.group, :-1]
                held[0] = head(block.reshape(-1, block.shape[-1]))
            at = (k % self.group) * n
            return held[0][at : at + n]

        return hidden, grouped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--windows", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the process")
    parser.add_argument("--head-groups", default="", help="comma-separated g > 1: also time the head over g windows")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    groups = [int(g) for g in args.head_groups.split(",") if g]
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline, subject, windows = models_and_windows(args.config, args.windows)
    lockstep_pairs = sys.modules[type(baseline).__module__].lockstep_pairs
    size = baseline.batch_size
    batches = [torch.tensor([w.tokens for w in windows[i : i + size]]) for i in range(0, len(windows), size)]

    def floor() -> None:
        with torch.inference_mode():
            for ids in batches:
                _ = baseline.module(input_ids=ids, use_cache=False).logits
                _ = subject.module(input_ids=ids, use_cache=False).logits

    ways: dict[str, Callable[[], Any]] = {
        "floor": floor,
        "full": lambda: list(lockstep_pairs(FullLogits(baseline), FullLogits(subject), windows, size, None)),
        "split": lambda: list(baseline.score_pair(subject, windows)),
        "apart": lambda: list(lockstep_pairs(ApartHead(baseline), ApartHead(subject), windows, size, None)),
        "fresh": lambda: list(lockstep_pairs(FreshHead(baseline), FreshHead(subject), windows, size, None)),
    }
    for g in groups:
        pair = GroupedHead(baseline, g), GroupedHead(subject, g)
        ways[f"group{g}"] = lambda pair=pair: list(lockstep_pairs(*pair, windows, size, None))
    reference = ways["split"]()  # also the warm-up
    assert all(ways[name]() == reference for name in ways if name not in ("floor", "split")), "scoring paths disagree"
    best = dict.fromkeys(ways, float("inf"))
    for _ in range(args.rounds):
        for name, way in ways.items():
            start = time.perf_counter()
            way()
            best[name] = min(best[name], time.perf_counter() - start)
    result = {
        "windows": len(windows),
        "seq_len": len(windows[0].tokens),
        "batch_size": size,
        "threads": torch.get_num_threads(),
        **{f"{name}_s": round(seconds, 3) for name, seconds in best.items()},
        "full_overhead": round(best["full"] / best["floor"] - 1, 4),
        "split_overhead": round(best["split"] / best["floor"] - 1, 4),
        "split_over_full": round(best["split"] / best["full"], 4),
        "apart/split": round(best["apart"] / best["split"], 4),
        "fresh/split": round(best["fresh"] / best["split"], 4),
        **{f"group{g}/split": round(best[f"group{g}"] / best["split"], 4) for g in groups},
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}",
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    emit(result, args.json)


if __name__ == "__main__":
    run_main(main)
