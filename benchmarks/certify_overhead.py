"""Certify overhead: wall clock of a real certification against the bare forward passes it cannot avoid.

What is measured, in one process:

1. **certify wall** — `invarlock run -c CONFIG` done in-process through the product's own code path
   (`cli.bootstrap.build_services` + `application.certify.certify_edit` + the CLI's certificate writer) on a
   fresh DuckDB events file, timed with `time.perf_counter` from the call of `certify_edit` until
   `evaluation.cert.json` is on disk. Building the services (importing the adapters, hence torch) is
   reported separately and excluded; the model-class imports transformers does on first load are not.
2. **forward floor** — the baseline and the edited subject are loaded again with the loader and the edit of
   the same `Services` (built by `cli.bootstrap`, like every entry point: the benchmark constructs no
   adapter itself); the windows are re-planned with `application.planning.plan` and the
   plan digest is checked against the run's `WindowsPlanned` event and the certificate. Then exactly the
   forward passes that certify ran are replayed: for every `WindowsScored` event of the run (preview and
   final arms are disjoint windows and are scored separately; a rollback skips the final arm), its windows
   in the same order, the same role, the same batches (`HFCausalModel.batch_size` windows per pass) and the
   same device. Only `module(input_ids=batch, use_cache=False).logits` under `torch.inference_mode` is timed;
   token tensors are built beforehand. NLL reduction, hashing, census, planning and event writes are
   what the floor leaves out, i.e. the overhead.
3. **load + edit** — the baseline load, the subject's in-memory duplicate (a second load for an adapter that
   cannot duplicate, as in certify) and the quant_rtn edit of step 2, reported apart from the floor;
   `(certify wall - (load + edit)) / forward floor` is the overhead ratio with model loading taken out.
   These run warm (imports done, file cache hot); certify's own, colder ones are in the steps.
4. **steps** — the certify wall split into the seconds spent inside each step (tokenizer and corpus read,
   tokenize, plan, load, duplicate, edit, fingerprint, guards and their calibration passes, scoring, issuing:
   benchmarks/step_times.py times the ports and pipeline functions of that same run), the rest as "other";
   `guards / certify wall` is issue 4's guard share, from the same run (the guard chain and, in a sequential
   run, the baseline's measurements for it inside the baseline's pass).

5. **interleaved floor** (`--interleave`, benchmarks/interleaved_floor.py) — instead of 2. and 3., the floor is
   timed inside the certify run: after each chunk the pipeline's in-process scorer scores, the same windows go
   through both models' bare forward passes at once, and the seconds of those blocks are taken out of the
   certify wall and its scoring step. Each scored chunk is compared with passes timed seconds after it, so a
   drift of the machine's speed cancels over scoring (about 94 % of the wall); the steps outside scoring are
   not bracketed. `load_and_edit_s` is then certify's own load, duplicate and edit.

6. **bracket** (`--bracket`) — certify once more after the floor, on a fresh events file: the ratio of the two
   certify walls' mean to the floor timed between them cancels a drift of the machine's speed that is linear in
   time (on a VM whose speed moved by the minute, two single runs an hour apart gave 1.150 and 1.029).

Why: scoring is the irreducible cost of a certificate, so certify should cost little more than its
forward passes (issue 13 target: certify wall / forward floor <= 1.10). The timeline rows attribute the
certify wall to run steps from the events' `recorded_at` stamps, to show where any overhead goes.

Run it on a quiet machine: another process on the same cores oversubscribes torch's threads and can slow
one forward pass several-fold, which lands on certify or on the floor at random. The 1-minute load average
at start and end is printed for that reason; `--threads N` pins torch's threads for both measurements.

Usage:
    python benchmarks/certify_overhead.py                                  # int8 preset, ci profile
    python benchmarks/certify_overhead.py --config /tmp/dev.yaml --profile dev --json
    python benchmarks/certify_overhead.py --cprofile certify.prof          # + cProfile of certify_edit
    python benchmarks/certify_overhead.py --threads 2 --bracket            # certify, floor, certify
    python benchmarks/certify_overhead.py --threads 2 --interleave         # floor timed inside certify
    python benchmarks/certify_overhead.py --threads 2 --reused-logits      # + a floor without its logits' faults

cProfile slows certify itself: take ratios from a run without `--cprofile`.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import platform
import tempfile
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_output import cpu_model, run_main
from certify_overhead_render import render
from floor_passes import PassTimes, forward_batches, time_forwards
from interleaved_floor import InterleavedFloor, interleaved
from invarlock.application.certification import planning
from invarlock.application.certification.certify import CertifyOutcome, CertifyRequest, certify_edit
from invarlock.application.certification.input_steps import load_options
from invarlock.application.config import RunConfig
from invarlock.application.services import Services
from invarlock.cli.bootstrap import build_services
from invarlock.cli.commands_run import write_certificate
from invarlock.cli.config_file import load_config
from invarlock.domain import events as ev
from invarlock.domain.policy import resolve_policy
from step_times import GUARD_STEPS, StepTimes, passes_seconds, timed_services

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs/presets/causal_lm/quant_rtn_int8.yaml"
TARGET_RATIO = 1.10
ROLES = ("baseline", "subject")


@dataclass(frozen=True)
class CertifyRun:
    outcome: CertifyOutcome
    services: Services
    wall_s: float
    services_s: float
    started_at: datetime
    certificate: Path
    records: list[ev.RecordedEvent]
    steps: StepTimes
    interleaved: InterleavedFloor | None = None


@dataclass(frozen=True)
class Floor:
    seconds: float
    by_role: dict[str, float]
    passes: int
    batch_size: int
    device: Any
    loads: dict[str, float]
    replayed: PassTimes | None = None  # the replayed passes' faults and reused-logits times (none when interleaved)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="run config YAML (default: int8 preset)")
    parser.add_argument("--profile", default="ci", choices=["dev", "ci", "release"], help="policy profile")
    parser.add_argument("--events", default=None, help="directory for the fresh events file (default: temp dir)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    parser.add_argument("--cprofile", default=None, help="also write cProfile stats of certify_edit to this file")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the whole process")
    parser.add_argument(
        "--bracket", action="store_true", help="certify again after the floor; ratio of the two walls' mean"
    )
    parser.add_argument(
        "--interleave", action="store_true", help="time the floor inside certify, after each scored chunk"
    )
    parser.add_argument(
        "--reused-logits", action="store_true", help="also a floor whose head writes into reused memory (alternating)"
    )
    return parser.parse_args(argv)


def run_certify(
    cfg: RunConfig, profile: str, workdir: Path, cprofile: str | None, interleave: bool = False
) -> CertifyRun:
    """`invarlock run -c CONFIG --profile P --quiet`, timed from certify_edit to the written certificate; with
    `interleave`, the floor's passes run after each scored chunk and their blocks' seconds are not counted."""
    events = workdir / f"certify-overhead-{time.time_ns()}.duckdb"
    t0 = time.perf_counter()
    # fresh, as the first run on a machine: no token stream an earlier process kept (adapters/token_cache.py)
    svc = dataclasses.replace(build_services(events=events), tokens=None)
    services_s = time.perf_counter() - t0
    request = CertifyRequest(command="run", config=cfg, subject=None, tier=cfg.auto.tier, profile=profile)
    profiler = cProfile.Profile() if cprofile else None
    steps, floor = StepTimes(), InterleavedFloor() if interleave else None
    with timed_services(svc, steps) as timed, interleaved(floor) if floor else nullcontext():
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        outcome = _certify(request, timed, profiler)
        path = write_certificate(outcome, str(workdir / outcome.run_id))
        wall_s = time.perf_counter() - t0
    if profiler is not None and cprofile:
        profiler.dump_stats(cprofile)
    if floor is not None:
        wall_s -= floor.block_s
        for step, seconds in floor.block_by_step.items():
            steps.seconds[step] -= seconds
    records = svc.store.read(outcome.run_id)
    return CertifyRun(outcome, svc, wall_s, services_s, started_at, path, records, steps, floor)


def _certify(request: CertifyRequest, svc: Services, profiler: cProfile.Profile | None) -> CertifyOutcome:
    if profiler is None:
        return certify_edit(request, svc)
    result: CertifyOutcome = profiler.runcall(certify_edit, request, svc)
    return result


def decoded(records: list[ev.RecordedEvent]) -> list[ev.Event]:
    return [ev.decode_event(r.type, r.version, r.payload) for r in records]


def one(events: list[ev.Event], kind: type[Any], **match: str) -> Any:
    found = [e for e in events if isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items())]
    assert len(found) == 1, f"expected one {kind.__name__} {match}, found {len(found)}"
    return found[0]


def load_pair(cfg: RunConfig, svc: Services) -> tuple[dict[str, Any], dict[str, float]]:
    """Baseline and edited subject made as certify makes them (the subject a duplicate of the baseline when
    the adapter can duplicate, as `invarlock run` does), with the seconds of each step."""
    assert cfg.edit is not None and cfg.edit.name == "quant_rtn", "the benchmark certifies a quant_rtn run"
    m, loader, marks = cfg.model, svc.loader, [time.perf_counter()]
    batch = cfg.eval.batch_size
    baseline = loader.load(m.id, load_options(m, batch))
    marks.append(time.perf_counter())
    subject = baseline.duplicate() if callable(getattr(baseline, "duplicate", None)) else None
    if subject is None:
        subject = loader.load(m.id, load_options(m, batch))
    marks.append(time.perf_counter())
    svc.edits[cfg.edit.name].apply(subject, cfg.edit.plan)
    marks.append(time.perf_counter())
    steps = ("load_baseline_s", "subject_copy_or_load_s", "edit_s")
    return {"baseline": baseline, "subject": subject}, {k: marks[i + 1] - marks[i] for i, k in enumerate(steps)}


def check_same_models(models: dict[str, Any], events: list[ev.Event]) -> None:
    """The reloaded models must be bit-identical to the ones certify fingerprinted."""
    for role, model in models.items():
        recorded = one(events, ev.ModelFingerprinted, role=role)
        assert model.identity().weights_sha256 == recorded.identity.weights_sha256, (
            f"{role} weights differ from the run's"
        )


def replan(
    cfg: RunConfig, profile: str, svc: Services, tokenizer: Any, events: list[ev.Event], plan_digest: str
) -> dict[int, Any]:
    """Token rows of the run's windows, re-planned with the product's planning; digests must match the run."""
    ds = cfg.dataset
    corpus = svc.corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split)
    allow_fewer = not resolve_policy(cfg.auto.tier, profile).enforce_floors
    planned, rows = planning.plan(corpus, tokenizer, ds, allow_fewer=allow_fewer)
    recorded = one(events, ev.WindowsPlanned)
    assert planned.plan.window_plan_digest == recorded.plan.window_plan_digest == plan_digest, (
        "re-planned windows differ from the run's"
    )
    return rows


def timeline(run: CertifyRun, events: list[ev.Event]) -> dict[str, float]:
    """Certify wall attributed to run steps: the time before each event is charged to that event's step."""
    spent: dict[str, float] = defaultdict(float)
    previous = run.started_at
    for record, event in zip(run.records, events, strict=True):
        stamp = datetime.fromisoformat(record.recorded_at)
        role = getattr(event, "role", None)
        step = record.type + (f"[{role}]" if role and record.type != "windows_scored" else "")
        spent[step] += (stamp - previous).total_seconds()
        previous = stamp
    block_s = run.interleaved.block_s if run.interleaved is not None else 0.0
    spent["certificate_written"] = run.wall_s + block_s - sum(spent.values())
    if block_s:
        spent["(interleaved floor blocks, inside the baseline pass and windows_scored)"] = block_s
    return {k: round(v, 3) for k, v in spent.items()}


