"""Command lines an E999 hunt found doing the wrong thing without an error: an output path naming the command's own
input (the certificate a report renders, the store a certificate is replayed from) replaced it; `doctor
--edit-config` without a model described `run` and exited 0; `keygen --out k3/` wrote k3 and k3.pub but printed
other names; `runs` past the last run printed a range backwards; a calibration suite skipped the config checks and
took any case name as a folder name."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import msgspec
import pytest
import yaml
from invarlock.application.calibrate.calibration import DEMO_SUITE, parse_suite
from invarlock.domain.errors import UsageError

from tests.fakes.cli import run_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
CERT = FIXTURE / "run.cert.json"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_a_report_written_over_its_own_certificate_is_refused(tmp_path: Path, fmt: str) -> None:
    cert = Path(shutil.copy(CERT, tmp_path / "evaluation.cert.json"))
    before = digest(cert)
    code, _, err = run_cli("report", fmt, cert, "-o", tmp_path / "." / cert.name)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]") and "which this command reads" in err, err
    assert digest(cert) == before and sorted(p.name for p in tmp_path.iterdir()) == [cert.name]


def test_a_replayed_certificate_written_over_the_event_store_is_refused(tmp_path: Path) -> None:
    store = Path(shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb"))
    before = digest(store)
    run_id = json.loads(CERT.read_bytes())["run_id"]
    code, _, err = run_cli("replay", run_id, "--events", store, "-o", store)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]") and str(store) in err, err
    assert digest(store) == before
    code, _, err = run_cli("replay", run_id, "--events", store, "-o", tmp_path / "replayed.cert.json")
    assert code == 0 and (tmp_path / "replayed.cert.json").read_bytes() == CERT.read_bytes(), err


@pytest.mark.parametrize("command", ["report html", "report md", "replay"])
def test_an_output_over_another_event_store_is_refused(tmp_path: Path, command: str) -> None:
    """`report html CERT -o other.duckdb` and `replay RUN -o other.duckdb` replaced a store the command does not
    read, losing every run in it (the inputs hunt)."""
    store = Path(shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "other.duckdb"))
    before = digest(store)
    source = Path(shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb"))
    run_id = json.loads(CERT.read_bytes())["run_id"]
    args = ["replay", run_id, "--events", source] if command == "replay" else [*command.split(), CERT]
    code, _, err = run_cli(*args, "-o", store)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]") and "it is a DuckDB database" in err, err
    assert digest(store) == before
    wal = tmp_path / "other.duckdb.wal"  # the page written there vanished at the store's next opening (stop 71)
    code, _, err = run_cli(*args, "-o", wal)
    assert code == 2 and f"it is the write-ahead log of the DuckDB database {store}" in err and not wal.exists(), err


def test_replay_or_resume_of_a_re_execution_audit_stream_says_so_not_that_the_store_was_altered(
    tmp_path: Path,
) -> None:
    # Both ended in "E604 a run stream must start with run_started — the event stream was altered" (exit 3).
    store = Path(shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb"))
    before = digest(store)
    audit, audited = "01a22ae8-833b-764b-c157-11d6174ac36c", "01a22ae7-d08b-702a-3288-4088c19501c9"
    code, out, err = run_cli("replay", audit, "--events", store)
    assert code == 2 and out == "" and err.startswith(f"ERROR [INVARLOCK:E405] run '{audit}' is a re-execution audit")
    assert f"`invarlock replay {audited}` rebuilds the audited one" in err and err.count("\n") == 1, err
    code, _, err = run_cli("certify", "--resume", audit, "--events", store)
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E406] run {audit} is a re-execution audit of run {audited}")
    assert digest(store) == before


def test_doctor_with_an_edit_config_checks_certify_and_names_what_is_missing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    code, out, _ = run_cli("doctor", "--edit-config", missing, "--events", tmp_path / "ev.duckdb")
    assert code == 2 and "E200" in out and "certify needs --baseline and --subject" in out, out


def test_keygen_refuses_an_out_that_names_a_folder_and_writes_nothing(tmp_path: Path) -> None:
    code, out, err = run_cli("keygen", "--out", f"{tmp_path / 'k3'}/")
    assert code == 2 and out == "" and err.startswith("ERROR [INVARLOCK:E704]") and "names a folder" in err, err
    assert list(tmp_path.iterdir()) == []


def test_keygen_refuses_to_write_the_private_key_to_a_file_named_like_a_public_key(tmp_path: Path) -> None:
    # `keygen --out signer.pub` wrote the PRIVATE key to signer.pub and the public key to signer.pub.pub.
    code, out, err = run_cli("keygen", "--out", tmp_path / "signer.pub")
    assert (
        code == 2 and out == "" and err.startswith("ERROR [INVARLOCK:E704] --out ") and "names the private key" in err
    )
    assert f"pass --out {tmp_path / 'signer'}: the public key then goes to {tmp_path / 'signer.pub'}" in err, err
    assert list(tmp_path.iterdir()) == []


def test_runs_past_the_last_run_says_so(tmp_path: Path) -> None:
    store = Path(shutil.copy(FIXTURE / "invarlock.duckdb", tmp_path / "invarlock.duckdb"))
    code, out, err = run_cli("runs", "--events", store, "--offset", "9223372036854775807")
    assert code == 0 and out == "" and err == "(no runs from --offset 9223372036854775807: 2 match)\n", err


def _suite(cases: str, extra: str = "") -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load(f"{extra}cases: {cases}\n")
    return loaded


@pytest.mark.parametrize(
    ("cases", "extra", "named"),
    [
        ("[{name: ../escape, kind: benign}]", "", "case name '../escape' is not a folder name"),
        ("[{name: '..', kind: benign}]", "", "case name '..' is not a folder name"),
        ("[{name: '', kind: benign}]", "", "case name '' is not a folder name"),
        (f"[{{name: {'n' * 256}, kind: benign}}]", "", "is not a folder name"),  # NAME_MAX: failed after scoring
        ("[{name: a, kind: benign}, {name: a, kind: benign}]", "", "case name 'a' is used twice"),
        ("[{name: Calibration.md, kind: benign}]", "", "case name 'Calibration.md' is the calibration table's"),
        ("[{name: a, kind: benign}]", "guards: {order: []}\n", "case a: guards.order must start and end"),
        ("[{name: a, kind: benign}]", "dataset: {preview_n: 1}\n", "case a: dataset.preview_n"),
        (
            "[{name: a, kind: benign, edit: {name: quant_rtn, plan: {bits: .nan}}}]",
            "",
            "case a: edit.plan.bits is nan",
        ),
        ("[{name: 3, kind: benign}]", "", "cases[0].name must be text, not an integer"),
    ],
)
def test_a_calibration_suite_gets_the_run_config_checks_and_folder_safe_case_names(
    cases: str, extra: str, named: str
) -> None:
    with pytest.raises(UsageError) as caught:
        parse_suite(_suite(cases, extra), source="suite.yaml")
    assert caught.value.code == "E201" and named in caught.value.message, caught.value.message
    assert caught.value.message.startswith("suite.yaml: ")


def test_a_calibration_suite_with_no_cases_is_refused_not_an_empty_table_that_exits_0(tmp_path: Path) -> None:
    suite, out, events = tmp_path / "suite.yaml", tmp_path / "calibration", tmp_path / "events.duckdb"
    suite.write_text("cases: []\n", encoding="utf-8")
    code, printed, err = run_cli("calibrate", "--suite", suite, "--out", out, "--events", events)
    assert (
        code == 2
        and err == f"ERROR [INVARLOCK:E201] {suite}: the suite lists no cases — add at least one case under cases:\n"
    )
    assert printed == "" and not out.exists() and not events.exists()


def test_the_demo_suite_passes_the_suite_checks() -> None:
    assert parse_suite(msgspec.to_builtins(DEMO_SUITE), source="demo") == DEMO_SUITE


def test_a_quant_rtn_plan_no_model_can_take_stops_run_and_doctor_before_any_model_loads(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="`run` needs the model stack before its request checks")
    config, events = tmp_path / "c.yaml", tmp_path / "events.duckdb"
    config.write_text("edit: {name: quant_rtn, plan: {bits: 3}}\n", encoding="utf-8")
    code, _, err = run_cli("run", "-c", config, "--events", events)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E204] edit.plan.bits = 3 is not supported"), err
    assert not events.exists()  # refused before the run was recorded, so before its models were loaded
    code, out, _ = run_cli("doctor", "-c", config, "--events", events)
    assert code == 2 and "ERROR: edit.plan.bits = 3 is not supported — use 8 or 4 [INVARLOCK:D204]" in out, out


def test_a_file_where_a_case_folder_goes_is_refused_before_any_scoring(tmp_path: Path) -> None:
    """The case's certificate folder <--out>/<name> is a file: E608 came after the case had been scored."""
    suite, out, events = tmp_path / "suite.yaml", tmp_path / "calibration", tmp_path / "events.duckdb"
    suite.write_text("cases: [{name: a, kind: benign}]\n", encoding="utf-8")
    out.mkdir()
    (out / "a").write_text("not a folder", encoding="utf-8")
    code, printed, err = run_cli("calibrate", "--suite", suite, "--out", out, "--events", events)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608] --out (case a) ") and "is not a directory" in err
    assert printed == "" and not events.exists()


@pytest.mark.parametrize("kind", ["html", "md"])
def test_a_report_over_another_certificate_is_refused(tmp_path: Path, kind: str) -> None:
    """`report html a.cert.json -o b.cert.json` replaced b's certificate by a page: a run's certificate is issued
    once and replay needs the store. Any file but a report is kept (tests/unit/test_output_collisions.py)."""
    other = Path(shutil.copy(CERT, tmp_path / "b.cert.json"))
    code, _, err = run_cli("report", kind, CERT, "-o", other)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E608]") and "other than an InvarLock report" in err, err
    assert other.read_bytes() == CERT.read_bytes()
