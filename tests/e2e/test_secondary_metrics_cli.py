"""KL divergence and top-1 agreement through the real CLI on the demo model: an int8 run with the secondary
gates on states them (schema v2), passes them, replays byte for byte, verifies with and without its events,
and the independent recompute script agrees; the ungated int8 run of the suite states them as informational."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CompletedRun, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]

RECOMPUTE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "recompute_kl.py"
SECONDARY_FLAGS = ("kl_divergence_acceptable", "top1_agreement_acceptable")


@pytest.fixture(scope="module")
def gated_run(tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    root = tmp_path_factory.mktemp("gated")
    config = write_config(
        root / "gated.yaml",
        dataset={"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 4, "final_n": 6, "seed": 7},
        edit={"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}},
        eval={"secondary": {"gate": True}},
        guards={"order": ["invariants", "invariants"]},
    )
    result = invarlock("run", "-c", config, "--cert-out", "out", "--events", "ev.duckdb", cwd=root)
    return CompletedRun(root, root / "out" / "evaluation.cert.json", root / "ev.duckdb", result)


def test_a_gated_int8_run_states_and_passes_the_secondary_gates(gated_run: CompletedRun) -> None:
    assert gated_run.result.code == 0, gated_run.result.stderr
    assert "KL " in gated_run.result.stdout and "top-1 agreement" in gated_run.result.stdout
    cert = read_cert(gated_run.cert)
    sm, limits = cert["secondary_metrics"], cert["policy"]["resolved"]["secondary"]
    assert cert["schema_version"] == "v2" and sm["arm"] == "final"
    assert all(cert["validation"][flag] is True for flag in SECONDARY_FLAGS)
    assert 0 < sm["kl_divergence"]["mean"] <= sm["kl_divergence"]["ci"][1] <= limits["kl_mean_upper_limit"]
    assert limits["top1_lower_limit"] <= sm["top1_agreement"]["ci"][0] <= sm["top1_agreement"]["top1"] < 100
    rows = cert["evidence"]["final"]["comparisons"]
    assert [r["window_id"] for r in rows] == cert["evidence"]["final"]["window_ids"]
    assert all(r["positions"] == 63 and sum(r["kl_histogram"]) == 63 for r in rows)


def test_the_gated_run_replays_byte_for_byte_and_verifies_with_its_events(gated_run: CompletedRun) -> None:
    replayed = gated_run.root / "replayed.json"
    result = invarlock("replay", gated_run.run_id, "--events", gated_run.events, "-o", replayed, cwd=gated_run.root)
    assert result.code == 0, result.stderr
    assert replayed.read_bytes() == gated_run.cert.read_bytes()
    verified = invarlock("verify", gated_run.cert, "--events", gated_run.events, "--json", cwd=gated_run.root)
    assert verified.code == 0, verified.stdout + verified.stderr
    checks = {c["name"]: c["ok"] for c in json.loads(verified.stdout)["checks"]}
    assert checks["secondary_metrics"] and checks["comparisons"] and checks["secondary_gate"] and checks["events"]


def test_the_recompute_script_agrees_with_the_certificate(gated_run: CompletedRun) -> None:
    done = subprocess.run([sys.executable, str(RECOMPUTE), str(gated_run.cert)], capture_output=True, text=True)
    assert done.returncode == 0 and "DIFF" not in done.stdout, done.stdout + done.stderr


def test_the_audit_view_lists_the_compared_windows(gated_run: CompletedRun) -> None:
    sql = (
        "SELECT arm, count(*) AS n, sum(kl_sum) / sum(positions) AS mean FROM windows_compared "
        f"WHERE run_id = '{gated_run.run_id}' GROUP BY arm ORDER BY arm"
    )
    result = invarlock("audit", "--events", gated_run.events, "--sql", sql, "--json", cwd=gated_run.root)
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["arm"], r["n"]) for r in rows] == [("final", 6), ("preview", 4)]
    final = read_cert(gated_run.cert)["secondary_metrics"]["kl_divergence"]["mean"]
    assert rows[0]["mean"] == pytest.approx(final, rel=1e-12)


def test_an_ungated_run_states_the_secondary_metrics_as_not_applicable(int8_run: CompletedRun) -> None:
    cert = read_cert(int8_run.cert)
    assert cert["secondary_metrics"]["kl_divergence"]["tokens"] == 12 * 127
    assert all(cert["validation"][flag] == "not_applicable" for flag in SECONDARY_FLAGS)
    assert "secondary" not in cert["policy"]["resolved"]
