"""`invarlock --quiet` means the same for every command: only errors and the command's requested output.

Each command's case runs the real entry point twice, loud and quiet, and says what --quiet keeps: everything
on stdout (a listing, query rows, a certificate, a completion script: `keep`), nothing (the command's output
is a file or its exit status: `silent`), or its ERROR findings (`doctor`). Nothing is ever left on stderr.
Every command also prints no colour under NO_COLOR, even where click would colour (a terminal).
The model commands (certify, run, calibrate) are checked where the suite already runs them on the demo model
(`MODEL_CASES`): quiet, they print nothing, their files are their output.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from invarlock.cli.lazy_group import COMMANDS
from invarlock.cli.main import cli
from invarlock.domain import certificate as c

from tests.fakes.certificates import fake_certificate
from tests.fakes.cli import run_cli

STORE_V1 = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"


@dataclass(frozen=True)
class Case:
    """`args(tag)` gives the command line (tag "loud"/"quiet" keeps written files apart); `keeps` what
    --quiet prints on stdout; `exit_code` the status both runs end with."""

    args: Callable[[str], list[str]]
    keeps: str
    exit_code: int = 0


def _run_id() -> str:
    return str(json.loads((STORE_V1 / "run.cert.json").read_text(encoding="utf-8"))["run_id"])


def _cases(root: Path) -> dict[str, Case]:
    (root / "cert.json").write_bytes(c.to_bytes(fake_certificate()))
    (root / "bad.yaml").write_text("model: {id: demo:smollm2-135m}\n", encoding="utf-8")
    store, run_id = str(root / "invarlock.duckdb"), _run_id()
    return {
        "verify": Case(lambda t: ["verify", "cert.json"], "silent"),
        "replay": Case(lambda t: ["replay", run_id, "--events", store], "keep"),
        "replay -o": Case(lambda t: ["replay", run_id, "--events", store, "-o", f"{t}.cert.json"], "silent"),
        "runs": Case(lambda t: ["runs", "--events", store, "--limit", "1"], "keep"),
        "events": Case(lambda t: ["events", run_id, "--events", store], "keep"),
        "audit": Case(lambda t: ["audit", "--events", store, "--sql", "SELECT run_id FROM runs ORDER BY 1"], "keep"),
        "keygen": Case(lambda t: ["keygen", "--out", f"{t}.key"], "silent"),
        "report": Case(lambda t: ["report", "md", "cert.json", "-o", f"{t}.md"], "silent"),
        "doctor": Case(lambda t: ["doctor", "-c", "bad.yaml", "--events", f"{t}.duckdb"], "doctor", exit_code=2),
        "plugins": Case(lambda t: ["plugins", "metrics"], "keep"),
        "completion": Case(lambda t: ["completion", "bash"], "keep"),
    }  # fmt: skip


CASE_IDS = ["verify", "replay", "replay -o", "runs", "events", "audit", "keygen",
            "report", "doctor", "plugins", "completion"]  # fmt: skip
E2E = Path(__file__).resolve().parent
# The model commands are checked quiet where the suite already runs them (no model run of its own here).
MODEL_CASES = {
    "certify": "test_certify_real_model.py",  # the identical subject: stdout and stderr empty
    "run": "test_reexecution_paired_cli.py",  # every run of that module
    "calibrate": "test_guard_calibration.py",  # the session's calibration
}


def test_every_command_has_a_quiet_case() -> None:
    assert {name.split()[0] for name in CASE_IDS} | set(MODEL_CASES) == set(COMMANDS)
    for command, module in MODEL_CASES.items():
        source = (E2E / module).read_text(encoding="utf-8")
        assert f'"--quiet", "{command}"' in source, f"{module} runs `invarlock --quiet {command}`"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("invarlock.duckdb", "run.cert.json"):
        shutil.copy(STORE_V1 / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", CASE_IDS)
def test_quiet_prints_only_errors_and_the_requested_output(workspace: Path, name: str) -> None:
    case = _cases(workspace)[name]
    code, out, err = run_cli("--quiet", *case.args("quiet"))
    assert (code, err) == (case.exit_code, ""), err
    loud_code, loud_out, _ = run_cli(*case.args("loud"))
    assert loud_code == code and loud_out, "the loud run prints something for --quiet to keep or drop"
    expected = {
        "keep": loud_out,
        "silent": "",
        "doctor": "".join(line for line in loud_out.splitlines(keepends=True) if line.startswith("ERROR")),
    }[case.keeps]
    assert out == expected and (case.keeps != "doctor" or out)


@pytest.mark.parametrize("name", CASE_IDS)
def test_no_color_holds_for_every_command(workspace: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even where click would colour (a terminal: `color=True`), NO_COLOR leaves no escape sequence."""
    case = _cases(workspace)[name]
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(cli, case.args("plain"), color=True)
    assert result.exit_code == case.exit_code and result.output
    assert "\x1b[" not in result.output
