"""`execution.backend: ray` through the real CLI, on a local Ray with 2 actors on the demo model: a run whose
busiest actor is killed after the first result (the test-only kill knob) and whose driver is then SIGKILLed
mid-scoring resumes on Ray (`certify --resume`) to the in-process run's evidence bit for bit, losing and
duplicating no window, and leaves no Ray process. One Ray run covers both kills: each Ray session costs minutes
of a 2-core CI machine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain.events import RecordedEvent, chain_problems

from .conftest import CLI_TIMEOUT_S, Result, assert_one_line_error, invarlock, read_cert, write_config
from .ray_processes import AGENTS, Watched

pytestmark = [pytest.mark.model, pytest.mark.slow]

# 2 batches of 16 windows per arm (scoring.chunk_size at the CPU batch of 8): the kill lands while the other
# actor holds a batch.
SMALL = {
    "dataset": {"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 32, "final_n": 32, "seed": 7}
    | {"calibration_n": 0},
    "guards": {"order": ["invariants", "invariants"]},
    "edit": {"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}},
}
RAY = {"backend": "ray", "address": "local", "actors": 2}
KILL_AFTER = "INVARLOCK_TEST_RAY_KILL_AFTER"
SAME = ("evidence", "primary_metric", "secondary_metrics", "bootstrap", "validation", "verdict", "dataset", "subject")


def _run(root: Path, name: str, extra_env: dict[str, str] | None = None, **sections: Any) -> tuple[Result, Path]:
    config = write_config(root / f"{name}.yaml", **SMALL, **sections)
    args = ("run", "-c", config, "--events", f"{name}.duckdb", "--cert-out", name)
    result = invarlock(*args, cwd=root, extra_env=extra_env)
    return result, root / name / "evaluation.cert.json"


@pytest.fixture(scope="module")
def inprocess(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """The run in process: the evidence every Ray run must record bit for bit."""
    return _run(tmp_path_factory.mktemp("inprocess"), "inprocess")


def test_an_unreachable_cluster_is_e240_before_anything_is_recorded(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, "down", execution={**RAY, "address": "127.0.0.1:9"})
    assert_one_line_error(result, "E240", 2)
    assert not (tmp_path / "down.duckdb").exists()


def _scored_once(db: Path) -> bool:
    if not db.exists():
        return False
    store = DuckDBEventStore(db, read_only=True, lock_wait_s=5)
    return any("windows_scored" in [r.type for r in store.read(run_id)] for run_id in store.run_ids())


def _scored(records: list[RecordedEvent]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(role, arm, rows) of every windows_scored event, in stream order."""
    payloads = [json.loads(r.payload) for r in records if r.type == "windows_scored"]
    return [(p["role"], p["arm"], p["rows"]) for p in payloads]


