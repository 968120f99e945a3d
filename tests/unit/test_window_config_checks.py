"""A run config's window shape and arm sizes are checked with the config, naming the file and key: a negative or
one-token seq_len, a stride below seq_len or a seq_len past any context reached the run, which loaded the
tokenizer, recorded a failed run and blamed no file; a negative calibration_n was taken, and the final arm dealt
fewer windows than final_n asked with nothing to say so."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.domain.arm_counts import ArmCounts, fit_counts
from invarlock.domain.errors import UsageError

from tests.fakes.cli import run_cli

DATASET = {"seq_len": 64, "stride": 64, "preview_n": 4, "final_n": 6, "calibration_n": 8, "seed": 7}


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("seq_len", -3, "dataset.seq_len is -3"),
        ("seq_len", 1, "dataset.seq_len is 1"),
        ("stride", 0, "dataset.stride 0 < seq_len 64 would make windows overlap"),
        ("stride", 63, "dataset.stride 63 < seq_len 64"),
        ("seq_len", 2**80, f"dataset.seq_len {2**80} / stride 64 above 2147483648 tokens"),
        ("calibration_n", -4, "dataset.calibration_n is -4"),
    ],
)
def test_a_window_shape_no_run_can_cut_is_e201_naming_the_file_and_records_nothing(
    tmp_path: Path, key: str, value: int, named: str
) -> None:
    dataset = ", ".join(f"{k}: {value if k == key else v}" for k, v in DATASET.items())
    config, events = tmp_path / "c.yaml", tmp_path / "events.duckdb"
    config.write_text(f"dataset: {{{dataset}}}\nedit: {{name: quant_rtn, plan: {{bits: 8}}}}\nprofile: dev\n")
    code, out, err = run_cli("run", "-c", config, "--events", events)
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E201] {config}: {named}") and " — " in err, err
    assert err.count("\n") == 1 and out == "" and not events.exists()


def test_a_negative_calibration_arm_is_refused_not_taken_from_the_final_arm() -> None:
    # fit_counts granted 6/6/-4 from 10 windows ("enough": 8), and the deal gave the final arm 4 windows.
    with pytest.raises(UsageError, match="calibration_n must be at least 0, got -4"):
        fit_counts(ArmCounts(preview=6, final=6, calibration=-4), 10, allow_fewer=False)