def machine(device: Any, load_start: tuple[float, ...]) -> dict[str, Any]:
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "python": platform.python_version(),
        "loadavg_1m_start_end": [round(load_start[0], 2), round(os.getloadavg()[0], 2)],
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    load_start = os.getloadavg()
    cfg = load_config(args.config)
    run = run_certify(cfg, args.profile, workdir, args.cprofile, args.interleave)
    events = decoded(run.records)
    if run.interleaved is None:
        floor = replay_floor(cfg, args.profile, run, events, reused=args.reused_logits)
    else:
        floor = interleaved_floor(run, events)
    second = run_certify(cfg, args.profile, workdir, None) if args.bracket else None
    return summary(args, run, events, floor, load_start, second)


def replay_floor(
    cfg: RunConfig, profile: str, run: CertifyRun, events: list[ev.Event], *, reused: bool = False
) -> Floor:
    """The run's forward passes replayed on the pair loaded again (released when this returns); with `reused`, each
    batch also with the head's logits written into reused memory (benchmarks/floor_passes.py), in turn."""
    models, loads = load_pair(cfg, run.services)
    check_same_models(models, events)
    cert = run.outcome.certificate
    tokenizer = models["baseline"].tokenizer()
    rows = replan(cfg, profile, run.services, tokenizer, events, cert.dataset.window_plan_digest)
    batches = forward_batches(events, rows, models)
    base = models["baseline"]
    passes = time_forwards(models, batches, reused=reused)
    return Floor(
        sum(passes.seconds.values()), passes.seconds, len(batches), base.batch_size, base.device, loads, passes
    )


