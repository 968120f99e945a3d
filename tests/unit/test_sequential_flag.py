"""`certify --sequential` / `run --sequential`: the config's `eval.sequential: true` without editing it, KL and
top-1 agreement measured as the config says (from the baseline's kept side of them); a config asking for anything
that needs both models held together is refused naming the flag before any model loads, and a resumed run keeps
its recorded setting."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
import yaml
from invarlock.application.config import EvalConfig, SecondaryConfig
from invarlock.application.config_execution import ExecutionConfig
from invarlock.application.config_sequential import held_one_at_a_time
from invarlock.domain.errors import UsageError

from tests.fakes.cli import run_cli
from tests.unit.conftest import small_config


def test_the_flag_holds_one_model_and_keeps_what_the_config_measures() -> None:
    held = held_one_at_a_time(small_config())
    assert held.eval.sequential is True
    assert held.eval.secondary == small_config().eval.secondary and held.eval.measures_pairs
    assert msgspec.structs.replace(held, eval=EvalConfig()) == small_config(), "nothing else changes"


@pytest.mark.parametrize("secondary", [SecondaryConfig(measure=True), SecondaryConfig(gate=True)])
def test_kl_asked_for_by_the_config_is_measured_one_model_at_a_time(secondary: SecondaryConfig) -> None:
    cfg = msgspec.structs.replace(small_config(), eval=EvalConfig(secondary=secondary))
    held = held_one_at_a_time(cfg)
    assert held.eval.sequential is True and held.eval.secondary == secondary and held.eval.measures_pairs


def test_ray_actors_holding_both_models_are_refused_naming_the_flag() -> None:
    cfg = msgspec.structs.replace(small_config(), execution=ExecutionConfig(backend="ray"))
    with pytest.raises(UsageError) as refused:
        held_one_at_a_time(cfg)
    assert refused.value.code == "E201" and refused.value.message.startswith("--sequential: eval.sequential cannot")
    assert refused.value.hint == "use backend inprocess, or drop --sequential"


def _preset(tmp_path: Path, evaluation: dict) -> Path:
    path = tmp_path / "preset.yaml"
    dataset = {"provider": "demo:wikipedia", "seq_len": 32, "preview_n": 2, "final_n": 2}
    path.write_text(yaml.safe_dump({"dataset": dataset, "eval": evaluation}), encoding="utf-8")
    return path


def test_the_cli_refuses_it_in_one_line_before_any_model_loads(tmp_path: Path) -> None:
    preset = _preset(tmp_path, {"metric": {"kind": "embedding_cosine"}})
    models = ("--baseline", tmp_path / "no-such-model", "--subject", tmp_path / "no-such-subject")
    events = ("--events", tmp_path / "ev.duckdb")
    code, out, err = run_cli("certify", *models, "--preset", preset, "--sequential", *events)
    assert code == 2 and "Traceback" not in out + err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("ERROR [INVARLOCK:E201] --sequential: eval.sequential cannot hold one model"), err
    assert "compares both models' outputs together" in err, err
    assert not (tmp_path / "ev.duckdb").exists(), "nothing was recorded"


def test_a_resumed_run_keeps_its_recorded_setting(tmp_path: Path) -> None:
    code, _, err = run_cli("certify", "--resume", "run-1", "--sequential", "--events", tmp_path / "ev.duckdb")
    assert code == 2 and "--resume continues a run with its recorded settings; --sequential cannot" in err, err


def test_a_resumed_run_keeps_its_recorded_adapter(tmp_path: Path) -> None:
    """`--adapter onnx` was ignored: the resumed run certified both models with the recorded hf_causal, exit 0."""
    code, _, err = run_cli("certify", "--resume", "run-1", "--adapter", "onnx", "--events", tmp_path / "ev.duckdb")
    assert code == 2 and "--resume continues a run with its recorded settings; --adapter cannot" in err, err
    assert not (tmp_path / "ev.duckdb").exists()


def test_the_doctor_reports_the_refusal_run_meets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(
        "model: {id: no/such/model}\nedit: {name: quant_rtn}\nexecution: {backend: ray}\n", encoding="utf-8"
    )
    run_code, _, run_err = run_cli("run", "-c", config, "--events", "ev.duckdb", "--sequential")
    code, out, _ = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json", "--sequential")
    errors = [f for f in json.loads(out)["findings"] if f["severity"] == "error"]
    assert run_code == code == 2 and errors[0]["error_code"] == "E201" and errors[0]["message"] in run_err
    assert errors[0]["message"].startswith("--sequential: eval.sequential cannot hold one model at a time")
    _, plain, _ = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json")
    assert "--sequential" not in plain, "the config alone asks for nothing the flag refuses"
