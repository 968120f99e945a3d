"""The per-window reductions after the forward passes: the logit-row kernel against 0.2.0's torch ops, one run.

What is measured, in one process, on real logits: the int8 preset's baseline and its int8 `quant_rtn` subject
(loaded by the loader and edit of `cli.bootstrap`'s Services) score the first `--windows` windows of the preset's
plan; for each window both models' logits (positions 0..L-2, the 49 152-token vocabulary) are computed once,
then reduced three ways, each timed with `time.perf_counter` on the same tensors:

- `kernel`: `hf_kl.paired_score`, what lockstep scoring runs on CPU since 0.3.0: one `logit_rows` pass per row
  pair (both NLL sums and the float64 KL), top-5 of each model, over the reduce_pool threads;
- `torch`: what 0.2.0 ran on CPU and a GPU still runs: `hf_nll`'s torch partition sums for each model on
  torch's threads plus `hf_kl.window_comparison` (float64 KL in torch ops, top-5) over the reduce_pool threads;
- `reference` (first window only): `paired_score` with the kernel taken away, the numpy reference that runs
  where no C compiler was found at install time;
- `torch top-5`: `paired_score` with 0.3.0's top-5, every row's from `hf_kl._top` (torch ops on 16-row chunks)
  instead of the kernel's pass (`logit_rows.pair_stats_top`); the results must be the same.

Also the LM head on one window's rows (the baseline's `causal_rows.reusing_output`), into a fresh tensor per
call (0.3.0: one per batch) against the tensor the model keeps: the median of `--windows` calls each.

It prints each path's milliseconds per window, `kernel / torch`, and the largest differences between the
paths' NLL sums and KL sums (the paths round differently; kernel and reference must agree bit for bit).

With `--lockstep-windows N`, also the whole lockstep scoring step, A/B: `baseline.score_pair(subject, batch)`
(forward passes, per-window heads, reductions: what certify's scoring runs) over N windows, each batch scored
once with each reduction (the lockstep module's `blocks_paired_score` swapped for 0.2.0's torch reductions, every
window's head in one call, i.e. `causal_rows.rows_per_call` answering None, for both), the order
alternating batch by batch so that a drift of the machine's speed falls on both; `lockstep kernel / torch` is
the ratio of the two walls.

Usage:
    python benchmarks/logit_rows_speed.py --windows 8 --threads 2
    python benchmarks/logit_rows_speed.py --windows 8 --lockstep-windows 32 --threads 2
    python benchmarks/logit_rows_speed.py --json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_output import emit, machine, run_main
from invarlock.domain.windows import TokenWindow
from kl_overhead import models_and_windows

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs/presets/causal_lm/quant_rtn_int8.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--windows", type=int, default=8, help="windows reduced (default 8)")
    parser.add_argument("--lockstep-windows", type=int, default=0, help="A/B of whole lockstep scoring (0: skip)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the process")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def reduce_window(mods: dict[str, Any], window: TokenWindow, base: Any, subj: Any, first: bool) -> dict[str, Any]:
    """One window's logits reduced by each path: results and seconds (the reference on the first window only)."""
    hf_kl, hf_nll, logit_rows = mods["hf_kl"], mods["hf_nll"], mods["logit_rows"]
    ids = torch.tensor(window.tokens)

    def new() -> Any:
        return hf_kl.paired_score(window, ids, base, subj)

    def old() -> tuple[float, float, Any]:
        nll_b = hf_nll._device_window_nll(base, ids[1:], window.window_id)
        nll_s = hf_nll._device_window_nll(subj, ids[1:], window.window_id)
        return nll_b, nll_s, hf_kl.window_comparison(window.window_id, base, subj)

    def blockwise() -> Any:
        found, hf_kl.pair_stats_top = hf_kl.pair_stats_top, torch_top5(logit_rows)
        try:
            return hf_kl.paired_score(window, ids, base, subj)
        finally:
            hf_kl.pair_stats_top = found

    if first:  # warm-up: first-call allocations and the pool's threads
        new(), old(), blockwise()
    out: dict[str, Any] = {}
    out["new"], out["kernel"] = timed(new)
    out["blockwise"], out["torch_top5"] = timed(blockwise)
    out["old"], out["torch"] = timed(old)
    if first:
        kernel, logit_rows._compiled = logit_rows._compiled, None
        try:
            out["ref"], out["reference"] = timed(new)
        finally:
            logit_rows._compiled = kernel
    return out


