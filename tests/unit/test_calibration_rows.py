"""The calibration table on the fakes: typed rows, their JSON keys, the expectations check and the Markdown."""

from __future__ import annotations

import msgspec
from invarlock.application.calibrate.calibration import CalibrationCase, CalibrationSuite, problems, run_suite
from invarlock.application.calibrate.calibration_rows import RmtRow, SpectralRow, VarianceRow, markdown
from invarlock.application.config import DatasetConfig, EditConfig, GuardsConfig, ModelConfig

DOWN = "ffn.2.down"


def _suite(flagged_by: list[str]) -> CalibrationSuite:
    return CalibrationSuite(
        model=ModelConfig(id="ve_base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8),
        guards=GuardsConfig(spectral={"mode": "gate"}),
        cases=[
            CalibrationCase(name="identical", kind="benign"),
            CalibrationCase(
                name="down_0.8",
                kind="harmful",
                edit=EditConfig(name="fake_weight", plan={"weight": DOWN, "factor": 0.8}),
                matrix=DOWN,
                flagged_by=flagged_by,
            ),
        ],
    )


def test_a_suite_on_the_fakes_meets_its_expectations_and_tabulates_every_guard(services) -> None:
    seen: list[str] = []
    rows = run_suite(_suite(["spectral"]), services, lambda row, _outcome: seen.append(row.case))
    assert seen == ["identical", "down_0.8"] and problems(rows) == []
    identical, harmful = rows
    assert all(g.verdict == "pass" and not g.flagged for g in identical.guards.values())
    spectral = harmful.guards["spectral"]
    assert isinstance(spectral, SpectralRow) and spectral.flagged == [DOWN] and spectral.matrix_r is not None
    assert isinstance(harmful.guards["rmt"], RmtRow) and isinstance(harmful.guards["variance"], VarianceRow)
    data = msgspec.to_builtins(rows)
    assert set(data[1]["guards"]["spectral"]) == {
        "verdict", "seconds", "flagged", "caps_applied", "max_abs_r", "matrix_r", "matrix_z"
    }  # fmt: skip
    assert set(data[0]["guards"]["invariants"]) == {"verdict", "seconds", "flagged"}
    table = markdown(rows, "### t")
    assert "| identical | benign |" in table and "| down_0.8 | harmful |" in table and "spectral: 1" in table


def test_a_harmful_case_its_named_guard_missed_is_a_problem(services) -> None:
    rows = run_suite(_suite(["rmt", "invariants"]), services)
    assert problems(rows) == [f"harmful down_0.8: rmt, invariants did not flag {DOWN}"]


def test_each_case_prints_as_words_not_python_reprs(services) -> None:
    """`ratio None, ... flagged {'spectral': [...]}` was printed for a rolled-back case (stop-62 docs hunt)."""
    from invarlock.cli.commands_calibrate import case_line

    identical, harmful = run_suite(_suite(["spectral"]), services)
    assert case_line(identical) == f"identical: ratio {identical.ratio:.4f}, verdict PASS, flagged nothing"
    assert f"flagged spectral: {DOWN}; variance: {DOWN}" in case_line(harmful) and "{" not in case_line(harmful)
    rolled_back = msgspec.structs.replace(harmful, ratio=None)
    assert case_line(rolled_back).startswith("down_0.8: ratio — (no final arm), verdict ")


def test_a_pipe_in_a_case_name_stays_in_its_cell(services) -> None:
    """`a|b` split its row into 10 cells under a 9-column header (the tools hunt)."""
    rows = run_suite(_suite(["spectral"]), services)
    piped = [msgspec.structs.replace(rows[0], case="a|b"), rows[1]]
    line = next(line for line in markdown(piped, "### t").splitlines() if line.startswith("| a"))
    assert line.startswith("| a\\|b | benign |") and line.replace("\\|", "").count("|") == 10
