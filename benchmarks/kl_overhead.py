"""KL / top-1 overhead: the share of lockstep scoring spent on the secondary metrics' paired measures.

What is measured, in one process, on the int8 preset's models and windows (or a config given with --config):

1. The baseline and its edited subject are loaded by the loader and the edit of `cli.bootstrap`'s Services;
   the preview and final windows are planned with the product's planning.
2. `baseline.score_pair(subject, windows)` runs over the first `--windows` windows in the adapter's batches,
   exactly as certify's scoring step calls it; the wall of the whole call is `lockstep`.
3. Inside it, every reduction of `hf_kl.blocks_paired_score` (both models' NLL sums, the float64 KL, histogram,
   top-1 and top-5 of one window, from both logit tensors in memory: on CPU one logit_rows pass per row pair) is
   timed with `time.perf_counter`: the reduction of each row block (`hf_kl._reduced`) and the window's summary
   (`hf_kl._paired`), not the LM head's calls that make the blocks in between; their sum is `reduce`. (Before
   0.3.0 the NLL sums were outside the timed call.)

`reduce / lockstep` is the share of scoring the reductions after the forward passes take; scoring is 97.7 % of
the certify wall of the int8 preset (535.2 s of 548.0 s, docs/performance.md), so `reduce / lockstep` bounds the
share of the whole certification from above. Issue target: at most 3 % of certify time.

Usage:
    python benchmarks/kl_overhead.py                   # 32 windows of the int8 preset (seq_len 256)
    python benchmarks/kl_overhead.py --windows 16 --threads 2 --json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from bench_output import emit, machine, run_main
from invarlock.application.certification import planning
from invarlock.application.certification.input_steps import load_options
from invarlock.cli.bootstrap import build_services
from invarlock.cli.config_file import load_config
from invarlock.domain.windows import TokenWindow
from scratch import scratch_dir

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs/presets/causal_lm/quant_rtn_int8.yaml"
TARGET_SHARE = 0.03


def parse_args(description: str = __doc__.splitlines()[0], windows: int = 32) -> argparse.Namespace:
    """--config (default: the int8 preset), --windows, --threads and --json: this script's, and those of the other
    scripts that score the preset's first windows (sequential_scoring.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--windows", type=int, default=windows, help=f"windows scored (default {windows})")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the process")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


class TimedComparison:
    """Wraps the reductions `hf_kl.blocks_paired_score` calls (`_reduced` per row block, `_paired` per window),
    summing the seconds inside. The module is found from the loaded runner, not imported: adapters come only
    through cli.bootstrap."""

    NAMES = ("_reduced", "_paired")

    def __init__(self, hf_kl: Any) -> None:
        self.module, self.inner = hf_kl, {name: getattr(hf_kl, name) for name in self.NAMES}
        self.seconds = 0.0
        self.calls = 0  # windows

    def __enter__(self) -> TimedComparison:
        for name, inner in self.inner.items():
            setattr(self.module, name, self._timed(inner, count=name == "_paired"))
        return self

    def __exit__(self, *_: object) -> None:
        for name, inner in self.inner.items():
            setattr(self.module, name, inner)

    def _timed(self, inner: Any, count: bool) -> Any:
        def call(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += count

        return call


def models_and_windows(config: Path, count: int, batch_size: int | None = None) -> tuple[Any, Any, list[TokenWindow]]:
    """The config's baseline, its edited subject (both by the loader and edit of cli.bootstrap's Services,
    loaded with `batch_size`, else the config's; the subject a copy on write of the baseline, as `invarlock run`
    makes it) and the first `count` preview/final windows of its plan."""
    cfg = load_config(str(config))
    svc = build_services(events=str(scratch_dir("invarlock_bench_") / "events.duckdb"))
    m, ds = cfg.model, cfg.dataset
    batch = batch_size or cfg.eval.batch_size
    baseline = svc.loader.load(m.id, load_options(m, batch))
    subject = baseline.duplicate() or svc.loader.load(m.id, load_options(m, batch))
    if cfg.edit is not None:
        svc.edits[cfg.edit.name].apply(subject, cfg.edit.plan)
    corpus = svc.corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split)
    planned, rows = planning.plan(corpus, baseline.tokenizer(), ds, allow_fewer=True)
    ids = [w.window_id for w in planned.plan.windows if w.arm in ("preview", "final")][:count]
    return baseline, subject, [TokenWindow(window_id=i, tokens=tuple(int(t) for t in rows[i])) for i in ids]


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline, subject, windows = models_and_windows(args.config, args.windows)
    seq_len = len(windows[0].tokens)
    list(baseline.score_pair(subject, windows[: baseline.batch_size]))  # warm-up: first-call allocations
    with TimedComparison(sys.modules["invarlock.adapters.hf_kl"]) as timed:
        start = time.perf_counter()
        pairs = list(baseline.score_pair(subject, windows))
        lockstep = time.perf_counter() - start
    assert timed.calls == len(pairs), "every window's reduction was timed"
    share = timed.seconds / lockstep
    result = {
        "windows": len(pairs),
        "seq_len": seq_len,
        "batch_size": baseline.batch_size,
        "device": str(baseline.device),
        "threads": torch.get_num_threads(),
        "lockstep_s": round(lockstep, 3),
        "reduce_s": round(timed.seconds, 3),
        "reduce_share": round(share, 4),
        "logit_rows": sys.modules["invarlock.adapters.logit_rows"].KERNEL,
        "target": TARGET_SHARE,
        "machine": machine(),
        "torch": torch.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    emit(result, args.json)
    if not args.json:
        print(
            f"NLL + KL/top-k share of lockstep scoring: {100 * share:.2f} % (KL target <= {100 * TARGET_SHARE:.0f} %)"
        )


if __name__ == "__main__":
    run_main(main)