def torch_top5(logit_rows: Any) -> Any:
    """A pair_stats_top that finds no row's top-5 (all -1), so that paired_score takes every row's from _top."""

    def none_found(base: np.ndarray, subj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        stats = logit_rows.pair_stats(base, subj)
        return stats, np.full((len(stats), 2, 5), -1, dtype=np.int64)

    return none_found


def head_ms(baseline: Any, windows: list[TokenWindow], causal_rows: Any) -> dict[str, float]:
    """Median milliseconds of the baseline's head on one window's hidden rows: into a fresh tensor, into a kept one."""
    head, kept = causal_rows.split_head(baseline.module), []
    calls: dict[str, list[float]] = {"fresh": [], "kept": []}
    with torch.inference_mode():
        for window in windows:
            hidden, _ = baseline.causal_hidden(torch.tensor(window.tokens)[None])
            rows = hidden[0, :-1]
            for name, held in (("fresh", None), ("kept", kept)):
                calls[name].append(timed(lambda held=held, rows=rows: causal_rows.reusing_output(head, held)(rows))[1])
    return {f"head_{name}_ms": round(1e3 * float(np.median(times)), 2) for name, times in calls.items()}


def torch_paired_score(mods: dict[str, Any]) -> Any:
    """0.2.0's reductions of one window as a drop-in for hf_kl.paired_score (the torch path)."""
    from invarlock.domain.model import PairedScore, WindowScore

    hf_kl, hf_nll = mods["hf_kl"], mods["hf_nll"]

    def paired(window: TokenWindow, ids: torch.Tensor, base: torch.Tensor, subj: torch.Tensor) -> PairedScore:
        scored = len(window.tokens) - 1
        nll_b = hf_nll._device_window_nll(base, ids[1:], window.window_id)
        nll_s = hf_nll._device_window_nll(subj, ids[1:], window.window_id)
        return PairedScore(
            window_id=window.window_id,
            baseline=WindowScore(window_id=window.window_id, tokens_scored=scored, nll_sum=nll_b),
            subject=WindowScore(window_id=window.window_id, tokens_scored=scored, nll_sum=nll_s),
            comparison=hf_kl.window_comparison(window.window_id, base, subj),
        )

    return paired


def lockstep_ab(baseline: Any, subject: Any, windows: list[TokenWindow], mods: dict[str, Any]) -> dict[str, Any]:
    """Seconds of `score_pair` over `windows` with each reduction, batch by batch in alternating order."""
    lockstep = sys.modules[type(baseline).__module__]
    lockstep = sys.modules[lockstep.lockstep_pairs.__module__]
    causal_rows = mods["causal_rows"]
    per_call = causal_rows.rows_per_call
    paths = {"kernel": lockstep.blocks_paired_score, "torch": one_block(torch_paired_score(mods))}
    walls = {"kernel": 0.0, "torch": 0.0}
    size = baseline.batch_size
    causal_rows.rows_per_call = lambda vocab: None  # each window in one block: 0.2.0's reductions take whole windows
    try:
        list(baseline.score_pair(subject, windows[:size]))  # warm-up
        for n, start in enumerate(range(0, len(windows), size)):
            batch = windows[start : start + size]
            for name in ("kernel", "torch") if n % 2 == 0 else ("torch", "kernel"):
                lockstep.blocks_paired_score = paths[name]
                _, seconds = timed(lambda batch=batch: list(baseline.score_pair(subject, batch)))
                walls[name] += seconds
    finally:
        lockstep.blocks_paired_score, causal_rows.rows_per_call = paths["kernel"], per_call
    return {
        "lockstep_windows": len(windows),
        "lockstep_kernel_s": round(walls["kernel"], 2),
        "lockstep_torch_s": round(walls["torch"], 2),
        "lockstep kernel/torch": round(walls["kernel"] / walls["torch"], 4),
    }


def one_block(paired: Any) -> Any:
    """`paired(window, ids, base, subj)` as blocks_paired_score calls it, for a window given as one row block."""

    def of_blocks(window: TokenWindow, ids: torch.Tensor, blocks: Any) -> Any:
        (base, subj), rest = next(blocks), next(blocks, None)
        assert rest is None, "one block per window"
        return paired(window, ids, base, subj.to(base.device))

    return of_blocks


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline, subject, windows = models_and_windows(args.config, max(args.windows, args.lockstep_windows))
    # the adapters' modules, found where the loaded runner put them (adapters come only through cli.bootstrap)
    mods = {
        name: sys.modules[f"invarlock.adapters.{name}"] for name in ("hf_kl", "hf_nll", "logit_rows", "causal_rows")
    }
    seconds = {"kernel": 0.0, "torch_top5": 0.0, "torch": 0.0, "reference": 0.0}
    nll_diff = kl_diff = 0.0
    bits_equal = True
    for n, window in enumerate(windows[: args.windows]):
        ids = torch.tensor(window.tokens)
        with torch.inference_mode():
            base = baseline.causal_logits(ids[None])[0, :-1]
            subj = subject.causal_logits(ids[None])[0, :-1]
            out = reduce_window(mods, window, base, subj, first=n == 0)
        for key in seconds:
            seconds[key] += out.get(key, 0.0)
        new, (nll_b, nll_s, comparison) = out["new"], out["old"]
        bits_equal = bits_equal and out.get("ref", new) == new and out["blockwise"] == new
        nll_diff = max(nll_diff, abs(new.baseline.nll_sum - nll_b) / nll_b, abs(new.subject.nll_sum - nll_s) / nll_s)
        kl_diff = max(kl_diff, abs(new.comparison.kl_sum - comparison.kl_sum) / comparison.kl_sum)
    count = min(len(windows), args.windows)
    per_window = {k: round(1e3 * v / (count if k != "reference" else 1), 2) for k, v in seconds.items()}
    result = {
        "windows": count,
        "positions": len(windows[0].tokens) - 1,
        "kernel_ms": per_window["kernel"],
        "kernel_torch_top5_ms": per_window["torch_top5"],
        "torch_ms": per_window["torch"],
        "reference_ms": per_window["reference"],
        "kernel/torch": round(seconds["kernel"] / seconds["torch"], 3),
        "nll_rel_diff_max": nll_diff,
        "kl_sum_rel_diff_max": kl_diff,
        "kernel_equals_reference_and_torch_top5": bits_equal,
        "logit_rows": mods["logit_rows"].KERNEL,
        "threads": torch.get_num_threads(),
        "machine": machine(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    result.update(head_ms(baseline, windows[: args.windows], sys.modules["invarlock.adapters.causal_rows"]))
    if args.lockstep_windows:
        result.update(lockstep_ab(baseline, subject, windows[: args.lockstep_windows], mods))
    emit(result, args.json)


if __name__ == "__main__":
    run_main(main)
