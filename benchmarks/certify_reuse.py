"""Baseline score reuse: wall clock of a second certification against a known baseline, as a fraction of a
fresh one, in one process (issue 13 §1 target: reuse/fresh <= 0.55).

What is measured, in one process, through the product's own code path (`cli.bootstrap.build_services` +
`application.certify.certify_edit` + the CLI's certificate writer), each timed from the call of
`certify_edit` until `evaluation.cert.json` is on disk:

1. **warm-up** (not timed into either figure): the baseline is loaded once, so that imports and the file
   cache are warm for both timed runs alike.
2. **fresh** — subject A (the config's edit) certified on a new DuckDB events file: both models score every
   window in lockstep.
3. **reuse** — subject B (the same edit with another `group_size`, so another subject of equal edit cost)
   certified against the same baseline in the same file: the baseline's windows_scored events are copied
   from run A (baseline_reused), only B is scored, and the spectral/RMT guards read the baseline's matrix
   measurements from run A's records (guard_baseline_reused) and the variance guard its baseline taps from
   A's variance record (variance_baseline_reused), tapping only B. The benchmark checks all three from the
   events and exits 1 when the scores were not reused.

Both runs set `eval.secondary.measure: false` (KL and top-1 agreement need both models' logits, so a run
measuring them re-scores the baseline: docs/reference/baseline-reuse.md). The variance guard's A/B pass (the
subject's) runs in both runs.

Each run also prints its process CPU seconds (all threads; less sensitive to other jobs than the wall) and
the seconds inside its guard chain and the variance guard's calibration passes (benchmarks/step_times.py):
the reused run taps the subject alone on the calibration windows.

Run it on a quiet machine (the 1-minute load average at start and end is printed).

Usage:
    python benchmarks/certify_reuse.py                                    # int8 preset, ci profile
    python benchmarks/certify_reuse.py --windows 40 --profile dev --json  # 40 preview + 40 final windows
    python benchmarks/certify_reuse.py --windows 4 --guards invariants,variance,invariants  # the variance guard
    python benchmarks/certify_reuse.py --windows 24 --profile dev --sequential  # one model held at a time
    python benchmarks/certify_reuse.py --windows 24 --profile dev --lockstep    # both held (before 0.3.6's default)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
from bench_output import cpu_model, run_main
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.certification.input_steps import load_options
from invarlock.application.config import RunConfig, SecondaryConfig
from invarlock.application.services import Services
from invarlock.cli.bootstrap import build_services
from invarlock.cli.commands_run import write_certificate
from invarlock.cli.config_file import load_config
from step_times import StepTimes, timed_services

STEPS = ("guards", "calibration")

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs/presets/causal_lm/quant_rtn_int8.yaml"
TARGET_RATIO = 0.55
REUSE_GROUP = 64  # subject B: the config's edit with this group_size


def _config(path: Path, windows: int | None, guards: str | None, sequential: bool | None = None) -> RunConfig:
    cfg = load_config(str(path))
    r = msgspec.structs.replace
    cfg = r(cfg, eval=r(cfg.eval, secondary=SecondaryConfig(measure=False), sequential=sequential))
    if guards is not None:
        cfg = r(cfg, guards=r(cfg.guards, order=guards.split(",")))
    if windows is not None:
        cfg = r(cfg, dataset=r(cfg.dataset, preview_n=windows, final_n=windows))
    return cfg


def _subject_b(cfg: RunConfig) -> RunConfig:
    if cfg.edit is None:
        raise SystemExit("the config needs an edit: section (subject A is the baseline with that edit)")
    plan = {**cfg.edit.plan, "group_size": REUSE_GROUP}
    return msgspec.structs.replace(cfg, edit=msgspec.structs.replace(cfg.edit, plan=plan))


def _timed(cfg: RunConfig, profile: str, svc: Services, out: Path) -> tuple[float, str, dict[str, float]]:
    """Wall seconds, run id and {cpu, guards, calibration} seconds of one certification."""
    request = CertifyRequest(command="run", config=cfg, subject=None, tier=cfg.auto.tier, profile=profile)
    times = StepTimes()
    cpu0, t0 = time.process_time(), time.perf_counter()
    with timed_services(svc, times) as timed:
        outcome = certify_edit(request, timed)
    write_certificate(outcome, str(out / outcome.run_id))
    steps = {"cpu": round(time.process_time() - cpu0, 2), **{k: round(times.seconds[k], 2) for k in STEPS}}
    return time.perf_counter() - t0, outcome.run_id, steps


def _reused_arms(svc: Services, run_id: str) -> list[str]:
    return [json.loads(r.payload)["arm"] for r in svc.store.read(run_id) if r.type == "baseline_reused"]


def _guards_reused(svc: Services, run_id: str) -> list[str]:
    links = {"guard_baseline_reused": "spectral/rmt", "variance_baseline_reused": "variance"}
    return [links[r.type] for r in svc.store.read(run_id) if r.type in links]


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    load_start = os.getloadavg()
    cfg = _config(args.config, args.windows, args.guards, args.sequential)
    # fresh, as the first run on a machine: no token stream an earlier process kept (adapters/token_cache.py)
    svc = dataclasses.replace(build_services(events=workdir / "reuse.duckdb"), tokens=None)
    m = cfg.model
    svc.loader.load(m.id, load_options(m, cfg.eval.batch_size))
    fresh_s, fresh_id, fresh_steps = _timed(cfg, args.profile, svc, workdir)
    reuse_s, reuse_id, reuse_steps = _timed(_subject_b(cfg), args.profile, svc, workdir)
    arms = _reused_arms(svc, reuse_id)
    ds = cfg.dataset
    return {
        "fresh_s": round(fresh_s, 2),
        "reuse_s": round(reuse_s, 2),
        "reuse_over_fresh": round(reuse_s / fresh_s, 3),
        "fresh_steps": fresh_steps,
        "reuse_steps": reuse_steps,
        "target": TARGET_RATIO,
        "reused_arms": arms,
        "guard_measurements_reused": _guards_reused(svc, reuse_id),
        "fresh_run": fresh_id,
        "reuse_run": reuse_id,
        "windows": {"preview": ds.preview_n, "final": ds.final_n, "seq_len": ds.seq_len},
        "guards": list(cfg.guards.order),
        "sequential": args.sequential,
        "machine": _machine(load_start),
    }


def _machine(load_start: tuple[float, float, float]) -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "loadavg_1m_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="run config with an edit")
    parser.add_argument("--profile", default=None, help="dev | ci | release (default: the config's, else ci)")
    parser.add_argument("--windows", type=int, default=None, help="preview_n = final_n = N instead of the config's")
    parser.add_argument("--guards", default=None, help="guards.order instead of the config's, comma-separated")
    holding = parser.add_mutually_exclusive_group()  # neither: the default (one model at a time where it can)
    holding.add_argument(
        "--sequential",
        action="store_const",
        const=True,
        help="both runs hold one model at a time (eval.sequential: true)",
    )
    holding.add_argument(
        "--lockstep", dest="sequential", action="store_const", const=False, help="both runs hold both models (false)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    args.profile = args.profile or load_config(str(args.config)).profile or "ci"
    with tempfile.TemporaryDirectory(prefix="certify-reuse-") as tmp:
        result = measure(args, Path(tmp))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"fresh certify       {result['fresh_s']:8.2f} s")
        arms, guards = ", ".join(result["reused_arms"]), result["guard_measurements_reused"]
        print(f"reuse certify       {result['reuse_s']:8.2f} s   (baseline scores reused: {arms}; guards: {guards})")
        print(f"reuse/fresh         {result['reuse_over_fresh']:8.3f}     (target <= {TARGET_RATIO})")
        print(f"fresh cpu/guards/calibration seconds  {json.dumps(result['fresh_steps'])}")
        print(f"reuse cpu/guards/calibration seconds  {json.dumps(result['reuse_steps'])}")
        print(f"machine             {json.dumps(result['machine'])}")
    return 0 if result["reused_arms"] == ["preview", "final"] else 1


if __name__ == "__main__":
    run_main(main)