def interleaved_floor(run: CertifyRun, events: list[ev.Event]) -> Floor:
    """The floor timed inside the run, checked to have covered every window the run scored."""
    floor = run.interleaved
    assert floor is not None
    scored = {r: sum(len(e.rows) for e in events if isinstance(e, ev.WindowsScored) and e.role == r) for r in ROLES}
    assert floor.windows == scored, f"the interleaved floor ran {floor.windows} windows, certify scored {scored}"
    steps = run.steps.seconds
    loads = {"load_s": steps["load"], "duplicate_s": steps["duplicate"], "edit_s": steps["edit"]}
    return Floor(floor.seconds, floor.by_role, floor.passes, floor.batch_size, floor.device, loads)


def summary(
    args: argparse.Namespace,
    run: CertifyRun,
    events: list[ev.Event],
    floor: Floor,
    load_start: tuple[float, ...],
    second: CertifyRun | None = None,
) -> dict[str, Any]:
    load_edit_s = sum(floor.loads.values())
    return {
        **_bracketed(run, second, floor),
        "config": args.config,
        "profile": args.profile,
        "run_id": run.outcome.run_id,
        "verdict": run.outcome.certificate.verdict.status,
        "certificate": str(run.certificate),
        "windows_scored": _counts([e for e in events if isinstance(e, ev.WindowsScored)]),
        "forward_passes": floor.passes,
        "batch_size": floor.batch_size,
        "certify_wall_s": round(run.wall_s, 3),
        "forward_floor_s": round(floor.seconds, 3),
        "load_and_edit_s": round(load_edit_s, 3),
        **{k: round(v, 3) for k, v in floor.loads.items()},
        "services_s": round(run.services_s, 3),
        "forward_floor_by_role_s": {k: round(v, 3) for k, v in floor.by_role.items()},
        **({"forward_floor_minor_faults": floor.replayed.faults} if floor.replayed is not None else {}),
        **_reused(run, floor),
        "ratio": round(run.wall_s / floor.seconds, 4),
        "ratio_without_load_edit": round((run.wall_s - load_edit_s) / floor.seconds, 4),
        "target_ratio": TARGET_RATIO,
        "guards_over_certify": round(sum(run.steps.seconds[s] for s in GUARD_STEPS) / run.wall_s, 4),
        "steps_s": run.steps.table(),
        "steps_other_s": round(run.wall_s - run.steps.top_level_sum(), 3),
        "floor_timing": "interleaved" if run.interleaved is not None else "replayed after certify",
        "scoring_over_floor": round(run.steps.seconds["scoring"] / floor.seconds, 4),
        "passes_over_floor": round(passes_seconds(run.steps.seconds) / floor.seconds, 4),
        **({"chunk_scoring_over_floor": run.interleaved.chunk_ratios()} if run.interleaved is not None else {}),
        "timeline_s": timeline(run, events),
        "machine": machine(floor.device, load_start),
    }


