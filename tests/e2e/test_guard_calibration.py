"""The guard chain on the real model through the real CLI: `invarlock calibrate` runs the benign and harmful
suite of GUARDS.md §5 (dev-size windows) once; each test reads its table and certificates."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from .conftest import Result, invarlock, invarlock_in_process, read_cert, write_config

pytestmark = [pytest.mark.model, pytest.mark.slow]

DOWN29 = "model.layers.29.mlp.down_proj.weight"
HARMFUL = {
    "attn_scale3": ("model.layers.15.self_attn.o_proj.weight", ["spectral"]),
    "ffn_scale1.5": ("model.layers.15.mlp.down_proj.weight", ["spectral"]),
    "top8_removed": ("model.layers.15.self_attn.k_proj.weight", ["spectral", "rmt"]),
    "down_scale0.9": (DOWN29, ["variance"]),
}


@dataclass(frozen=True)
class Calibration:
    root: Path
    result: Result
    table: dict[str, Any]

    def row(self, case: str) -> dict[str, Any]:
        return next(r for r in self.table["rows"] if r["case"] == case)

    def cert(self, case: str) -> dict[str, Any]:
        return read_cert(self.root / "out" / case / "evaluation.cert.json")


@pytest.fixture(scope="session")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Calibration:
    from invarlock.application.calibrate.calibration import DEMO_SUITE

    root = tmp_path_factory.mktemp("calibrate")
    suite = msgspec.to_builtins(DEMO_SUITE)
    suite["dataset"].update({"seq_len": 64, "preview_n": 4, "final_n": 8, "calibration_n": 8, "seed": 7})
    (root / "suite.yaml").write_text(yaml.safe_dump(suite), encoding="utf-8")
    result = invarlock(
        "--quiet", "calibrate", "--suite", "suite.yaml", "--out", "out", "--events", "ev.duckdb", cwd=root
    )
    table = json.loads((root / "out" / "calibration.json").read_text(encoding="utf-8"))
    return Calibration(root, result, table)


def test_calibrate_writes_the_table_and_every_expectation_holds(calibration: Calibration) -> None:
    assert calibration.result.code == 0, calibration.result.stderr
    assert calibration.result.stdout == calibration.result.stderr == "", "--quiet: the folder is the output"
    assert calibration.table["problems"] == []
    cases = [r["case"] for r in calibration.table["rows"]]
    assert cases == ["identical", "int8", *HARMFUL, "noise10"]
    markdown = (calibration.root / "out" / "calibration.md").read_text(encoding="utf-8")
    assert all(f"| {case} |" in markdown for case in cases)
    noise = calibration.row("noise10")  # reported with whatever the guards say; nothing is tuned to catch it
    assert noise["kind"] == "reported" and set(noise["guards"]) == {"invariants", "spectral", "rmt", "variance"}


def test_identical_subject_every_guard_silent_all_flags_true(calibration: Calibration) -> None:
    cert = calibration.cert("identical")
    assert cert["verdict"] == {"status": "PASS", "failed": []}
    for name in ("spectral", "rmt", "variance"):
        assert cert["guards"][name]["verdict"] == "pass" and cert["guards"][name]["violations"] == [], name
    assert cert["guards"]["variance"]["summary"]["taps"] == 0  # no FFN output changed: nothing to tap
    flags = dict(cert["validation"])
    assert flags.pop("catastrophe") is False and flags.pop("guard_overhead_acceptable") == "not_applicable"
    floors = {name: flags.pop(name) for name in ("window_floor_met", "token_floor_met", "ci_not_approximate")}
    dev = cert["policy"]["resolved"]["profile"] == "dev"  # the floors are gated under ci/release only
    assert set(floors.values()) == ({"not_applicable"} if dev else {True}), floors
    # KL/top-1 are measured on every causal run but gated only with eval.secondary.gate: true.
    secondary = {name: flags.pop(name) for name in ("kl_divergence_acceptable", "top1_agreement_acceptable")}
    assert set(secondary.values()) == {"not_applicable"}, secondary
    assert cert["secondary_metrics"]["kl_divergence"]["mean"] == 0.0
    assert cert["secondary_metrics"]["top1_agreement"]["top1"] == 100.0
    assert all(v is True for v in flags.values()), flags


def test_int8_no_guard_fails_and_ve_stays_off(calibration: Calibration) -> None:
    cert = calibration.cert("int8")
    assert cert["verdict"]["status"] == "PASS"
    assert {g: s["verdict"] for g, s in cert["guards"].items()} == dict.fromkeys(cert["guards"], "pass")
    variance = cert["guards"]["variance"]
    assert variance["summary"]["taps"] == 30 and variance["summary"]["proposed"] == 0
    assert variance["summary"]["enabled"] is False and cert["guard_overhead"] is None


@pytest.mark.parametrize("case", list(HARMFUL))
def test_each_harmful_edit_is_flagged_by_its_guard_naming_the_matrix(calibration: Calibration, case: str) -> None:
    matrix, guards = HARMFUL[case]
    cert = calibration.cert(case)
    for guard in guards:
        assert matrix in [v["name"] for v in cert["guards"][guard]["violations"]], guard
    # the suite runs every guard in gate mode: the verdict fails on the guard even where the ratio passes
    assert cert["verdict"]["status"] == "FAIL"
    failed = {f["flag"]: f["reason"] for f in cert["verdict"]["failed"]}
    flag = {"spectral": "spectral_stable", "rmt": "rmt_stable", "variance": "variance_ok"}[guards[0]]
    assert matrix in failed[flag]


def test_guard_gates_fail_edits_whose_perplexity_ratio_alone_passes(calibration: Calibration) -> None:
    passing_ratio = [c for c in HARMFUL if calibration.cert(c)["validation"]["primary_metric_acceptable"] is True]
    assert len(passing_ratio) >= 2, "the suite should hold harmful edits the ratio gate alone would let through"
    for case in passing_ratio:
        assert calibration.cert(case)["verdict"]["status"] == "FAIL", case


def test_ve_proposes_the_inverse_scale_enables_it_and_moves_the_ratio_toward_one(calibration: Calibration) -> None:
    cert = calibration.cert("down_scale0.9")
    variance = cert["guards"]["variance"]
    tap = next(t for t in variance["scales"] if t["weight"] == DOWN29)
    assert tap["ratio"] == pytest.approx(1 / 0.9, rel=1e-3)  # the down-projection has no bias: exactly 1/0.9
    assert tap["applied"] == pytest.approx(1.03)  # moved at most max_scale_step from 1
    assert variance["summary"]["enabled"] is True and variance["ab"]["ci"][1] < -0.0009
    overhead, final = cert["guard_overhead"], cert["primary_metric"]["final"]
    repaired, bare = overhead["guarded_ppl"] / final["baseline_ppl"], overhead["bare_ppl"] / final["baseline_ppl"]
    assert abs(math.log(repaired)) < abs(math.log(bare))
    assert cert["validation"]["guard_overhead_acceptable"] is True


@pytest.mark.parametrize("case", ["identical", "int8", "down_scale0.9", "top8_removed"])
def test_verify_re_derives_every_guard_outcome(calibration: Calibration, case: str) -> None:
    path = calibration.root / "out" / case / "evaluation.cert.json"
    result = invarlock_in_process("verify", path, "--events", "ev.duckdb", "--json", cwd=calibration.root)
    report = json.loads(result.stdout)
    checks = {ch["name"]: ch["ok"] for ch in report["checks"]}
    assert all(checks[f"guard:{g}"] for g in ("invariants", "spectral", "rmt", "variance")), checks
    assert checks["guard_overhead"] and checks["window_plan"] and checks["events"]
    assert result.code == (0 if calibration.cert(case)["verdict"]["status"] == "PASS" else 1), result.stderr


def test_resume_of_a_suite_that_lost_its_table_and_last_certificates_scores_nothing_again(
    calibration: Calibration,
) -> None:
    """The last cases' runs completed but their files were never written (a process killed after recording them):
    `calibrate --resume` keeps the certificates --out holds, takes the others from the store, writes the same
    table (every run id and certificate digest as before) and the same certificate bytes."""
    resumed = calibration.root / "resumed"
    shutil.copytree(calibration.root / "out", resumed)
    for name in (
        "calibration.json",
        "calibration.md",
        "down_scale0.9/evaluation.cert.json",
        "noise10/evaluation.cert.json",
    ):
        (resumed / name).unlink()
    result = invarlock(
        "--quiet", "calibrate", "--resume", "--suite", "suite.yaml", "--out", "resumed", "--events", "ev.duckdb",
        cwd=calibration.root,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert json.loads((resumed / "calibration.json").read_text(encoding="utf-8")) == calibration.table
    for case in ("down_scale0.9", "noise10"):
        written = (resumed / case / "evaluation.cert.json").read_bytes()
        assert written == (calibration.root / "out" / case / "evaluation.cert.json").read_bytes(), case


def test_export_writes_the_subject_with_its_ve_scales(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    config = write_config(
        tmp_path / "down.yaml",
        dataset={"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 4, "final_n": 8, "seed": 7},
        edit={"name": "scale_weight", "plan": {"weight": DOWN29, "factor": 0.9}},
    )
    result = invarlock_in_process("run", "-c", config, "--cert-out", "out", "--export", "exported",
                                  "--events", "ev.duckdb", cwd=tmp_path)  # fmt: skip
    assert result.code == 0, result.stderr
    assert "Subject exported: exported  (1 weights repaired by guards)" in result.stdout
    assert f"  monitor spectral: 1 violation(s), not gating: {DOWN29}" in result.stdout  # balanced monitors it
    assert "  guard repairs on 1 weight(s): PPL guarded/bare 0.9" in result.stdout
    cert = read_cert(tmp_path / "out" / "evaluation.cert.json")
    assert cert["guards"]["variance"]["applied"] == {DOWN29: pytest.approx(1.03)}
    exported = {}
    for shard in (tmp_path / "exported").glob("*.safetensors"):
        exported.update(load_file(shard))
    original = _demo_weight(DOWN29)
    assert exported[DOWN29] == pytest.approx(original * 0.9 * 1.03, rel=1e-6)
    assert (tmp_path / "exported" / "tokenizer.json").exists()


def _demo_weight(name: str) -> Any:
    """The float32 weight as the demo checkpoint stores it (read from its file, no model load)."""
    from invarlock.adapters.hf_loader import demo_model_dir
    from safetensors.numpy import load_file

    return next(t[name] for shard in demo_model_dir().glob("*.safetensors") if name in (t := load_file(shard)))
