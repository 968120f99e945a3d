"""Ray 2-actor / in-process: the wall of the paired scoring of the same windows, measured in one run.

What is measured, in one process, on the demo model and its int8 quant_rtn edit (or the config given with
--config, whose `edit` is applied to its `model`):

1. Services come from `cli.bootstrap` (the product's loader, edits and Ray pools); the windows are planned with
   the product's planning; the first `--windows` windows of the final arm are cut into the batches certify
   records (scoring.chunk_size of the model's batch size).
2. `inprocess`: the pipeline's InProcessPairScorer over those batches (both models in this process).
3. `ray_start`: opening a local Ray pool of `--actors` actors: ray.init, each actor loading both models,
   applying the edit and checking both weights digests. `ray`: the pool's scoring of the same batches.
4. The scores of both are compared: they must be equal bit for bit.

Printed: `ray/inprocess` (scoring only) and `(ray_start + ray)/inprocess`. On a machine with few cores the
actors share the cores the in-process run already uses: expect no speed-up there.

Usage:
    python benchmarks/ray_scale.py                      # 64 windows, seq_len 128, 2 actors
    python benchmarks/ray_scale.py --windows 32 --json
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import msgspec
from bench_output import emit, run_main
from invarlock.application.certification import planning
from invarlock.application.certification.input_steps import load_options
from invarlock.application.certification.pair_scoring import InProcessPairScorer
from invarlock.application.certification.scoring import chunk_size
from invarlock.application.config import RunConfig, parse_config
from invarlock.cli.bootstrap import build_services
from invarlock.cli.config_file import load_config
from invarlock.domain.windows import token_windows
from invarlock.ports.execution import ModelSpec, PairSpec
from scratch import scratch_dir

DEMO = {
    "model": {"id": "demo:smollm2-135m", "device": "cpu"},
    "dataset": {"provider": "demo:wikipedia", "seq_len": 128, "preview_n": 8, "final_n": 64, "seed": 7},
    "edit": {"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}},
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=None, help="a run config with an edit (default: the demo, int8)")
    parser.add_argument("--windows", type=int, default=64, help="final-arm windows scored (default 64)")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def _timed(fn: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    args = parse_args()
    cfg: RunConfig = load_config(args.config) if args.config else parse_config(DEMO, source="<ray_scale>")
    assert cfg.edit is not None, "the benchmark certifies the config's edit of its model"
    svc = build_services(events=str(scratch_dir("ray_scale_") / "events.duckdb"))
    assert svc.pools is not None
    m, batch = cfg.model, cfg.eval.batch_size
    spec_of = ModelSpec(ref=m.id, options=load_options(m, batch))
    baseline = svc.loader.load(spec_of.ref, spec_of.options)
    subject = svc.loader.load(spec_of.ref, spec_of.options)
    svc.edits[cfg.edit.name].apply(subject, cfg.edit.plan)
    planned, rows = planning.plan_with(baseline.tokenizer(), svc.corpora, cfg, allow_fewer=True)
    ids = [w.window_id for w in planned.plan.arm("final")][: args.windows]
    seed = cfg.dataset.seed
    size = chunk_size(baseline.batch_size)
    batches = [token_windows(ids[i : i + size], rows, seed=seed) for i in range(0, len(ids), size)]
    spec = PairSpec(
        baseline=spec_of,
        subject=spec_of,
        baseline_sha256=baseline.identity().weights_sha256,
        subject_sha256=subject.identity().weights_sha256,
        edit_name=cfg.edit.name,
        edit_plan=dict(cfg.edit.plan),
    )
    local, inprocess = _timed(lambda: list(InProcessPairScorer(baseline, subject).score_batches(batches)))
    pool, ray_start = _timed(lambda: svc.pools.open("local", args.actors, spec))  # type: ignore[union-attr]
    try:
        remote, ray = _timed(lambda: list(pool.score_batches(batches)))
    finally:
        pool.close()
    same = msgspec.json.encode(local) == msgspec.json.encode(remote)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "windows": len(ids),
        "seq_len": cfg.dataset.seq_len,
        "actors": args.actors,
        "inprocess_s": round(inprocess, 2),
        "ray_start_s": round(ray_start, 2),
        "ray_s": round(ray, 2),
        "ray/inprocess": round(ray / inprocess, 3),
        "(ray_start+ray)/inprocess": round((ray_start + ray) / inprocess, 3),
        "scores_bit_identical": same,
    }
    emit(report, args.json)


if __name__ == "__main__":
    run_main(main)
