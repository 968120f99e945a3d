"""The performance figures of issue 13 §6, one line each, every one a ratio (or a wall) measured in one run.

Measured here:
    certify/floor (fresh)   benchmarks/certify_overhead.py's measure(): `invarlock run` of --config in process,
                            against the bare forward passes it ran (target <= 1.10)
    guards/certify          the guard chain's seconds in that same certify run over its wall (target <= 0.05)
    verify wall             `python -m invarlock verify CERT` in a subprocess, median of 3, on a release-size
                            certificate (balanced/release: 400 + 400 windows, 3 200 replicates) issued by the
                            product's pipeline on the unit-test fakes, or on --release-cert (target < 1 s)
Read from the other benchmarks when present (each run in a subprocess with `--json`, the figure read from
the key named in OTHERS); "not measured" when a script is absent, fails, or prints no such key:
    reuse/fresh             benchmarks/certify_reuse.py        (target <= 0.55)
    bf16/fp32 speed         benchmarks/dtype_speed.py
    Ray 2-actor/in-process  benchmarks/ray_scale.py

Usage:
    python benchmarks/summary.py                                  # int8 preset (ci), ~15 min on 2 quiet cores
    python benchmarks/summary.py --config /tmp/dev.yaml --profile dev \
        --args-for "certify_reuse.py=--windows 40 --profile dev"
    python benchmarks/summary.py --skip-others --json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import certify_overhead
from bench_output import run_main
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, ModelConfig, RunConfig
from invarlock.cli.api import write_certificate
from invarlock.cli.bootstrap import build_services

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OTHERS = (  # label, script, JSON key, target
    ("reuse/fresh", "certify_reuse.py", "reuse_over_fresh", "<= 0.55"),
    ("bf16/fp32 speed", "dtype_speed.py", "score_bfloat16/fp32", ""),
    ("Ray 2-actor/in-process", "ray_scale.py", "ray/inprocess", ""),
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(certify_overhead.DEFAULT_CONFIG), help="run config of certify/floor")
    parser.add_argument("--profile", default="ci", choices=["dev", "ci", "release"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads for certify/floor")
    parser.add_argument("--release-cert", default=None, help="time verify on this certificate instead")
    parser.add_argument("--skip-others", action="store_true", help="do not run the other benchmarks")
    parser.add_argument(
        "--args-for", action="append", default=[], metavar="SCRIPT=ARGS", help="extra arguments for one other benchmark"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def certify_figures(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    bench = ["--config", args.config, "--profile", args.profile]
    bench += ["--threads", str(args.threads)] if args.threads else []
    result = certify_overhead.measure(certify_overhead.parse_args(bench), workdir)
    return {
        "certify/floor (fresh)": _figure(result["ratio"], "<= 1.10", f"{result['certify_wall_s']} s wall"),
        "guards/certify": _figure(result["guards_over_certify"], "<= 0.05", f"{result['steps_s'].get('guards')} s"),
        "_machine": result["machine"],
        "_steps_s": result["steps_s"],
    }


def release_certificate(workdir: Path) -> Path:
    """A release-size certificate from the product's pipeline on the unit-test fakes (seconds, no model)."""
    sys.path.insert(0, str(ROOT))
    from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words

    loader = FakeLoader(models={"base": FakeModel(ref="base"), "subject": FakeModel(ref="subject", quality=1.002)})
    svc = build_services(events=workdir / "release.duckdb")
    svc = dataclasses.replace(svc, loader=loader, corpora=FakeCorpora(words(1800)))
    dataset = DatasetConfig(provider="fake", seq_len=128, preview_n=400, final_n=400, calibration_n=8, seed=7)
    config = RunConfig(model=ModelConfig(id="base"), dataset=dataset)
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="subject"), tier="balanced", profile="release"
    )
    outcome = certify_edit(request, svc)
    return write_certificate(outcome, workdir / "release")


def verify_wall(cert: Path) -> dict[str, Any]:
    """Median wall of 3 verify subprocesses, with their median CPU seconds (user + system: what the wall
    would be on an idle core, since verify runs on one thread)."""
    walls, cpus, code = [], [], None
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "invarlock", "verify", str(cert)], capture_output=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        code = done.returncode
    cpu = statistics.median(cpus)
    note = f"median of 3 (CPU {cpu:.3f} s), exit {code}, {cert.stat().st_size // 1024} KiB certificate"
    return _figure(round(statistics.median(walls), 3), "< 1 s", note, unit="s")


def other_figure(script: str, key: str, target: str, extra: str) -> dict[str, Any]:
    path = HERE / script
    if not path.is_file():
        return _missing(f"benchmarks/{script} absent")
    done = subprocess.run([sys.executable, str(path), "--json", *shlex.split(extra)], capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return _missing(f"benchmarks/{script} exited {done.returncode}")
    value = json.loads(lines[-1]).get(key)
    if not isinstance(value, (int, float)):
        return _missing(f"benchmarks/{script} printed no number under {key!r}")
    return _figure(value, target, f"benchmarks/{script}")


def _figure(value: float | None, target: str, note: str, unit: str = "") -> dict[str, Any]:
    return {"value": value, "unit": unit, "target": target, "note": note}


def _missing(why: str) -> dict[str, Any]:
    return _figure(None, "", why)


def render(figures: dict[str, Any]) -> str:
    lines = []
    for label, f in figures.items():
        if label.startswith("_"):
            continue
        shown = "not measured" if f["value"] is None else f"{f['value']}{(' ' + f['unit']) if f['unit'] else ''}"
        target = f"(target {f['target']})" if f["target"] else ""
        lines.append(f"{label:<26} {shown:>14}  {target:<16} {f['note']}")
    steps = figures.get("_steps_s")
    if steps:
        lines.append("certify steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
    machine = figures.get("_machine")
    if machine:
        lines.append(f"machine: {json.dumps(machine)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="invarlock-summary-") as tmp:
        figures = certify_figures(args, Path(tmp))
        cert = Path(args.release_cert) if args.release_cert else release_certificate(Path(tmp))
        figures["verify wall (release-size)"] = verify_wall(cert)
    for label, script, key, target in OTHERS:
        extra = dict(item.split("=", 1) for item in args.args_for).get(script, "")
        figures[label] = _missing("--skip-others") if args.skip_others else other_figure(script, key, target, extra)
    print(json.dumps(figures) if args.json else render(figures))
    return 0


if __name__ == "__main__":
    run_main(main)
