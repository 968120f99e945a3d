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
3. Scoring alone: the model is loaded in each dtype and scores the first `--score-windows` windows after a
   one-batch warm-up (the wall of `score` only); ratios to float32's wall.

Usage:
    python benchmarks/dtype_speed.py                 # ~10 min on 2 idle cores (float16 dominates)
    python benchmarks/dtype_speed.py --json
    python benchmarks/dtype_speed.py --preview 2 --final 16 --score-windows 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from typing import Any

import invarlock
import numpy as np
import torch
from invarlock.application.certification import planning
from invarlock.cli.api import load_run_config
from invarlock.cli.bootstrap import build_services
from invarlock.domain import certificate as c
from invarlock.domain.windows import TokenWindow

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
        "ci": pm.ci,
        "verdict": cert.verdict.status,
        "baseline_nll_per_token_max_abs_diff": float(diff.max()),
        "baseline_nll_per_token_mean_abs_diff": float(diff.mean()),
        "ratio_minus_fp32_ratio": (pm.ratio_vs_baseline or 0.0) - (ref_pm.ratio_vs_baseline or 0.0),
    }


def scoring_walls(cfg: dict[str, Any], count: int) -> dict[str, float]:
    run = load_run_config(cfg)
    svc = build_services(events=tempfile.mkdtemp(prefix="dtype_speed_") + "/events.duckdb")
    ds = run.dataset
    walls: dict[str, float] = {}
    windows: list[TokenWindow] = []
    for dtype in DTYPES:
        model = svc.loader.load(DEMO, adapter="auto", device="cpu", dtype=dtype)
        if not windows:
            corpus = svc.corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split)
            planned, rows = planning.plan(corpus, model.tokenizer(), ds, allow_fewer=True)
            ids = [w.window_id for w in planned.plan.windows if w.arm == "final"][:count]
            windows = [TokenWindow(window_id=i, tokens=tuple(int(t) for t in rows[i])) for i in ids]
        list(model.score(windows[: model.batch_size]))  # warm-up
        start = time.perf_counter()
        list(model.score(windows))
        walls[dtype] = time.perf_counter() - start
    return walls


def main() -> None:
    args = parse_args()
    cfg = config(args)
    root = tempfile.mkdtemp(prefix="dtype_speed_")
    certs = {dtype: certify(cfg, dtype, root, identical=False) for dtype in DTYPES}
    identical = {"bfloat16": certify(cfg, "bfloat16", root, identical=True)[0]}
    walls = scoring_walls(cfg, args.score_windows)
    result: dict[str, Any] = {
        "windows": {"preview": args.preview, "final": args.final, "calibration": 0, "seq_len": 256},
        **{f"int8_{d}": certify_figures(*certs[d], certs["float32"]) for d in DTYPES},
        **{
            f"identical_{d}": {"ratio": cert.primary_metric.ratio_vs_baseline, "ci": cert.primary_metric.ci}
            for d, cert in identical.items()
        },
        "score_windows": args.score_windows,
        **{f"score_{d}_s": round(w, 2) for d, w in walls.items()},
        **{f"score_{d}/fp32": round(walls[d] / walls["float32"], 3) for d in DTYPES[1:]},
        "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, no GPU",
        "torch": torch.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
