"""A run killed with SIGKILL mid-scoring leaves a valid prefix of its stream; `--resume` finishes it exactly."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain.events import chain_problems

from .conftest import DEMO, assert_one_line_error, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _wait_for_scores(db: Path, process: subprocess.Popen[bytes], timeout_s: float = 300) -> str:
    """The run id once the stream holds a windows_scored event (polling the file read-only)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        if db.exists():
            store = DuckDBEventStore(db, read_only=True, lock_wait_s=5)
            for run_id in store.run_ids():
                if "windows_scored" in [r.type for r in store.read(run_id)]:
                    return run_id
        time.sleep(0.2)
    raise AssertionError("no windows were scored in time")


# the final arm is two events (scoring.chunk_size: 16 at the CPU batch of 8): several seconds of scoring to kill in
PREVIEW_N, FINAL_N = 4, 24


def test_sigkill_mid_scoring_leaves_a_valid_prefix(tmp_path: Path) -> None:
    """Only the killed run is a process of its own; the commands after it run in-process (same entry point)."""
    config = write_config(
        tmp_path / "run.yaml",
        dataset={"provider": "demo:wikipedia", "seq_len": 64, "preview_n": PREVIEW_N, "final_n": FINAL_N, "seed": 3},
        edit={"name": "quant_rtn", "plan": {"bits": 8}},
    )
    db = tmp_path / "ev.duckdb"
    command = [sys.executable, "-m", "invarlock", "run", "-c", str(config), "--events", str(db), "--quiet"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run_id = _wait_for_scores(db, process)
        time.sleep(random.uniform(0, 1))  # anywhere in the scoring loop, not only right after an append
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    records = DuckDBEventStore(db, read_only=True).read(run_id)
    types = [r.type for r in records]
    assert chain_problems(records) == [] and [r.seq for r in records] == list(range(len(records)))
    assert types[0] == "run_started" and "windows_scored" in types
    assert not {"certificate_issued", "run_completed", "run_failed"} & set(types)

    runs = invarlock("runs", "--events", db, "--json", cwd=tmp_path)
    [row] = json.loads(runs.stdout)
    assert (row["run_id"], row["status"], row["verdict"], row["chain_ok"]) == (run_id, "incomplete", None, True)
    assert "incomplete" in invarlock("runs", "--events", db, cwd=tmp_path).stdout
    assert_one_line_error(invarlock("replay", run_id, "--events", db, cwd=tmp_path), "E405", 2)

    after = invarlock("certify", "--baseline", "no/such/model", "--subject", DEMO, "--events", db, cwd=tmp_path)
    assert after.code == 2, after.stderr
    assert len(DuckDBEventStore(db, read_only=True).run_ids()) == 2
    assert DuckDBEventStore(db, read_only=True).read(run_id) == records

    resumed = invarlock("certify", "--resume", run_id, "--events", db, "--cert-out", "resumed", "-q", cwd=tmp_path)
    assert resumed.code == 0, resumed.stderr
    whole = invarlock("run", "-c", config, "--events", "whole.duckdb", "--cert-out", "whole", "-q", cwd=tmp_path)
    assert whole.code == 0, whole.stderr
    again, fresh = (read_cert(tmp_path / d / "evaluation.cert.json") for d in ("resumed", "whole"))
    for section in ("evidence", "primary_metric", "bootstrap", "validation", "verdict", "dataset", "subject"):
        assert again[section] == fresh[section], section
    scored_before = sum(len(json.loads(r.payload)["rows"]) for r in records if r.type == "windows_scored")
    resumed_rows = DuckDBEventStore(db, read_only=True).read(run_id)[len(records) :]
    scored_after = sum(len(json.loads(r.payload)["rows"]) for r in resumed_rows if r.type == "windows_scored")
    assert scored_after > 0 and scored_before + scored_after == 2 * (PREVIEW_N + FINAL_N)  # killed mid-scoring
    verified = invarlock("verify", tmp_path / "resumed" / "evaluation.cert.json", "--events", db, cwd=tmp_path)
    assert verified.code == 0, verified.stdout
