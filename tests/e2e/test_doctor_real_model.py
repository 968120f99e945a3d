"""`invarlock doctor` on the real demo model and real text: a clean config is ready and records nothing; a run
that certify stops before loading a model (too few windows, another tokenizer) is the doctor's first error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.cli import run_cli

from .conftest import DEMO, stream_types, write_config

pytestmark = [pytest.mark.model, pytest.mark.slow]

ENCODER = "demo:minilm-l6"  # an encoder with its own (WordPiece) tokenizer


def test_a_clean_config_is_ready_and_the_doctor_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "run.yaml", edit={"name": "quant_rtn", "plan": {"bits": 8}})
    code, out, err = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json")
    report = json.loads(out)
    assert code == 0 and report["resolution"]["ready"], out + err
    codes = {f["code"]: f["message"] for f in report["findings"]}
    assert report["summary"]["errors"] == 0 and {"D902", "D904", "D907", "D909"} <= set(codes)
    assert "planned preview 4, final 8" in codes["D904"]
    assert not (tmp_path / "ev.duckdb").exists() and list(tmp_path.iterdir()) == [config]


def _too_small_corpus(folder: Path) -> list[str]:
    (folder / "small.txt").write_text("Only a handful of words here, far too few for 388 windows.\n", encoding="utf-8")
    dataset = {"provider": "text", "path": "small.txt", "seq_len": 64}
    return ["--baseline", DEMO, "--subject", DEMO, "--preset", str(write_config(folder / "p.yaml", dataset=dataset))]


def _other_tokenizer(folder: Path) -> list[str]:
    return ["--baseline", DEMO, "--subject", ENCODER, "--preset", str(write_config(folder / "p.yaml"))]


@pytest.mark.parametrize(
    ("make", "code", "exit_code"),
    [(_too_small_corpus, "E303", 3), (_other_tokenizer, "E002", 3)],
    ids=["too few windows", "another tokenizer"],
)
def test_what_certify_stops_with_before_loading_a_model_the_doctor_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make, code: str, exit_code: int
) -> None:
    monkeypatch.chdir(tmp_path)
    args = make(tmp_path)
    if code == "E303":
        args += ["--profile", "ci"]
    certified = run_cli("certify", *args, "--events", "ev.duckdb", "--quiet")
    doctored = run_cli("doctor", *args, "--events", "other.duckdb", "--json")
    report = json.loads(doctored[1])
    first = next(f for f in report["findings"] if f["severity"] == "error")
    assert certified[0] == doctored[0] == exit_code and certified[2].startswith(f"ERROR [INVARLOCK:{code}]")
    assert (first["code"], first["error_code"]) == ("D" + code[1:], code) and first["message"] in certified[2]
    [types] = stream_types(tmp_path / "ev.duckdb").values()
    assert types == ["run_started", "run_failed"]  # certify stopped before loading a model
    assert not (tmp_path / "other.duckdb").exists()
