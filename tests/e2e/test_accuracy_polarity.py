"""`eval.metric.kind: accuracy` through the real CLI: zero-shot sentiment of the demo model on Pang & Lee polarity,
int8 and int4 RTN, then verify, replay and reseal-tamper (a flipped prediction or label must fail verify)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.domain import certificate as c

from tests.e2e.conftest import CompletedRun, read_cert, write_config
from tests.e2e.conftest import invarlock_in_process as invarlock

pytestmark = pytest.mark.hf

METRIC = {
    "kind": "accuracy",
    "template": "Review: {text}\nSentiment:",
    "label_words": [" negative", " positive"],
}


def _accuracy_run(root: Path, bits: int) -> CompletedRun:
    config = write_config(
        root / f"int{bits}.yaml",
        dataset={"provider": "demo:polarity", "seq_len": 96, "preview_n": 12, "final_n": 24, "calibration_n": 0},
        edit={"name": "quant_rtn", "plan": {"bits": bits, "scope": "all"}},
        eval={"metric": METRIC},
        guards={"order": ["invariants", "invariants"]},  # the weight guards are exercised elsewhere; 60 s saved
    )
    result = invarlock("run", "-c", config, "--cert-out", "out", "--events", "ev.duckdb", cwd=root)
    return CompletedRun(root, root / "out" / "evaluation.cert.json", root / "ev.duckdb", result)


@pytest.fixture(scope="module")
def int8_accuracy(tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    return _accuracy_run(tmp_path_factory.mktemp("acc8"), 8)


@pytest.fixture(scope="module")
def int4_accuracy(tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    return _accuracy_run(tmp_path_factory.mktemp("acc4"), 4)


def _final(run: CompletedRun) -> dict[str, Any]:
    final: dict[str, Any] = read_cert(run.cert)["primary_metric"]["final"]
    return final


def test_int8_run_certifies_accuracy_with_examples_as_windows_and_verify_and_replay_agree(int8_accuracy):
    run = int8_accuracy
    assert run.result.code in (0, 1), run.result.stderr
    cert = read_cert(run.cert)
    pm, ds = cert["primary_metric"], cert["dataset"]
    assert (pm["kind"], pm["unit"], pm["gating_basis"]) == ("accuracy", "accuracy (pp)", "lower")
    assert ds["provider"] == "demo:polarity" and "Pang & Lee" in ds["licence"] and ds["stride"] == 0
    assert cert["evidence"]["final"]["tokens_scored"] == [1] * 24
    rows = cert["evidence"]["final"]["comparisons"]
    labels = [r["label"] for r in rows]
    base_ok = sum(r["baseline_pred"] == r["label"] for r in rows)
    assert _final(run)["baseline_accuracy"] == 100.0 * base_ok / len(rows) and set(labels) <= {0, 1}
    assert cert["policy"]["resolved"]["accuracy"]["delta_pp_limit"] > 0
    assert "Δ" in run.result.stdout and "agreement" in run.result.stdout
    verified = invarlock("verify", run.cert, "--events", run.events, "--json", cwd=run.root)
    assert verified.code == run.result.code, verified.stdout
    replayed = invarlock("replay", run.run_id, "--events", run.events, "-o", "replayed.json", cwd=run.root)
    assert replayed.code == 0 and (run.root / "replayed.json").read_bytes() == run.cert.read_bytes()


def test_int4_loses_the_classifier_and_rolls_back_on_the_preview_arm_while_int8_agrees_more(
    int8_accuracy, int4_accuracy
):
    run = int4_accuracy
    cert = read_cert(run.cert)
    preview, limit = cert["primary_metric"]["preview"], cert["policy"]["resolved"]["accuracy"]["catastrophe_pp"]
    assert run.result.code == 1, run.result.stderr
    assert cert["status"] == "rollback" and cert["evidence"]["final"] is None and cert["validation"]["catastrophe"]
    assert preview["delta_pp"] < -limit and cert["verdict"]["failed"][0]["flag"] == "catastrophe"
    assert preview["agreement"] < read_cert(int8_accuracy.cert)["primary_metric"]["preview"]["agreement"]
    assert "ROLLBACK: preview Δaccuracy" in run.result.stdout
    verified = invarlock("verify", run.cert, "--events", run.events, "--json", cwd=run.root)
    assert verified.code == 1, verified.stdout
    replayed = invarlock("replay", run.run_id, "--events", run.events, "-o", "replayed.json", cwd=run.root)
    assert replayed.code == 0 and (run.root / "replayed.json").read_bytes() == run.cert.read_bytes()


def _flip_prediction(data: dict[str, Any]) -> None:
    row = data["evidence"]["final"]["comparisons"][0]
    row["subject_pred"] = 1 - row["subject_pred"]


def _flip_label(data: dict[str, Any]) -> None:
    row = data["evidence"]["preview"]["comparisons"][0]
    row["label"] = 1 - row["label"]


def _flip_stated_agreement(data: dict[str, Any]) -> None:
    data["primary_metric"]["final"]["agreement"] = 100.0 - data["primary_metric"]["final"]["agreement"] / 2


@pytest.mark.parametrize(
    "change", [_flip_prediction, _flip_label, _flip_stated_agreement], ids=["prediction", "label", "agreement"]
)
def test_a_resealed_flip_of_the_accuracy_evidence_fails_verify_with_exit_3(
    int8_accuracy: CompletedRun, change: Callable[[dict[str, Any]], None]
) -> None:
    data = read_cert(int8_accuracy.cert)
    change(data)
    tampered = int8_accuracy.root / f"tampered-{change.__name__}.json"
    tampered.write_bytes(c.to_bytes(c.seal(msgspec.convert(data, c.Certificate))))
    result = invarlock("verify", tampered, "--json", cwd=int8_accuracy.root)
    assert result.code == 3, result.stdout
    failed = [ch["name"] for ch in json.loads(result.stdout)["checks"] if not ch["ok"]]
    assert failed, result.stdout


def test_the_auditor_script_recomputes_both_real_certificates(int8_accuracy, int4_accuracy):
    script = Path(__file__).resolve().parents[2] / "docs" / "reference" / "recompute_accuracy.py"
    for run in (int8_accuracy, int4_accuracy):
        done = subprocess.run([sys.executable, str(script), str(run.cert)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "DIFF" not in done.stdout, done.stdout + done.stderr


def test_the_re_execution_audit_re_scores_examples_and_a_rebuilt_flipped_prediction_fails(int8_accuracy):
    from invarlock.domain.model import WindowComparison

    from tests.e2e.conftest import DEMO
    from tests.e2e.test_reexecution_paired_cli import _forged_fails

    def flip(r: WindowComparison) -> WindowComparison:
        assert r.subject_pred is not None
        return msgspec.structs.replace(r, subject_pred=1 - r.subject_pred)

    _forged_fails(int8_accuracy, DEMO, flip, "example", "subject_pred", sample=3)  # each example costs ~3 s
