"""Two certify processes appending to one DuckDB file: each stream complete and intact, or a clean lock error.

The models are tiny RANDOMLY INITIALISED GPT-2 checkpoints: this tests the event store under two writers,
not model quality.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain.events import chain_problems

from ..integration.tiny_models import make_tiny_gpt2_dir

pytestmark = [pytest.mark.slow, pytest.mark.hf]


def test_two_concurrent_runs_on_one_event_file_lose_and_interleave_nothing(tmp_path: Path) -> None:
    model = make_tiny_gpt2_dir(tmp_path / "tiny")
    dataset = {"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 48, "final_n": 48, "seed": 5}
    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump({"dataset": dataset, "profile": "dev"}), encoding="utf-8")
    db = tmp_path / "shared.duckdb"
    command = [sys.executable, "-m", "invarlock", "certify", "--baseline", str(model), "--subject", str(model)]
    runs = [
        subprocess.Popen(
            [*command, "--preset", str(preset), "--events", str(db), "--cert-out", f"out{i}", "--json"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    results = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in runs]  # type: ignore[union-attr]
    store = DuckDBEventStore(db, read_only=True)
    finished = []
    for code, out, err in results:
        if code == 0:
            finished.append(json.loads(out)["run_id"])
        else:  # the only acceptable failure: the other process held the file for too long
            assert code == 2 and err.startswith("ERROR [INVARLOCK:E505]") and "locked" in err, err
    assert finished, "at least one of the two runs completes"
    assert sorted(store.run_ids()) == sorted(finished) or len(store.run_ids()) == 2
    for run_id in finished:
        records = store.read(run_id)
        assert chain_problems(records) == [] and {r.run_id for r in records} == {run_id}
        assert records[-1].type == "run_completed"
        scored = sum(len(json.loads(r.payload)["rows"]) for r in records if r.type == "windows_scored")
        assert scored == 2 * (48 + 48)
