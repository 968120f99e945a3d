"""Guard cost: the share of a certify run spent in the guard chain (issue target: <= 5 %).

One in-process certification through the product's own code path (`cli.bootstrap.build_services` +
`application.certify.certify_edit`), by default the demo preset `configs/presets/causal_lm/quant_rtn_int8.yaml`
(SmolLM2-135M against its int8 `quant_rtn` edit, 180 preview + 200 final + 8 calibration windows of 256
tokens, tier balanced, profile ci, full guard chain). Printed:

- `certify_seconds` — wall clock of `certify_edit`, from the call until the certificate is issued;
- `guards_seconds` — the sum of every guard's recorded `seconds` (each GuardEvaluated event times its own
  work with `time.perf_counter`: invariants' censuses, the spectral/RMT matrix measurements, the variance
  guard's calibration-arm forward passes and A/B pass), plus the bare final arm scored for the guard
  overhead gate when a guard repaired weights (timed from that arm's event stamps);
- per guard seconds, and `guards_seconds / certify_seconds`.

Both figures come from the same run, so machine load affects them alike.

Usage:
    python benchmarks/guard_cost.py                        # int8 preset, ci profile (~10 min on 2 CPU cores)
    python benchmarks/guard_cost.py --config /tmp/dev.yaml --profile dev --json
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_output import emit, run_main
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.cli.bootstrap import build_services
from invarlock.cli.config_file import load_config

PRESET = Path(__file__).resolve().parents[1] / "configs/presets/causal_lm/quant_rtn_int8.yaml"


def _bare_arm_seconds(store: Any, run_id: str) -> float:
    stamps = [(r.recorded_at, b'"subject_bare"' in r.payload) for r in store.read(run_id) if r.type == "windows_scored"]
    bare = [i for i, (_, is_bare) in enumerate(stamps) if is_bare]
    if not bare:
        return 0.0
    start = datetime.fromisoformat(stamps[bare[0] - 1][0].replace("Z", "+00:00"))
    end = datetime.fromisoformat(stamps[bare[-1]][0].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(PRESET))
    parser.add_argument("--profile", default=None)
    parser.add_argument("--tier", default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    cfg = load_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        svc = build_services(events=Path(tmp) / "events.duckdb")
        request = CertifyRequest(
            command="run",
            config=cfg,
            subject=None,
            tier=args.tier or cfg.auto.tier,
            profile=args.profile or cfg.profile or "ci",
        )
        t0 = time.perf_counter()
        outcome = certify_edit(request, svc)
        certify_seconds = time.perf_counter() - t0
        per_guard = {name: s.seconds for name, s in outcome.certificate.guards.items()}
        per_guard["overhead_bare_final_arm"] = _bare_arm_seconds(svc.store, outcome.run_id)
    guards_seconds = sum(per_guard.values())
    result = {
        "config": args.config,
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "certify_seconds": round(certify_seconds, 2),
        "guards_seconds": round(guards_seconds, 2),
        "per_guard_seconds": {k: round(v, 2) for k, v in per_guard.items()},
        "guards_over_certify": round(guards_seconds / certify_seconds, 4),
        "verdict": outcome.certificate.verdict.status,
    }
    emit(result, args.json)


if __name__ == "__main__":
    run_main(main)
