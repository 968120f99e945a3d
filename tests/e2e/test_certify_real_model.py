"""certify / run / replay / verify through the real CLI on SmolLM2-135M and embedded Wikipedia text. The quiet
certify runs in a process of its own (its stdout and stderr must be empty); the other commands in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import DEMO, CompletedRun, invarlock, invarlock_in_process, read_cert, stream_types, write_config

pytestmark = [pytest.mark.model, pytest.mark.slow]


def test_identical_subject_gives_ratio_one_and_passes_without_guard_noise(tmp_path: Path) -> None:
    preset = write_config(tmp_path / "preset.yaml")
    result = invarlock(
        "--quiet", "certify", "--baseline", DEMO, "--subject", DEMO, "--preset", preset,
        "--cert-out", "out", "--events", "ev.duckdb", cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert result.stdout == result.stderr == "", "invarlock --quiet certify: the certificate file is the output"
    cert = read_cert(tmp_path / "out" / "evaluation.cert.json")
    pm = cert["primary_metric"]
    assert pm["ratio_vs_baseline"] == 1.0 and pm["display_ci"] == [1.0, 1.0]
    assert cert["evidence"]["final"]["baseline_nll"] == cert["evidence"]["final"]["subject_nll"]
    assert cert["verdict"] == {"status": "PASS", "failed": []}
    flags = dict(cert["validation"])
    assert flags.pop("catastrophe") is False
    assert all(value in (True, "not_applicable") for value in flags.values()), flags
    checks = [c for phase in cert["guards"]["invariants"]["phases"].values() for c in phase["checks"]]
    assert checks and all(c["status"] == "pass" and c["offender_count"] == 0 for c in checks)
    assert cert["baseline"]["weights_sha256"] == cert["subject"]["weights_sha256"]


def test_int8_quant_rtn_passes_balanced_within_one_percent(int8_run: CompletedRun) -> None:
    assert int8_run.result.code == 0, int8_run.result.stderr
    assert "Verdict: PASS" in int8_run.result.stdout
    assert "Certificate: out/evaluation.cert.json" in int8_run.result.stdout
    cert = read_cert(int8_run.cert)
    assert abs(cert["primary_metric"]["ratio_vs_baseline"] - 1.0) < 0.01
    assert cert["primary_metric"]["display_ci"][1] <= cert["policy"]["resolved"]["gates"]["ratio_limit"]
    assert cert["edit"]["deltas"]["layers_modified"] == 30 and len(cert["edit"]["deltas"]["modules_changed"]) == 210
    assert cert["baseline"]["weights_sha256"] != cert["subject"]["weights_sha256"]
    assert cert["verdict"]["status"] == "PASS"


def test_int4_quant_rtn_fails_the_primary_metric_gate(tmp_path: Path) -> None:
    config = write_config(tmp_path / "int4.yaml", edit={"name": "quant_rtn", "plan": {"bits": 4, "scope": "all"}})
    result = invarlock_in_process("run", "-c", config, "--cert-out", "out", "--events", "ev.duckdb", "--json",
                                  cwd=tmp_path)  # fmt: skip
    assert result.code == 1, result.stderr
    summary = json.loads(result.stdout)
    cert = read_cert(Path(tmp_path / summary["certificate"]))
    assert cert["validation"]["primary_metric_acceptable"] is False
    assert "primary_metric_acceptable" in [f["flag"] for f in cert["verdict"]["failed"]]
    types = stream_types(tmp_path / "ev.duckdb", summary["run_id"])[summary["run_id"]]
    preview_ratio = cert["primary_metric"]["preview"]["ratio"]
    rolled_back = preview_ratio > cert["policy"]["resolved"]["gates"]["catastrophe_ratio"]
    assert cert["validation"]["catastrophe"] is rolled_back
    assert ("rollback_performed" in types) is rolled_back
    assert (types.count("windows_scored") > 0) and types[-1] == "run_completed"


def test_replay_rebuilds_byte_identical_certificate_and_verify_passes(int8_run: CompletedRun) -> None:
    replayed = int8_run.root / "replayed.json"
    result = invarlock_in_process(
        "replay", int8_run.run_id, "--events", int8_run.events, "-o", replayed, cwd=int8_run.root
    )
    assert result.code == 0, result.stderr
    assert replayed.read_bytes() == int8_run.cert.read_bytes()
    verified = invarlock_in_process("verify", int8_run.cert, "--events", int8_run.events, "--json", cwd=int8_run.root)
    assert verified.code == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] is True and report["verdict"] == "PASS"
    assert {c["name"] for c in report["checks"]} >= {"digest", "primary_metric", "bootstrap", "events", "verdict"}


def test_runs_and_events_show_the_completed_run(int8_run: CompletedRun) -> None:
    runs = invarlock_in_process("runs", "--events", int8_run.events, "--json", cwd=int8_run.root)
    assert runs.code == 0, runs.stderr
    [row] = json.loads(runs.stdout)
    assert (row["run_id"], row["status"], row["verdict"], row["chain_ok"]) == (
        int8_run.run_id,
        "completed",
        "PASS",
        True,
    )
    timeline = invarlock_in_process("events", int8_run.run_id, "--events", int8_run.events, "--json", cwd=int8_run.root)
    types = [e["type"] for e in json.loads(timeline.stdout)]
    assert types[0] == "run_started" and types[-2:] == ["certificate_issued", "run_completed"]
    assert types.index("edit_applied") < types.index("windows_planned") < types.index("preview_assessed")
