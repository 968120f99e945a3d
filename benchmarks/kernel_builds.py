"""The logit-row kernel of this tree against the kernel of another git revision, on real logits, in one process.

Both sources (`adapters/_logit_rows.c` of the working tree and of `--against`) are compiled here alike, with the
install's own flags (`-O3 -ffp-contract=off`, function clones as in the source), into a temporary directory. The
int8 preset's baseline and subject (through `cli.bootstrap`'s Services, kl_overhead.models_and_windows) give
each of the first `--windows` windows' logits of both models once; each window is then reduced by
`hf_kl.paired_score` (both NLLs, KL, top-5, over the reduce_pool threads) with one build and with the other, the
order alternating window by window, so a drift of the machine's speed falls on both.

It prints both builds' milliseconds per window pair, `this/against`, the seconds saved on the preset's plan
(`--plan-windows`, 380: 180 preview and 200 final windows) and the largest relative difference between the two
builds' NLL and KL sums (zero when the arithmetic did not change).

Usage:
    python benchmarks/kernel_builds.py --against HEAD~1 --windows 16 --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from bench_output import emit, machine, run_main
from kl_overhead import models_and_windows

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "adapters/_logit_rows.c"
DEFAULT_CONFIG = ROOT / "configs/presets/causal_lm/quant_rtn_int8.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="git revision whose kernel source is compared")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--windows", type=int, default=16, help="windows reduced by each build (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="reductions of each window by each build")
    parser.add_argument("--plan-windows", type=int, default=380, help="window pairs a certification reduces")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the process")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def build(source_text: str, name: str, where: Path) -> Any:
    """The kernel source compiled as module `name` in `where`, imported."""
    source = where / f"{name}.c"
    source.write_text(
        source_text.replace('"_logit_rows"', f'"{name}"').replace("PyInit__logit_rows", f"PyInit_{name}"),
        encoding="utf-8",
    )
    target = where / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
    include = sysconfig.get_paths()["include"]
    flags = ["-O3", "-ffp-contract=off", "-Wno-psabi", "-shared", "-fPIC", f"-I{include}"]
    subprocess.run(["gcc", *flags, str(source), "-o", str(target)], check=True, capture_output=True)
    spec = importlib.util.spec_from_file_location(name, target)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import the build of {name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sources(against: str) -> dict[str, str]:
    old = subprocess.run(["git", "show", f"{against}:{SOURCE}"], cwd=ROOT, capture_output=True, text=True)
    if old.returncode != 0:
        raise SystemExit(f"no {SOURCE} at {against}: {old.stderr.strip()}")
    return {"this": (ROOT / SOURCE).read_text(encoding="utf-8"), "against": old.stdout}


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = sources(args.against)
    baseline, subject, windows = models_and_windows(args.config, args.windows)
    hf_kl, logit_rows = (sys.modules[f"invarlock.adapters.{n}"] for n in ("hf_kl", "logit_rows"))
    installed = logit_rows._compiled
    seconds = {"this": 0.0, "against": 0.0}
    nll_diff = kl_diff = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        builds = {key: build(text, f"_rows_{key}", Path(tmp)) for key, text in texts.items()}
        try:
            for n, window in enumerate(windows):
                ids = torch.tensor(window.tokens)
                with torch.inference_mode():
                    base = baseline.causal_logits(ids[None])[0, :-1]
                    subj = subject.causal_logits(ids[None])[0, :-1]
                results = {}
                order = ("this", "against") if n % 2 == 0 else ("against", "this")
                for key in order if n == 0 else ():  # warm-up: first-call allocations, the pool's threads
                    logit_rows._compiled = builds[key]
                    hf_kl.paired_score(window, ids, base, subj)
                for key in order * args.rounds:
                    logit_rows._compiled = builds[key]
                    start = time.perf_counter()
                    results[key] = hf_kl.paired_score(window, ids, base, subj)
                    seconds[key] += time.perf_counter() - start
                a, b = results["this"], results["against"]
                nll_diff = max(nll_diff, *(abs(x.nll_sum - y.nll_sum) / y.nll_sum for x, y in _scores(a, b)))
                kl_diff = max(kl_diff, abs(a.comparison.kl_sum - b.comparison.kl_sum) / b.comparison.kl_sum)
        finally:
            logit_rows._compiled = installed
    timed = len(windows) * args.rounds
    ms = {key: 1e3 * value / timed for key, value in seconds.items()}
    emit(
        {
            "against": args.against,
            "windows": len(windows),
            "rounds": args.rounds,
            "this_ms_per_window_pair": round(ms["this"], 2),
            "against_ms_per_window_pair": round(ms["against"], 2),
            "this/against": round(ms["this"] / ms["against"], 4),
            "saved_s_per_plan": round((ms["against"] - ms["this"]) * args.plan_windows / 1e3, 2),
            "nll_rel_diff_max": float(nll_diff),
            "kl_sum_rel_diff_max": float(kl_diff),
            "threads": torch.get_num_threads(),
            "machine": machine(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "seq_len": len(windows[0].tokens),
        },
        args.json,
    )


def _scores(a: Any, b: Any) -> list[tuple[Any, Any]]:
    return [(a.baseline, b.baseline), (a.subject, b.subject)]


if __name__ == "__main__":
    run_main(main)
