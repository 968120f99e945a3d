"""The weight guards' matrix measurements of the demo pair: serially with the BLAS's default threads (before
ports/measurement.py) against the pinned pool certify uses now (one BLAS thread per measurement, pairs on
worker threads), in one process.

Loads the int8 preset's baseline and quant_rtn subject through `cli.bootstrap.build_services`, then measures
every 2-D weight pair as the guard chain does (baseline and, unless equal bit for bit, subject; unmapped
weights skipped) `--rounds` times per mode, interleaved, and keeps each mode's fastest round (the machine may
be shared: the ratio, not the seconds). Modes: `default` (serial, the BLAS's own thread count), `serial_1`
(serial, pinned to one thread: what one worker costs) and `pool` (`cli.bootstrap.measurement_pool()`, as
certify builds it). Prints each wall, `default / pool`, and how many matrices the default threads measured to
other bits than the pool.

Usage:
    python benchmarks/guard_threads.py [--rounds 2] [--json]      # ~1 min after loading on 2 CPU cores
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from bench_output import emit, run_main
from invarlock.application.certification.guard_chain import measure_each, measure_matrix
from invarlock.application.certification.input_steps import load_options
from invarlock.cli.bootstrap import build_services, measurement_pool
from invarlock.cli.config_file import load_config
from invarlock.domain.guards.spectrum import MatrixMeasure
from invarlock.domain.policy import Policy, resolve_policy
from scratch import scratch_dir
from threadpoolctl import threadpool_info

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs/presets/causal_lm/quant_rtn_int8.yaml"
Pair = tuple[Any, Any]


def _models(config: Path) -> tuple[Any, Any]:
    cfg = load_config(str(config))
    svc = build_services(events=str(scratch_dir("guard_threads_") / "events.duckdb"))
    options = load_options(cfg.model, cfg.eval.batch_size)
    baseline, subject = svc.loader.load(cfg.model.id, options), svc.loader.load(cfg.model.id, options)
    if cfg.edit is not None:
        svc.edits[cfg.edit.name].apply(subject, cfg.edit.plan)
    return baseline, subject


def _pairs(baseline: Any, subject: Any) -> Iterator[Pair]:
    skip = baseline.unmapped().keys() | subject.unmapped().keys()
    base = (m for m in baseline.matrices() if m.name not in skip)
    subj = (m for m in subject.matrices() if m.name not in skip)
    return zip(base, subj, strict=True)


def _measure_pair(policy: Policy, pair: Pair) -> tuple[str, MatrixMeasure, MatrixMeasure | None]:
    base, subj = pair
    m_b = measure_matrix(base.array, policy)
    return base.name, m_b, None if np.array_equal(base.array, subj.array) else measure_matrix(subj.array, policy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    baseline, subject = _models(args.config)
    job = partial(_measure_pair, resolve_policy("balanced", "ci"))
    modes: dict[str, Callable[[], list[Any]]] = {
        "default": lambda: measure_each(None, job, _pairs(baseline, subject)),
        "serial_1": lambda: measurement_pool(workers=1).map(job, _pairs(baseline, subject)),
        "pool": lambda: measurement_pool().map(job, _pairs(baseline, subject)),
    }
    walls: dict[str, float] = {mode: float("inf") for mode in modes}
    results: dict[str, list[Any]] = {}
    for _ in range(args.rounds):
        for mode, run in modes.items():
            t0 = time.perf_counter()
            results[mode] = run()
            walls[mode] = min(walls[mode], time.perf_counter() - t0)
    assert results["pool"] == results["serial_1"], "the pool must give the serial pinned results"
    measured = sum(1 + (s is not None) for _, _, s in results["pool"])
    differ = sum((a[1] != b[1]) + (a[2] != b[2]) for a, b in zip(results["default"], results["pool"], strict=True))
    out = {
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores",
        "load_average_1m": round(os.getloadavg()[0], 2),
        "blas_default_threads": [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"],
        "pool_workers": getattr(measurement_pool(), "workers", None),
        "matrices_measured": measured,
        "seconds": {mode: round(wall, 2) for mode, wall in walls.items()},
        "default_over_pool": round(walls["default"] / walls["pool"], 3),
        "default_measures_with_other_bits": differ,
    }
    emit(out, args.json)


if __name__ == "__main__":
    run_main(main)