def _reused(run: CertifyRun, floor: Floor) -> dict[str, Any]:
    """With `--reused-logits`: the floor whose head writes into reused memory, and certify's wall against it."""
    if floor.replayed is None or floor.replayed.reused is None:
        return {}
    seconds = sum(floor.replayed.reused.values())
    return {
        "forward_floor_reused_logits_s": round(seconds, 3),
        "forward_floor_reused_logits_minor_faults": floor.replayed.reused_faults,
        "ratio_reused_logits": round(run.wall_s / seconds, 4),
    }


def _bracketed(run: CertifyRun, second: CertifyRun | None, floor: Floor) -> dict[str, Any]:
    """With `--bracket`: the second certify's wall and the ratio of both walls' mean to the floor timed between
    them (a drift of the machine's speed that is linear in time cancels out)."""
    if second is None:
        return {}
    return {
        "certify_wall_second_s": round(second.wall_s, 3),
        "ratio_bracketed": round((run.wall_s + second.wall_s) / 2 / floor.seconds, 4),
    }


def _counts(scored: list[ev.WindowsScored]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for e in scored:
        counts[f"{e.role}/{e.arm}"] += len(e.rows)
    return dict(counts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.events is not None:
        Path(args.events).mkdir(parents=True, exist_ok=True)
        result = measure(args, Path(args.events))
    else:
        with tempfile.TemporaryDirectory(prefix="certify-overhead-") as tmp:
            result = measure(args, Path(tmp))
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    run_main(main)
