"""Where certify's peak resident set is reached: the peak RSS (Linux VmHWM) of each phase of one
`invarlock certify` of the demo model against itself (or against `--subject REF`, or `invarlock run` of its
int8 `quant_rtn` edit with `--edit`), run in this process.

The high-water mark is reset (`/proc/self/clear_refs` 5) when each traced call starts and read when it ends,
so each row is the peak inside one step of the certify pipeline (`application/certification/pipeline.STEPS`,
or `SEQUENTIAL_STEPS` with `--sequential`: loading both models, the guard chain, scoring each arm...);
`before` rows are the peak since the previous step ended (imports, preflight, tokenizing and planning before
the first step). Values in MiB, and as a ratio to the two models' float32 weights.

Usage:
    python benchmarks/rss_phases.py [--windows 8] [--seq-len 256]
    python benchmarks/rss_phases.py --subject gguf:PATH/SmolLM2-135M-Instruct.Q4_1.gguf   # two sets of weights
    python benchmarks/rss_phases.py --edit                                                  # invarlock run, int8
    python benchmarks/rss_phases.py --edit --sequential                 # one model at a time (SEQUENTIAL_STEPS)
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from scratch import scratch_dir

DEMO = "demo:smollm2-135m"
ROWS: list[tuple[str, int]] = []


def _hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM in /proc/self/status (Linux only)")


def _reset(label: str) -> None:
    ROWS.append((label, _hwm_kib()))
    Path("/proc/self/clear_refs").write_text("5")


def _traced(name: str, step: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(step)
    def call(*args: Any, **kwargs: Any) -> Any:
        _reset(f"before {name}")
        try:
            return step(*args, **kwargs)
        finally:
            _reset(name)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--subject", default=DEMO, help="the subject's reference (default: the demo model)")
    parser.add_argument("--edit", action="store_true", help="invarlock run of the int8 quant_rtn edit instead")
    parser.add_argument(
        "--sequential", action="store_true", help="eval.sequential (and no KL/top-1): one model held at a time"
    )
    args = parser.parse_args()
    from invarlock.application.certification import pipeline
    from invarlock.cli.main import cli

    pipeline.STEPS = tuple(_traced(step.__name__, step) for step in pipeline.STEPS)
    pipeline.SEQUENTIAL_STEPS = tuple(_traced(step.__name__, step) for step in pipeline.SEQUENTIAL_STEPS)
    folder = scratch_dir("rss_phases_")
    dataset = {"provider": "demo:wikipedia", "seq_len": args.seq_len, "preview_n": args.windows}
    config: dict[str, Any] = {"dataset": {**dataset, "final_n": args.windows}}
    if args.sequential:
        config["eval"] = {"secondary": {"measure": False}, "sequential": True}
    if args.edit:
        config |= {"model": {"id": DEMO}, "edit": {"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}}}
    (folder / "c.yaml").write_text(yaml.safe_dump(config))
    if args.edit:
        argv = ["run", "-c", str(folder / "c.yaml")]
    else:
        argv = ["certify", "--baseline", DEMO, "--subject", args.subject, "--preset", str(folder / "c.yaml")]
    argv += ["--profile", "dev", "--cert-out", str(folder / "out"), "--events", str(folder / "ev.duckdb"), "--quiet"]
    _reset("start (imports)")
    try:
        cli.main(argv, standalone_mode=False)
    finally:
        _reset("end")
    cert = json.loads((folder / "out" / "evaluation.cert.json").read_text(encoding="utf-8"))
    weights = 4 * (cert["baseline"]["param_count"] + cert["subject"]["param_count"]) / 1024  # KiB, fp32
    for label, kib in ROWS[1:]:
        print(f"{label:>32}: {kib / 1024:7.0f} MiB  {kib / weights:5.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
