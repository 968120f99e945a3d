"""A checkpoint that loads but whose forward pass cannot run (here a TINY RANDOMLY INITIALISED Llama whose 3
key/value heads do not divide its 4 query heads) stops certify with a usage error naming the model, recorded
as the run's failure: not an unexpected internal error (E999) with a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from invarlock.cli.bootstrap import open_store

from tests.fakes.cli import run_cli
from tests.integration.tiny_models import make_tiny_llama_dir

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


def test_a_model_whose_forward_pass_fails_is_a_usage_error_recorded_as_the_runs_failure(tmp_path: Path) -> None:
    model = make_tiny_llama_dir(tmp_path / "broken", heads=4, kv_heads=3)
    preset = tmp_path / "preset.yaml"
    dataset = {"provider": "demo:wikipedia", "seq_len": 32, "preview_n": 4, "final_n": 4, "calibration_n": 8}
    preset.write_text(yaml.safe_dump({"dataset": dataset}))
    events = tmp_path / "events.duckdb"
    args = ["certify", "--baseline", model, "--subject", model, "--preset", preset, "--profile", "dev"]
    code, _, err = run_cli(*args, "--events", events, "--cert-out", tmp_path / "out")
    assert code == 2, err
    assert f"ERROR [INVARLOCK:E102] the forward pass of {model} failed:" in err
    assert "config.json matches its weights" in err and "Traceback" not in err and "E999" not in err
    store = open_store(events)
    (run_id,) = store.run_ids()
    failed = [r for r in store.read(run_id) if r.type == "run_failed"]
    assert len(failed) == 1 and b'"E102"' in failed[0].payload
