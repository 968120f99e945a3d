"""The audit trail at team scale: `invarlock runs` on a store of 10,000 runs (issue 13 §5, target <= 2 s).

Builds the store once (kept at `--store`, reused when it already holds `--runs` runs), then times the real
CLI in a subprocess, start to exit, each case `--repeat` times (the median is printed):

- `runs` and `runs --json` over every run, the first and the last page of 50, each filter
  (`--since`, `--verdict`, `--baseline-digest`), and a page of 50 with `--check-chains` (in process also with
  `--verdict FAIL`, which folds every stream);
- `invarlock --version`, the fixed cost of starting the CLI, for reference.

The runs are real event streams written through the real store API (`cli.bootstrap.open_store`). Nine
template runs go through the product's certify pipeline on the recorded fake models of tests/fakes (three
baselines with different weights, each against a PASS and a FAIL subject, a run that fails, and one killed
after planning its windows); each of the N runs is a template's stream given its own run id and start time
(spread over a year), with the certificate rebuilt for it (`domain.build.build_certificate`, as replay does),
so every run passes `invarlock runs --check-chains` and `verify --events` alike.

Usage:
    python benchmarks/runs_scale.py                  # 10,000 runs (building takes ~10 min on 2 CPU cores)
    python benchmarks/runs_scale.py --runs 2000 --json
    python benchmarks/runs_scale.py --all-chains     # also time `runs --check-chains` over every run (minutes)
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the template runs use the recorded fake models of tests/fakes

from invarlock.application.certification.certify import CertifyRequest, certify_edit  # noqa: E402
from invarlock.application.config import ModelConfig  # noqa: E402
from invarlock.application.replay.listing import list_runs  # noqa: E402
from invarlock.application.services import Services  # noqa: E402
from invarlock.cli.bootstrap import open_run_index, open_store  # noqa: E402
from invarlock.domain import certificate as c  # noqa: E402
from invarlock.domain import events as ev  # noqa: E402
from invarlock.domain.build import build_certificate  # noqa: E402
from invarlock.domain.errors import InvarlockError  # noqa: E402
from invarlock.domain.run import replay  # noqa: E402
from invarlock.domain.run_query import make_query  # noqa: E402
from invarlock.ports.store import EventStore  # noqa: E402

from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words  # noqa: E402
from tests.unit.conftest import small_config  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
BASELINES = {f"base-{k}": float(k) for k in (1, 2, 3)}


def _services(store: EventStore) -> Services:
    models = {
        ref: FakeModel(ref=ref, weights={"w": np.full((4, 4), scale, np.float32)}) for ref, scale in BASELINES.items()
    }
    models |= {"int8ish": FakeModel(ref="int8ish", quality=1.002), "broken": FakeModel(ref="broken", quality=3.0)}
    ids, ticks = itertools.count(), itertools.count()
    return Services(
        loader=FakeLoader(models=models),
        corpora=FakeCorpora(words(120)),
        store=store,
        edits={},
        clock=lambda: (START + timedelta(seconds=next(ticks))).isoformat(),
        new_run_id=lambda: f"template-{next(ids)}",
        environment=lambda: {"python": platform.python_version()},
        tool_version="0.0.bench",
    )


def templates(folder: Path) -> list[list[ev.Event]]:
    """The template streams, decoded: certified through the real pipeline on the fake models."""
    store = open_store(folder / "templates.duckdb")
    svc = _services(store)
    cases = [(base, subject) for base in BASELINES for subject in ("int8ish", "broken")] + [("base-1", "missing")]
    for base, subject in cases:
        config = msgspec.structs.replace(small_config(), model=ModelConfig(id=base))
        try:
            certify_edit(
                CertifyRequest("certify", config, ModelConfig(id=subject), tier="balanced", profile="dev"), svc
            )
        except InvarlockError as exc:  # the failing template: its run_failed event is what we want
            print(f"template {base} -> {subject}: {type(exc).__name__} (recorded as run_failed)", file=sys.stderr)
    streams = [
        [ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)] for run_id in store.run_ids()
    ]
    killed = [e for e in streams[0] if not isinstance(e, ev.WindowsScored | ev.CertificateIssued | ev.RunCompleted)]
    return [*streams, killed[: next(i for i, e in enumerate(killed) if isinstance(e, ev.WindowsPlanned)) + 1]]


def _head_hash(run_id: str, events: list[ev.Event], recorded_at: str) -> str:
    """The hash the store will give the last of `events` appended as one batch at `recorded_at`."""
    head = ev.GENESIS_HASH
    for seq, event in enumerate(events):
        type_, version, payload = ev.encode_event(event)
        head = ev.chain_hash(
            run_id=run_id,
            seq=seq,
            recorded_at=recorded_at,
            prev_hash=head,
            type_=type_,
            version=version,
            payload=payload,
        )
    return head


def clone(store: EventStore, template: list[ev.Event], run_id: str, started: str) -> int:
    """Append `template` as the stream `run_id` started (and recorded) at `started`, in one batch, with the
    certificate rebuilt for it; the number of events."""
    first = template[0]
    assert isinstance(first, ev.RunStarted)
    events = [msgspec.structs.replace(first, run_id=run_id, started_at=started), *template[1:]]
    at = next((i for i, e in enumerate(events) if isinstance(e, ev.CertificateIssued)), None)
    if at is not None:
        issued = events[at]
        assert isinstance(issued, ev.CertificateIssued)
        ref = c.EventLogRef(run_id=run_id, head_hash=_head_hash(run_id, events[:at], started), event_count=at)
        cert = build_certificate(replay(events[:at]), issued_at=issued.issued_at, event_log=ref)
        events[at] = msgspec.structs.replace(issued, certificate_digest=cert.digest)
    rows = store.append(run_id, 0, events)
    assert at is None or rows[at - 1].hash == ref.head_hash, "the store chained the batch differently"
    return len(rows)


def build(path: Path, runs: int) -> dict[str, Any]:
    """Write `runs` runs into the event store at `path` (a new file)."""
    with tempfile.TemporaryDirectory() as tmp:
        streams = templates(Path(tmp))
    now = [START.isoformat()]
    store = open_store(path, clock=lambda: now[0])
    step = timedelta(days=365) / runs
    began, events = time.perf_counter(), 0
    for i in range(runs):
        now[0] = (START + i * step).isoformat(timespec="microseconds")
        events += clone(store, streams[i % len(streams)], f"run-{i:06d}", now[0])
        if (i + 1) % 1000 == 0:
            print(f"  {i + 1} runs written", file=sys.stderr)
    seconds = time.perf_counter() - began
    return {
        "runs": runs,
        "events": events,
        "build_seconds": round(seconds, 1),
        "append_ms_per_run": round(1000 * seconds / runs, 2),
    }


def cli(*args: str) -> float:
    """Wall seconds of one `invarlock ARGS` in a subprocess; exit 0 required."""
    exe = Path(sys.executable).with_name("invarlock")
    began = time.perf_counter()
    done = subprocess.run([str(exe), *args], capture_output=True, check=False)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"invarlock {' '.join(args)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return seconds


def cases(path: Path, runs: int, all_chains: bool) -> dict[str, list[str]]:
    digest = FakeModel(ref="base-2", weights={"w": np.full((4, 4), 2.0, np.float32)}).identity().weights_sha256
    db = ["--events", str(path)]
    out = {
        "version (CLI start-up)": ["--version"],
        "runs": ["runs", *db],
        "runs --json": ["runs", *db, "--json"],
        "runs --limit 50": ["runs", *db, "--limit", "50"],
        "runs --limit 50 --offset N-50": ["runs", *db, "--limit", "50", "--offset", str(max(runs - 50, 0))],
        "runs --since (last quarter)": ["runs", *db, "--since", "2026-10-01"],
        "runs --verdict FAIL": ["runs", *db, "--verdict", "FAIL"],
        "runs --baseline-digest (12 hex)": ["runs", *db, "--baseline-digest", digest[:12]],
        "runs --limit 50 --check-chains": ["runs", *db, "--limit", "50", "--check-chains"],
    }
    if all_chains:
        out["runs --check-chains (every run)"] = ["runs", *db, "--check-chains"]
    return out


def in_process(path: Path, repeat: int) -> dict[str, float]:
    """Median seconds of the listing use case alone (no interpreter start-up, imports or printing)."""
    queries = {
        "list_runs (every run)": ({}, False),
        "list_runs limit 50": ({"limit": 50}, False),
        "list_runs verdict FAIL": ({"verdict": "FAIL"}, False),
        "list_runs limit 50 check_chains": ({"limit": 50}, True),
        # with a filter the runs are chosen by their events: every stream is read and folded (docs/audit.md)
        "list_runs verdict FAIL limit 50 check_chains": ({"verdict": "FAIL", "limit": 50}, True),
    }
    out = {}
    for name, (kwargs, check) in queries.items():
        seconds = []
        for _ in range(repeat):
            began = time.perf_counter()
            list_runs(open_store(path, read_only=True), open_run_index(path), make_query(**kwargs), check_chains=check)
            seconds.append(time.perf_counter() - began)
        out[name] = statistics.median(seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--store", type=Path, default=None, help="default: /tmp/invarlock-runs-scale-N.duckdb")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--all-chains", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    path = args.store or Path(tempfile.gettempdir()) / f"invarlock-runs-scale-{args.runs}.duckdb"
    built: dict[str, Any] = {"reused": str(path)}
    if not path.exists():
        print(f"building {args.runs} runs into {path}", file=sys.stderr)
        built = build(path, args.runs)
    built["store_mb"] = round(path.stat().st_size / 2**20, 1)
    times = {
        name: statistics.median(cli(*argv) for _ in range(args.repeat))
        for name, argv in cases(path, args.runs, args.all_chains).items()
    }
    times |= in_process(path, args.repeat)
    report = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "build": built, "seconds": times}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"store: {built}")
    for name, seconds in times.items():
        print(f"{name:<36} {seconds:7.3f} s")


if __name__ == "__main__":
    main()
