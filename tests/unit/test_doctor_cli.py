"""`invarlock doctor` on configs the CLI refuses while reading them (E200/E201): the doctor reports the error
run/certify stop with, and still checks the machine. Model-free: no check that needs the config runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fakes.cli import run_cli

CONFIGS = {
    "missing file": None,
    "malformed YAML": "model: {id: demo\n  dataset: [\n",
    "not a mapping": "- model\n- dataset\n",
    "unknown key": "dataset: {seqlen: 64}\nedit: {name: quant_rtn}\n",
    "wrong type": "dataset: {seq_len: long}\nedit: {name: quant_rtn}\n",
    "unknown metric kind": "eval: {metric: {kind: bleu}}\nedit: {name: quant_rtn}\n",
    "guard order": "guards: {order: [spectral, rmt]}\nedit: {name: quant_rtn}\n",
    "no edit section": "dataset: {seq_len: 64}\n",
}
LINE = re.compile(r"^(ERROR|WARNING|NOTE): .+ \[INVARLOCK:D\d{3}\]$")


def _config(folder: Path, case: str) -> Path:
    path = folder / "config.yaml"
    body = CONFIGS[case]
    if body is not None:
        path.write_text(body, encoding="utf-8")
    return path


def _error(stderr: str) -> tuple[str, str]:
    found = re.match(r"ERROR \[INVARLOCK:(E\d{3})\] (.*)", stderr.strip())
    assert found is not None, stderr
    return found.group(1), found.group(2)


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_doctor_reports_the_config_error_run_stops_with(tmp_path: Path, case: str) -> None:
    config, events = _config(tmp_path, case), tmp_path / "ev.duckdb"
    run_code, _, run_err = run_cli("run", "-c", config, "--events", events)
    code, out, _ = run_cli("doctor", "-c", config, "--events", events, "--json")
    report = json.loads(out)
    error, message = _error(run_err)
    first = report["findings"][0]
    assert (first["severity"], first["code"], first["error_code"]) == ("error", "D" + error[1:], error)
    assert message.startswith(first["message"]) and code == run_code == first["exit_code"] == 2
    assert report["resolution"] == {**report["resolution"], "exit_code": 2, "ready": False, "error_code": error}
    assert {"extras", "store", "disk"} <= {f["check"] for f in report["findings"]}  # the machine is still checked
    assert not events.exists()


def test_doctor_with_a_baseline_and_no_subject_is_certify_s_usage_error(tmp_path: Path) -> None:
    certify = run_cli("certify", "--baseline", "demo:smollm2-135m", "--events", tmp_path / "ev.duckdb")
    code, out, _ = run_cli("doctor", "--baseline", "demo:smollm2-135m", "--events", tmp_path / "ev.duckdb")
    assert certify[0] == code == 2 and _error(certify[2])[0] == "E200"
    lines = out.strip().splitlines()
    assert all(LINE.match(line) for line in lines[:-1]), lines
    assert lines[0].startswith("ERROR: certify needs --baseline and --subject") and lines[0].endswith("D200]")
    assert lines[-1] == lines[-1].split(";")[0] + "; the run would stop with E200 (exit 2)"


def test_doctor_with_an_edit_config_and_no_models_says_what_it_belongs_to(tmp_path: Path) -> None:
    """Its hint was certify's, `invarlock certify --demo`, which the doctor does not take (the doctor hunt)."""
    edit = tmp_path / "edit.yaml"
    edit.write_text("edit: {name: quant_rtn, plan: {bits: 8}}\n", encoding="utf-8")
    code, out, _ = run_cli("doctor", "--edit-config", edit, "--events", tmp_path / "ev.duckdb")
    first = out.strip().splitlines()[0]
    assert code == 2 and first.startswith("ERROR: --edit-config is certify's option and certify needs --baseline")
    assert "edit: section (what run -c applies)" in first and "--demo" not in first


def test_json_report_has_the_documented_top_level_keys(tmp_path: Path) -> None:
    code, out, _ = run_cli("doctor", "-c", _config(tmp_path, "unknown key"), "--json")
    report = json.loads(out)
    assert code == 2 and set(report) == {"format_version", "summary", "findings", "resolution"}
    assert report["format_version"] == "doctor-v1"
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert report["summary"]["errors"] == len(errors) and errors[0]["code"] == "D201"
    # Where the hf extra is not installed (the model-free run), the demo model's missing extra is a second error.
    assert {e["code"] for e in errors[1:]} <= {"D105"}


