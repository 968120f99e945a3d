"""`execution.backend: ray` through the real CLI: a local Ray with 2 actors on the demo model records the
in-process run's evidence bit for bit, and an actor killed mid-run (the test-only kill knob) loses nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain.events import chain_problems

from .conftest import Result, assert_one_line_error, invarlock, read_cert, write_config

pytestmark = [pytest.mark.model, pytest.mark.slow]

# 2 batches of 16 windows per arm (scoring.EVENT_BATCH): the kill lands while the other actor holds a batch.
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
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Result, Path]]:
    """The same run in process, and on a local Ray whose busiest actor is killed after the first result."""
    root = tmp_path_factory.mktemp("ray")
    return {
        "inprocess": _run(root, "inprocess"),
        "ray": _run(root, "ray", {"INVARLOCK_TEST_RAY_KILL_AFTER": "1"}, execution=RAY),
    }


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
