"""`invarlock --quiet` means the same for every command: only errors and the command's requested output.

Each command's case runs the real entry point twice, loud and quiet, and says what --quiet keeps: everything
on stdout (a listing, query rows, a certificate, a completion script: `keep`), nothing (the command's output
is a file or its exit status: `silent`), or its ERROR findings (`doctor`). Nothing is ever left on stderr.
Every command also prints no colour under NO_COLOR, even where click would colour (a terminal).
The model commands (certify, run, calibrate) run once, quiet, on the demo model with a few short windows: their
files are their output, and the exit status is the one those files call for.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import yaml
from click.testing import CliRunner
from invarlock.cli.lazy_group import COMMANDS
from invarlock.cli.main import cli
from invarlock.domain import certificate as c

from tests.fakes.certificates import fake_certificate
from tests.fakes.cli import run_cli

from .conftest import DEMO, write_config

STORE_V1 = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1"
NEWS = {"provider": "demo:news", "seq_len": 64, "preview_n": 2, "final_n": 4, "seed": 7}
EDIT = {"name": "quant_rtn", "plan": {"bits": 8}}


@dataclass(frozen=True)
class Case:
    """`args(tag)` gives the command line (tag "loud"/"quiet" keeps written files apart); `keeps` what
    --quiet prints on stdout; `exit_code` the status both runs end with; `model` a case run only quiet, whose
    status its files decide."""

    args: Callable[[str], list[str]]
    keeps: str
    exit_code: int = 0
    model: bool = False


def _run_id() -> str:
    return str(json.loads((STORE_V1 / "run.cert.json").read_text(encoding="utf-8"))["run_id"])


def _suite() -> dict[str, object]:
    from invarlock.application.calibrate.calibration import DEMO_SUITE

    suite = msgspec.to_builtins(DEMO_SUITE)
    suite["dataset"] = {**NEWS, "calibration_n": 4}
    suite["cases"] = suite["cases"][:1]  # the identical subject: one certification
    return suite


def _cases(root: Path) -> dict[str, Case]:
    (root / "cert.json").write_bytes(c.to_bytes(fake_certificate()))
    (root / "bad.yaml").write_text("model: {id: demo:smollm2-135m}\n", encoding="utf-8")
    (root / "suite.yaml").write_text(yaml.safe_dump(_suite()), encoding="utf-8")
    write_config(root / "preset.yaml", dataset=NEWS)
    write_config(root / "run.yaml", dataset=NEWS, edit=EDIT)
    store, run_id = str(root / "invarlock.duckdb"), _run_id()
    return {
        "certify": Case(lambda t: ["certify", "--baseline", DEMO, "--subject", DEMO, "--preset", "preset.yaml",
                                   "--events", f"{t}.duckdb", "--cert-out", t], "silent", model=True),
        "run": Case(lambda t: ["run", "-c", "run.yaml", "--events", f"{t}.duckdb", "--cert-out", t], "silent",
                    model=True),
        "calibrate": Case(lambda t: ["calibrate", "--suite", "suite.yaml", "--out", t, "--events", f"{t}.duckdb"],
                          "silent", model=True),
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


CASE_IDS = ["certify", "run", "calibrate", "verify", "replay", "replay -o", "runs", "events", "audit", "keygen",
            "report", "doctor", "plugins", "completion"]  # fmt: skip
MODEL_CASES = {"certify", "run", "calibrate"}


def test_every_command_has_a_quiet_case() -> None:
    assert {name.split()[0] for name in CASE_IDS} == set(COMMANDS)


def _verdict_exit(folder: Path) -> int:
    """The exit status the written files call for: 1 on a FAIL verdict or an unmet calibration expectation."""
    table = folder / "calibration.json"
    if table.exists():
        return 1 if json.loads(table.read_text(encoding="utf-8"))["problems"] else 0
    cert = json.loads((folder / "evaluation.cert.json").read_text(encoding="utf-8"))
    return 0 if cert["verdict"]["status"] == "PASS" else 1


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("invarlock.duckdb", "run.cert.json"):
        shutil.copy(STORE_V1 / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.model] if n in MODEL_CASES else []) for n in CASE_IDS]
)
def test_quiet_prints_only_errors_and_the_requested_output(workspace: Path, name: str) -> None:
    case = _cases(workspace)[name]
    code, out, err = run_cli("--quiet", *case.args("quiet"))
    if case.model:
        assert (code, out, err) == (_verdict_exit(workspace / "quiet"), "", ""), err
        return
    assert (code, err) == (case.exit_code, ""), err
    loud_code, loud_out, _ = run_cli(*case.args("loud"))
    assert loud_code == code and loud_out, "the loud run prints something for --quiet to keep or drop"
    expected = {
        "keep": loud_out,
        "silent": "",
        "doctor": "".join(line for line in loud_out.splitlines(keepends=True) if line.startswith("ERROR")),
    }[case.keeps]
    assert out == expected and (case.keeps != "doctor" or out)


@pytest.mark.parametrize("name", [n for n in CASE_IDS if n not in MODEL_CASES])
def test_no_color_holds_for_every_command(workspace: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even where click would colour (a terminal: `color=True`), NO_COLOR leaves no escape sequence."""
    case = _cases(workspace)[name]
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(cli, case.args("plain"), color=True)
    assert result.exit_code == case.exit_code and result.output
    assert "\x1b[" not in result.output
