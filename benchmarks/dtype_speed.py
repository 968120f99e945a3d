"""Reduced-precision scoring against float32 on the demo model: speed, per-window NLL and the ratio, in one run.

What is measured, in one process, all on the windows of one plan (the demo Wikipedia text, seq_len 256):

1. Certify: the demo pair (SmolLM2-135M against its int8 `quant_rtn` edit on every linear layer, dev profile,
   the guard chain trimmed to the invariants: the weight guards read float32 copies of the weights whatever
   the dtype, so their cost does not depend on it) is certified through `invarlock.certify`, the product's
   code path, once per dtype
   (`float32`, `bfloat16`, `float16`). Each wall is printed with its ratio to float32's. From the certificates:
   the final ratio and its CI per dtype, and, against float32's evidence on the same windows, the largest and
   mean |Δ| of the per-window, per-token baseline NLL and the change of the ratio.
2. Identical subject: the demo model certified against itself under bfloat16: its ratio and CI.
3. Scoring alone: the model is loaded in each dtype and scores the first `--score-windows` final windows after
   a one-batch warm-up (the wall of `score` only); ratios to float32's wall.

Each figure is printed as one line when measured (float16 last: it is slow on a CPU); `--json` prints one
JSON line at the end instead.

Usage:
    python benchmarks/dtype_speed.py                 # ~10 min on 2 idle cores (float16 dominates)
    python benchmarks/dtype_speed.py --json
    python benchmarks/dtype_speed.py --preview 2 --final 16 --score-windows 8
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import invarlock
import numpy as np
import torch
from bench_output import machine
from invarlock.application.certification import planning
from invarlock.cli.api import load_run_config
from invarlock.cli.bootstrap import build_services
from invarlock.domain import certificate as c
from invarlock.domain.model import LoadOptions
from invarlock.domain.windows import TokenWindow
from scratch import scratch_dir

DEMO = "demo:smollm2-135m"
DTYPES = ("float32", "bfloat16", "float16")
INT8 = {"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preview", type=int, default=2, help="preview windows per certify (default 2)")
    parser.add_argument("--final", type=int, default=8, help="final windows per certify (default 8)")
    parser.add_argument("--score-windows", type=int, default=4, help="windows scored alone per dtype (default 4)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def config(args: argparse.Namespace) -> dict[str, Any]:
    dataset = {"provider": "demo:wikipedia", "seq_len": 256, "preview_n": args.preview, "final_n": args.final}
    return {
        "dataset": {**dataset, "calibration_n": 0, "seed": 42},
        "guards": {"order": ["invariants", "invariants"]},
        "profile": "dev",
        "auto": {"tier": "balanced"},
    }


def certify(cfg: dict[str, Any], dtype: str, root: str, *, identical: bool) -> tuple[c.Certificate, float]:
    start = time.perf_counter()
    cert = invarlock.certify(
        DEMO,
        DEMO,
        edit=None if identical else INT8,
        config=cfg,
        dtype=dtype,
        device="cpu",
        events=f"{root}/events.duckdb",
        cert_out=f"{root}/{dtype}{'-identical' if identical else ''}",
    )
    return cert, time.perf_counter() - start


def per_token(cert: c.Certificate) -> tuple[np.ndarray, np.ndarray]:
    final = cert.evidence.final
    assert final is not None, "a certify with final windows has a final arm"
    tokens = np.asarray(final.tokens_scored, dtype=np.float64)
    base, subj = final.nll()
    return np.asarray(base) / tokens, np.asarray(subj) / tokens


def certify_figures(cert: c.Certificate, wall: float, ref: tuple[c.Certificate, float]) -> dict[str, Any]:
    pm, ref_pm = cert.primary_metric, ref[0].primary_metric
    assert cert.evidence.final is not None and ref[0].evidence.final is not None
    assert cert.evidence.final.window_ids == ref[0].evidence.final.window_ids, "same plan, same windows"
    base, _ = per_token(cert)
    ref_base, _ = per_token(ref[0])
    diff = np.abs(base - ref_base)
    return {
        "certify_s": round(wall, 1),
        "certify/fp32": round(wall / ref[1], 3),
        "ratio": pm.ratio_vs_baseline,
        "ratio_ci": pm.display_ci,  # the ratio's interval (pm.ci is the mean log-ratio's)
        "verdict": cert.verdict.status,
        "baseline_nll_per_token_max_abs_diff": float(diff.max()),
        "baseline_nll_per_token_mean_abs_diff": float(diff.mean()),
        "ratio_minus_fp32_ratio": (pm.ratio_vs_baseline or 0.0) - (ref_pm.ratio_vs_baseline or 0.0),
    }


class Scorer:
    """Loads the demo model in a dtype and times `score` on the first `count` final windows of the plan."""

    def __init__(self, cfg: dict[str, Any], count: int) -> None:
        self.svc = build_services(events=str(scratch_dir("dtype_speed_") / "events.duckdb"))
        self.dataset = load_run_config(cfg).dataset
        self.count = count
        self.windows: list[TokenWindow] = []

    def wall(self, dtype: str) -> float:
        model = self.svc.loader.load(DEMO, LoadOptions(adapter="auto", device="cpu", dtype=dtype))
        if not self.windows:
            ds = self.dataset
            corpus = self.svc.corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split)
            planned, rows = planning.plan(corpus, model.tokenizer(), ds, allow_fewer=True)
            ids = [w.window_id for w in planned.plan.windows if w.arm == "final"][: self.count]
            self.windows = [TokenWindow(window_id=i, tokens=tuple(int(t) for t in rows[i])) for i in ids]
        list(model.score(self.windows[: model.batch_size]))  # warm-up
        start = time.perf_counter()
        list(model.score(self.windows))
        return time.perf_counter() - start


def main() -> None:
    # Each figure is printed as soon as it is measured, cheapest first: float16 on a CPU is slow, and a
    # partial run still reports everything measured before it.
    args = parse_args()
    cfg = config(args)
    root = str(scratch_dir("dtype_speed_"))
    result: dict[str, Any] = {
        "windows": {"preview": args.preview, "final": args.final, "calibration": 0, "seq_len": 256},
        "score_windows": args.score_windows,
        "threads": torch.get_num_threads(),
        "machine": f"{machine()}, no GPU",
        "torch": torch.__version__,
    }

    def emit(key: str, value: Any) -> None:
        result[key] = value
        if not args.json:
            print(f"{key}: {json.dumps(value)}  (load {os.getloadavg()[0]:.1f})", flush=True)

    scorer, walls, certs = Scorer(cfg, args.score_windows), {}, {}
    for dtype in DTYPES:
        walls[dtype] = scorer.wall(dtype)
        emit(f"score_{dtype}_s", round(walls[dtype], 2))
        if dtype != "float32":
            emit(f"score_{dtype}/fp32", round(walls[dtype] / walls["float32"], 3))
        if dtype == "bfloat16":
            for name in ("float32", "bfloat16"):
                certs[name] = certify(cfg, name, root, identical=False)
                emit(f"int8_{name}", certify_figures(*certs[name], certs["float32"]))
            same = certify(cfg, "bfloat16", root, identical=True)[0].primary_metric
            emit("identical_bfloat16", {"ratio": same.ratio_vs_baseline, "ratio_ci": same.display_ci})
    certs["float16"] = certify(cfg, "float16", root, identical=False)
    emit("int8_float16", certify_figures(*certs["float16"], certs["float32"]))
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
