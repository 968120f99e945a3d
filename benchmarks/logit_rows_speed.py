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
  where no C compiler was found at install time.

It prints each path's milliseconds per window, `kernel / torch`, and the largest differences between the
paths' NLL sums and KL sums (the paths round differently; kernel and reference must agree bit for bit).

Usage:
    python benchmarks/logit_rows_speed.py --windows 8 --threads 2
    python benchmarks/logit_rows_speed.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from invarlock.application.certification import planning
from invarlock.application.certification.input_steps import load_options
from invarlock.cli.bootstrap import build_services
from invarlock.cli.config_file import load_config
from invarlock.domain.windows import TokenWindow

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs/presets/causal_lm/quant_rtn_int8.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--windows", type=int, default=8, help="windows reduced (default 8)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the process")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def models_and_windows(args: argparse.Namespace) -> tuple[Any, Any, list[TokenWindow]]:
    cfg = load_config(str(args.config))
    svc = build_services(events=tempfile.mkdtemp(prefix="logit_rows_speed_") + "/events.duckdb")
    m, ds = cfg.model, cfg.dataset
    baseline = svc.loader.load(m.id, load_options(m, cfg.eval.batch_size))
    subject = svc.loader.load(m.id, load_options(m, cfg.eval.batch_size))
    if cfg.edit is not None:
        svc.edits[cfg.edit.name].apply(subject, cfg.edit.plan)
    corpus = svc.corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split)
    planned, rows = planning.plan(corpus, baseline.tokenizer(), ds, allow_fewer=True)
    ids = [w.window_id for w in planned.plan.windows if w.arm in ("preview", "final")][: args.windows]
    return baseline, subject, [TokenWindow(window_id=i, tokens=tuple(int(t) for t in rows[i])) for i in ids]


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

    if first:  # warm-up: first-call allocations and the pool's threads
        new(), old()
    out: dict[str, Any] = {}
    out["new"], out["kernel"] = timed(new)
    out["old"], out["torch"] = timed(old)
    if first:
        kernel, logit_rows._compiled = logit_rows._compiled, None
        try:
            out["ref"], out["reference"] = timed(new)
        finally:
            logit_rows._compiled = kernel
    return out


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline, subject, windows = models_and_windows(args)
    # the adapters' modules, found where the loaded runner put them (adapters come only through cli.bootstrap)
    mods = {name: sys.modules[f"invarlock.adapters.{name}"] for name in ("hf_kl", "hf_nll", "logit_rows")}
    seconds = {"kernel": 0.0, "torch": 0.0, "reference": 0.0}
    nll_diff = kl_diff = 0.0
    bits_equal = True
    for n, window in enumerate(windows):
        ids = torch.tensor(window.tokens)
        with torch.inference_mode():
            base = baseline.causal_logits(ids[None])[0, :-1]
            subj = subject.causal_logits(ids[None])[0, :-1]
            out = reduce_window(mods, window, base, subj, first=n == 0)
        for key in seconds:
            seconds[key] += out.get(key, 0.0)
        new, (nll_b, nll_s, comparison) = out["new"], out["old"]
        bits_equal = bits_equal and out.get("ref", new) == new
        nll_diff = max(nll_diff, abs(new.baseline.nll_sum - nll_b) / nll_b, abs(new.subject.nll_sum - nll_s) / nll_s)
        kl_diff = max(kl_diff, abs(new.comparison.kl_sum - comparison.kl_sum) / comparison.kl_sum)
    per_window = {k: round(1e3 * v / (len(windows) if k != "reference" else 1), 2) for k, v in seconds.items()}
    result = {
        "windows": len(windows),
        "positions": len(windows[0].tokens) - 1,
        "kernel_ms": per_window["kernel"],
        "torch_ms": per_window["torch"],
        "reference_ms": per_window["reference"],
        "kernel/torch": round(seconds["kernel"] / seconds["torch"], 3),
        "nll_rel_diff_max": nll_diff,
        "kl_sum_rel_diff_max": kl_diff,
        "kernel_equals_reference": bits_equal,
        "logit_rows": mods["logit_rows"].KERNEL,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
