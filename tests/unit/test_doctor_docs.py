"""docs/reference/doctor.md lists every D-code: each error code is one a test makes both a run and the doctor
meet, and each D9xx code is one the doctor has."""

from __future__ import annotations

import re
from pathlib import Path

from invarlock.domain import diagnostics

from tests.e2e.test_doctor_real_model import REAL_CASES
from tests.integration.test_system_probe import STORES
from tests.unit.test_doctor_cli import FLAGS
from tests.unit.test_doctor_use_case import CASES

DOC = Path(__file__).resolve().parents[2] / "docs" / "reference" / "doctor.md"
ROW = re.compile(r"^\| (D\d{3}) \| ([a-z, ]+) \|", re.MULTILINE)
# Tested outside the tables above: E200/E201 (test_doctor_cli CONFIGS and the --baseline case), E105 and E505
# (test_doctor_use_case), E002 and E303 (also test_doctor_real_model), E220 and E224 (test_plugin_faults).
OTHER_TESTED = {"E200", "E201", "E105", "E505", "E220", "E224"}


def _documented() -> dict[str, str]:
    return dict(ROW.findall(DOC.read_text(encoding="utf-8")))


def test_every_error_code_documented_is_tested_and_every_tested_one_documented() -> None:
    tested = {code for code, _ in CASES.values()} | set(REAL_CASES) | OTHER_TESTED
    tested |= {code for _, code in FLAGS.values()} | {code for _, code in STORES.values()}
    errors = {code for code, severity in _documented().items() if severity == "error"}
    assert errors == {"D" + code[1:] for code in tested}


def test_every_doctor_code_is_documented_with_its_severities() -> None:
    own = {value for name, value in vars(diagnostics).items() if name.startswith("D_")}
    documented = {code: severity for code, severity in _documented().items() if code.startswith("D9")}
    assert set(documented) == own
    assert all(set(s.split(", ")) <= {"note", "warning"} for s in documented.values())
