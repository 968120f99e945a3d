"""Hostile calibration suites and --out folders: refused in one line before any case is certified, nothing
recorded, nothing earlier replaced; Ctrl-C in a case leaves no table (the hostile-input sweep of calibrate)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.calibrate.calibration import CalibrationCase, CalibrationSuite, parse_suite, run_suite
from invarlock.application.calibrate.calibration_rows import CaseRow
from invarlock.application.config import EditConfig
from invarlock.application.services import Services
from invarlock.domain.errors import UsageError

from tests.fakes.cli import run_cli
from tests.unit.test_calibration_rows import _suite


def _with_last(case: CalibrationCase) -> CalibrationSuite:  # the fakes' suite with one more case at its end
    suite = _suite(["spectral"])
    return msgspec.structs.replace(suite, cases=[*suite.cases, case])


@pytest.mark.parametrize(
    ("plan", "named"),
    [
        (EditConfig(name="no_such_edit"), "s.yaml: case last: unknown edit 'no_such_edit'"),
        (EditConfig(name="fake_checked", plan={"factor": "big"}), "s.yaml: case last: edit.plan.factor = 'big'"),
    ],
)
def test_a_bad_edit_in_the_last_case_stops_the_suite_before_the_first_is_certified(
    services: Services, store: InMemoryEventStore, plan: EditConfig, named: str
) -> None:
    with pytest.raises(UsageError) as caught:
        run_suite(_with_last(CalibrationCase(name="last", kind="reported", edit=plan)), services, source="s.yaml")
    assert caught.value.code == "E204" and caught.value.message.startswith(named), caught.value.message
    assert store.run_ids() == []


def test_ctrl_c_in_a_case_propagates_after_the_cases_before_it_are_kept(services: Services) -> None:
    seen: list[str] = []

    def interrupt_second(row: CaseRow, _outcome: object) -> None:
        seen.append(row.case)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_suite(_suite(["spectral"]), services, interrupt_second)
    assert seen == ["identical"]


_HARMFUL = "{name: h, kind: harmful, matrix: m, edit: {name: quant_rtn, plan: {bits: 8}}, flagged_by: [%s]}"


@pytest.mark.parametrize(
    ("cases", "named"),
    [
        ("[{name: int8, kind: benign}, {name: INT8, kind: benign}]", "case name 'INT8' is used twice"),
        (f"[{_HARMFUL % 'spectrall'}]", "case h flagged_by names 'spectrall', not a guard of the chain"),
        (f"[{_HARMFUL % 'invariants'}]", "case h flagged_by names 'invariants', not a guard of the chain"),
        ("[{name: b, kind: benign, flagged_by: [rmt]}]", "benign case b has flagged_by, which only a harmful"),
    ],
)
def test_a_suite_naming_a_case_twice_by_case_or_a_guard_that_cannot_flag_is_refused(cases: str, named: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_suite(yaml.safe_load(f"cases: {cases}\n"), source="s.yaml")
    assert caught.value.code == "E201" and named in caught.value.message, caught.value.message


@pytest.mark.parametrize("earlier", ["calibration.json", "calibration.md", "int8/evaluation.cert.json"])
def test_an_out_folder_holding_an_earlier_calibration_is_refused_and_left_as_it_was(
    tmp_path: Path, earlier: str
) -> None:
    suite, out, events = tmp_path / "s.yaml", tmp_path / "out", tmp_path / "ev.duckdb"
    suite.write_text("cases: [{name: int8, kind: benign, edit: {name: quant_rtn, plan: {bits: 8}}}]\n")
    (out / earlier).parent.mkdir(parents=True)
    (out / earlier).write_text("earlier\n")
    code, printed, err = run_cli("calibrate", "--suite", suite, "--out", out, "--events", events)
    assert code == 2 and printed == "" and not events.exists()
    assert err == (
        f"ERROR [INVARLOCK:E608] --out '{out}' holds an earlier calibration ({earlier}) — choose another --out,"
        " move the earlier one away, or finish a stopped one with --resume\n"
    )
    assert (out / earlier).read_text() == "earlier\n"


@pytest.mark.parametrize(
    ("earlier", "code", "line"),
    [
        ("calibration.md", 2, "E406] --out '{out}' holds a finished calibration (calibration.md) — there is nothing"),
        ("int8/evaluation.cert.json", 2, "E601] {out}/int8/evaluation.cert.json: schema check failed: certificate is"),
    ],
)
def test_resume_refuses_a_finished_calibration_or_a_case_file_that_is_no_certificate(
    tmp_path: Path, earlier: str, code: int, line: str
) -> None:
    suite, out, events = tmp_path / "s.yaml", tmp_path / "out", tmp_path / "ev.duckdb"
    suite.write_text("cases: [{name: int8, kind: benign, edit: {name: quant_rtn, plan: {bits: 8}}}]\n")
    (out / earlier).parent.mkdir(parents=True)
    (out / earlier).write_text("earlier\n")
    got, printed, err = run_cli("calibrate", "--resume", "--suite", suite, "--out", out, "--events", events)
    assert (got, printed) == (code, "") and not events.exists()
    assert err.startswith("ERROR [INVARLOCK:" + line.format(out=out)), err
    assert (out / earlier).read_text() == "earlier\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("cases: [{name: a, kind: benign}]\nfoo: 1\n", "E201] {s}: unknown key 'foo' (a suite takes model, dataset,"),
        ("cases: [{name: a, kind: benign, bogus: 1}]\n", "E201] {s}: unknown key 'cases[0].bogus' — see"),
        ("cases: [{name: a, kind: benign}]\ntier: weird\n", "E202] {s}: unknown tier 'weird' — use one of"),
    ],
)
def test_a_suite_s_unknown_key_or_tier_is_named_with_its_file(tmp_path: Path, text: str, line: str) -> None:
    if "tier" in text:  # checked once the services are built, which the demo model's extra needs
        pytest.importorskip("torch")
    suite = tmp_path / "s.yaml"
    suite.write_text(text, encoding="utf-8")
    code, printed, err = run_cli("calibrate", "--suite", suite, "--out", tmp_path / "out", "--events", tmp_path / "e")
    assert (code, printed) == (2, "") and err.startswith("ERROR [INVARLOCK:" + line.format(s=suite)), err


@pytest.mark.parametrize("store", ["int8", "int8/evaluation.cert.json"])
@pytest.mark.parametrize("resume", [False, True])
def test_a_store_where_a_case_s_certificate_goes_is_refused_before_any_case(
    tmp_path: Path, store: str, resume: bool
) -> None:
    """It was refused only once the case was scored, and --resume then refused the suite for ever (the calibrate
    hunt, stop 71)."""
    suite, out = tmp_path / "s.yaml", tmp_path / "out"
    suite.write_text("cases: [{name: int8, kind: benign, edit: {name: quant_rtn, plan: {bits: 8}}}]\n")
    events = out / store
    again = ["--resume"] if resume else []
    code, printed, err = run_cli("calibrate", *again, "--suite", suite, "--out", out, "--events", events)
    assert (code, printed) == (2, "") and not events.exists()
    assert err.startswith(
        f"ERROR [INVARLOCK:E608] --events '{events}' is where calibrate writes case int8's certificate ({out}/int8)"
    ), err


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("- 1\n", "a suite is a mapping of keys (cases, and model, dataset, guards, tier, profile), not a list"),
        ("", "a suite is a mapping of keys (cases, and model, dataset, guards, tier, profile), not empty"),
        ("model: {id: 'demo:smollm2-135m'}\n", "the suite has no cases: key"),
    ],
)
def test_a_suite_file_that_is_no_suite_is_said_in_a_suites_terms(text: str, said: str) -> None:
    """msgspec's "Expected `object`, got `array`" was printed, with a hint to a document without the suite's keys
    (the calibrate hunt, stop 71)."""
    with pytest.raises(UsageError) as caught:
        parse_suite(yaml.safe_load(text), source="s.yaml")
    assert caught.value.code == "E201" and caught.value.message == f"s.yaml: {said}"
    assert "docs/user-guide.md (invarlock calibrate)" in caught.value.hint