def _rows(records: list[RecordedEvent]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every scored row by (role, arm, window id); AssertionError when a window is recorded twice."""
    rows = {}
    for payload in (json.loads(r.payload) for r in records if r.type == "windows_scored"):
        for row in payload["rows"]:
            key = (payload["role"], payload["arm"], row["window_id"])
            assert key not in rows, key
            rows[key] = row
    return rows


def _driver(root: Path, env: dict[str, str], *args: str | Path) -> Watched:
    """`invarlock ARGS` started in `root`, its output (warnings included) in `root/<command>.log`."""
    command = [sys.executable, "-m", "invarlock", *map(str, args)]
    with (root / f"{args[0]}.log").open("wb") as log:
        return Watched(subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT))


def _held_the_pool(driver: Watched) -> bool:
    """Whether a scoring actor was seen: Ray titles an idle actor `ray::PairWorker` and a busy one with its method
    (`ray::PairWorker.score`), and the samples may catch it only busy (a rehearsal's run saw no idle title)."""
    return any(title.startswith("ray::PairWorker") for title in driver.titles)


def _lost_an_actor(root: Path) -> bool:
    return "was lost" in (root / "run.log").read_text(encoding="utf-8", errors="replace")


def _kill_mid_scoring(root: Path, env: dict[str, str], drivers: list[Watched]) -> tuple[str, list[RecordedEvent]]:
    """A Ray run whose busiest actor is killed after the first result, SIGKILLed once the loss is reported and its
    stream holds scores: its run id and the prefix it left. The killed session's Ray processes (actors included)
    exit within seconds; only Ray's agents linger (stopped here)."""
    db, config = root / "killed.duckdb", write_config(root / "killed.yaml", **SMALL, execution=RAY)
    killed = _driver(root, env | {KILL_AFTER: "1"}, "run", "-c", config, "--events", db)
    drivers.append(killed)
    killed.wait_until(lambda: _lost_an_actor(root) and _scored_once(db), timeout_s=CLI_TIMEOUT_S)
    os.kill(killed.process.pid, signal.SIGKILL)
    killed.process.wait()
    assert _held_the_pool(killed)  # killed while the pool held the models
    assert "ray: scoring actor" in (root / "run.log").read_text(encoding="utf-8", errors="replace")
    assert killed.stop_leftovers(grace_s=30, lingering=AGENTS) == set()
    store = DuckDBEventStore(db, read_only=True)
    [run_id] = store.run_ids()
    prefix = store.read(run_id)
    assert chain_problems(prefix) == [] and "run_completed" not in [r.type for r in prefix]
    return run_id, prefix


def _resume_on_ray(root: Path, env: dict[str, str], run_id: str, drivers: list[Watched]) -> None:
    """`certify --resume` finishes the run on a new local Ray pool, which leaves no process behind."""
    args = ("--resume", run_id, "--events", root / "killed.duckdb", "--cert-out", "resumed", "-q")
    resumed = _driver(root, env, "certify", *args)
    drivers.append(resumed)
    assert resumed.wait_exit(CLI_TIMEOUT_S) == 0, (root / "certify.log").read_text(encoding="utf-8")
    assert _held_the_pool(resumed)
    assert resumed.stop_leftovers(grace_s=30) == set()


def test_a_run_that_lost_an_actor_and_its_driver_resumes_on_ray_with_the_in_process_evidence(
    inprocess: tuple[Result, Path], tmp_path: Path
) -> None:
    """Kill the busiest actor after the first result, then SIGKILL the driver once the loss is reported and the
    pool has scored a batch, then `certify --resume` on Ray: the prefix is kept as recorded, no window is lost or
    recorded twice, the certificate equals the uninterrupted in-process run's (the Ray config stated) and
    verifies, and no process of either local Ray session outlives its driver (the agents Ray leaves behind are
    stopped by pid)."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "INVARLOCK_ALLOW_NETWORK": "0", "PYTHONWARNINGS": "ignore", "RAY_TMPDIR": str(ray_tmp)}
    env.pop(KILL_AFTER, None)
    drivers: list[Watched] = []
    try:
        run_id, prefix = _kill_mid_scoring(tmp_path, env, drivers)
        _resume_on_ray(tmp_path, env, run_id, drivers)
        assert len(list((ray_tmp / "ray").glob("session_2*"))) == 2  # both sessions in RAY_TMPDIR, none in /tmp/ray
    finally:
        for driver in drivers:  # after a failure too: no Ray process outlives the test
            driver.stop()
        shutil.rmtree(ray_tmp, ignore_errors=True)

    db, out = tmp_path / "killed.duckdb", tmp_path / "resumed" / "evaluation.cert.json"
    records = DuckDBEventStore(db, read_only=True).read(run_id)
    assert records[: len(prefix)] == prefix and chain_problems(records) == []
    local, reference = inprocess
    assert local.code == 0, local.stderr
    cert, fresh = read_cert(out), read_cert(reference)
    for section in SAME:
        assert cert[section] == fresh[section], section
    assert cert["provenance"]["config"]["execution"] == RAY and "execution" not in fresh["provenance"]["config"]
    whole = DuckDBEventStore(reference.parent.parent / "inprocess.duckdb", read_only=True)
    fresh_records = whole.read(whole.run_ids()[0])
    assert chain_problems(fresh_records) == []
    ray_order = _scored(prefix)  # what the Ray driver recorded, an actor lost: the in-process events, in order
    assert ray_order == _scored(fresh_records)[: len(ray_order)]
    rows = _rows(records)  # AssertionError when a window is recorded twice
    assert rows == _rows(fresh_records)  # every window of every arm, once, with its bits
    assert 0 < len(_rows(prefix)) < len(rows)
    verified = invarlock("verify", out, "--events", db, cwd=tmp_path)
    assert verified.code == 0, verified.stdout + verified.stderr