FLAGS = {
    "signing key missing": (["--sign-key", "no-such.key"], "E700"),
    "certificate folder is a file": (["--cert-out", "afile"], "E608"),
    "export folder under a file": (["--export", "afile/model"], "E608"),
    "export folder holding files": (["--export", "."], "E608"),
    # several at once: the run's order (the doctor said E700 where the run stopped with E608; the doctor hunt)
    "a bad key beside a certificate folder that is a file": (["--sign-key", "no.key", "--cert-out", "afile"], "E608"),
    "a bad key beside an export folder holding files": (["--export", ".", "--sign-key", "no.key"], "E608"),
}


@pytest.mark.parametrize("case", sorted(FLAGS))
def test_doctor_reports_the_flag_run_refuses_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("in the way", encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text("model: {id: no/such/model}\nedit: {name: quant_rtn}\n", encoding="utf-8")
    flags, error = FLAGS[case]
    run_code, _, run_err = run_cli("run", "-c", config, "--events", "ev.duckdb", *flags)
    code, out, _ = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json", *flags)
    first = json.loads(out)["findings"][1]
    assert _error(run_err)[0] == first["error_code"] == error and first["check"] == "flags"
    assert run_code == code == first["exit_code"] == 2 and first["message"] in run_err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "run.yaml"]


def test_doctor_reports_an_output_dir_run_refuses_before_it_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Without --cert-out the certificate goes under output.dir: a file there was found only after the scoring."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("in the way", encoding="utf-8")
    config = tmp_path / "run.yaml"
    config.write_text("model: {id: no/such/model}\nedit: {name: quant_rtn}\noutput: {dir: afile}\n", encoding="utf-8")
    run_code, _, run_err = run_cli("run", "-c", config, "--events", "ev.duckdb")
    code, out, _ = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json")
    first = json.loads(out)["findings"][1]
    assert _error(run_err)[0] == first["error_code"] == "E608" and first["check"] == "flags"
    assert run_code == code == 2 and first["message"] == "output.dir (--out) 'afile' exists and is not a directory"
    code, out, _ = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json", "--cert-out", "elsewhere")
    assert not [f for f in json.loads(out)["findings"] if f["check"] == "flags" and f["severity"] == "error"]
    code, out, _ = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json", "--out", "elsewhere")
    assert not [f for f in json.loads(out)["findings"] if f["check"] == "flags" and f["severity"] == "error"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "run.yaml"]


@pytest.mark.parametrize("config", [None, "config.yaml"])
def test_doctor_refuses_an_adapter_it_would_not_use(tmp_path: Path, config: str | None) -> None:
    """Without models the doctor checks `run`, which takes no --adapter: it used to report `run would start`
    for `--adapter bogus`, an option certify refuses (E104) and run does not have (E200)."""
    (tmp_path / "config.yaml").write_text("edit: {name: quant_rtn}\n", encoding="utf-8")
    given = ["-c", tmp_path / "config.yaml"] if config else []
    code, out, _ = run_cli("doctor", *given, "--adapter", "bogus", "--events", tmp_path / "ev.duckdb", "--json")
    report = json.loads(out)
    first = report["findings"][0]
    assert (code, first["error_code"], report["resolution"]["ready"]) == (2, "E200", False)
    assert "--adapter bogus is certify's option" in first["message"]


def test_a_path_with_terminal_escapes_is_printed_escaped(tmp_path: Path) -> None:
    """A model path or config value with an OSC sequence (set the title) or a newline went to the terminal raw:
    every other command escapes it (the reports hunt)."""
    config = tmp_path / "a\x1b]0;X\x07.yaml"
    code, out, err = run_cli("doctor", "-c", config)
    assert code == 2 and "\x1b" not in out + err and "\x07" not in out + err
    assert "a\\x1b]0;X\\x07.yaml" in out + err
    pytest.importorskip("torch")  # without it the doctor stops at E105 before it looks at the models
    code, out, err = run_cli("doctor", "--baseline", "./nope\nforged line", "--subject", "demo:smollm2-135m")
    assert "nope\\nforged line" in out + err and "\nforged line" not in out + err
