"""`execution.backend: ray` through the real CLI: a local Ray with 2 actors on the demo model records the
in-process run's evidence bit for bit, an actor killed mid-run (the test-only kill knob) loses nothing, and a
driver SIGKILLed mid-scoring resumes on Ray (`certify --resume`) to the same evidence, leaving no Ray process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
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
SAME = ("evidence", "primary_metric", "secondary_metrics", "bootstrap", "validation", "verdict", "dataset", "subject")


def _run(root: Path, name: str, extra_env: dict[str, str] | None = None, **sections: Any) -> tuple[Result, Path]:
    config = write_config(root / f"{name}.yaml", **SMALL, **sections)
    args = ("run", "-c", config, "--events", f"{name}.duckdb", "--cert-out", name)
    result = invarlock(*args, cwd=root, extra_env=extra_env)
    return result, root / name / "evaluation.cert.json"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Result, Path]]]:
    """The same run in process, and on a local Ray whose busiest actor is killed after the first result (its
    session folder in a temp folder of its own, removed afterwards, rather than left in /tmp/ray)."""
    root = tmp_path_factory.mktemp("ray")
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths must fit in 107 bytes
    env = {"INVARLOCK_TEST_RAY_KILL_AFTER": "1", "RAY_TMPDIR": str(ray_tmp)}
    try:
        yield {"inprocess": _run(root, "inprocess"), "ray": _run(root, "ray", env, execution=RAY)}
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _scored(db: Path) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(role, arm, rows) of every windows_scored event, in stream order."""
    store = DuckDBEventStore(db, read_only=True)
    [run_id] = store.run_ids()
    records = store.read(run_id)
    assert chain_problems(records) == []
    rows = [json.loads(r.payload) for r in records if r.type == "windows_scored"]
    return [(p["role"], p["arm"], p["rows"]) for p in rows]


def test_ray_scoring_records_the_in_process_evidence_bit_for_bit(runs: dict[str, tuple[Result, Path]]) -> None:
    (local, local_cert), (ray, ray_cert) = runs["inprocess"], runs["ray"]
    assert local.code == 0 and ray.code == 0, local.stderr + ray.stderr
    here, there = read_cert(local_cert), read_cert(ray_cert)
    for section in SAME:
        assert here[section] == there[section], section
    assert there["provenance"]["config"]["execution"] == RAY and "execution" not in here["provenance"]["config"]
    db = ray_cert.parent.parent
    assert _scored(db / "ray.duckdb") == _scored(db / "inprocess.duckdb")


def test_a_killed_actor_loses_and_duplicates_no_window(runs: dict[str, tuple[Result, Path]]) -> None:
    ray, cert = runs["ray"]
    assert "ray: scoring actor" in ray.stderr and "was lost" in ray.stderr, ray.stderr
    scored = _scored(cert.parent.parent / "ray.duckdb")
    for role in ("baseline", "subject"):
        for arm in ("preview", "final"):
            ids = [row["window_id"] for r, a, rows in scored if (r, a) == (role, arm) for row in rows]
            assert len(ids) == len(set(ids)) == 32, (role, arm)
    verified = invarlock("verify", cert, "--events", cert.parent.parent / "ray.duckdb", cwd=cert.parent)
    assert verified.code == 0, verified.stdout + verified.stderr


def test_an_unreachable_cluster_is_e240_before_anything_is_recorded(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, "down", execution={**RAY, "address": "127.0.0.1:9"})
    assert_one_line_error(result, "E240", 2)
    assert not (tmp_path / "down.duckdb").exists()


def _scored_once(db: Path) -> bool:
    if not db.exists():
        return False
    store = DuckDBEventStore(db, read_only=True, lock_wait_s=5)
    return any("windows_scored" in [r.type for r in store.read(run_id)] for run_id in store.run_ids())


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
    """`invarlock ARGS -q` started in `root`, its output in `root/<command>.log`."""
    command = [sys.executable, "-m", "invarlock", *map(str, args), "-q"]
    with (root / f"{args[0]}.log").open("wb") as log:
        return Watched(subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT))


def _kill_mid_scoring(root: Path, env: dict[str, str], drivers: list[Watched]) -> tuple[str, list[RecordedEvent]]:
    """A Ray run SIGKILLed once its stream holds scores: its run id and the prefix it left. The killed
    session's Ray processes (actors included) exit within seconds; only Ray's agents linger (stopped here)."""
    db, config = root / "killed.duckdb", write_config(root / "killed.yaml", **SMALL, execution=RAY)
    killed = _driver(root, env, "run", "-c", config, "--events", db)
    drivers.append(killed)
    killed.wait_until(lambda: _scored_once(db), timeout_s=CLI_TIMEOUT_S)
    os.kill(killed.process.pid, signal.SIGKILL)
    killed.process.wait()
    assert "ray::PairWorker" in killed.titles  # killed while the pool held the models
    assert killed.stop_leftovers(grace_s=30, lingering=AGENTS) == set()
    store = DuckDBEventStore(db, read_only=True)
    [run_id] = store.run_ids()
    prefix = store.read(run_id)
    assert chain_problems(prefix) == [] and "run_completed" not in [r.type for r in prefix]
    return run_id, prefix


def _resume_on_ray(root: Path, env: dict[str, str], run_id: str, drivers: list[Watched]) -> None:
    """`certify --resume` finishes the run on a new local Ray pool, which leaves no process behind."""
    args = ("--resume", run_id, "--events", root / "killed.duckdb", "--cert-out", "resumed")
    resumed = _driver(root, env, "certify", *args)
    drivers.append(resumed)
    assert resumed.wait_exit(CLI_TIMEOUT_S) == 0, (root / "certify.log").read_text(encoding="utf-8")
    assert "ray::PairWorker" in resumed.titles
    assert resumed.stop_leftovers(grace_s=30) == set()


def test_a_driver_killed_mid_scoring_resumes_on_ray_with_the_in_process_evidence(
    runs: dict[str, tuple[Result, Path]], tmp_path: Path
) -> None:
    """SIGKILL the driver of a Ray run once the pool has scored a batch, then `certify --resume` on Ray: the
    prefix is kept as recorded, the certificate equals the uninterrupted in-process run's and verifies, and no
    process of either local Ray session outlives its driver (the agents Ray leaves behind are stopped by pid)."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray"))  # short: Ray's socket paths must fit in 107 bytes
    env = {**os.environ, "INVARLOCK_ALLOW_NETWORK": "0", "PYTHONWARNINGS": "ignore", "RAY_TMPDIR": str(ray_tmp)}
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
    reference = runs["inprocess"][1]
    cert, fresh = read_cert(out), read_cert(reference)
    for section in SAME:
        assert cert[section] == fresh[section], section
    whole = DuckDBEventStore(reference.parent.parent / "inprocess.duckdb", read_only=True)
    assert _rows(records) == _rows(whole.read(whole.run_ids()[0]))
    assert 0 < len(_rows(prefix)) < len(_rows(records))
    verified = invarlock("verify", out, "--events", db, cwd=tmp_path)
    assert verified.code == 0, verified.stdout + verified.stderr
