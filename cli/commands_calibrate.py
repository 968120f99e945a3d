"""`invarlock calibrate`: the guard calibration table (docs/assurance/guards.md §6), from the real certify path."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import msgspec
from invarlock.application.calibrate.calibration import DEMO_SUITE, CalibrationSuite, parse_suite, problems, run_suite
from invarlock.application.calibrate.calibration_rows import CaseRow, markdown
from invarlock.application.certification.certify import CertifyOutcome
from invarlock.domain.errors import EXIT_GATES_FAILED, EXIT_OK, RunInterrupted, UsageError

from . import console
from .bootstrap import DEFAULT_EVENTS, build_services
from .commands_run import write_certificate
from .config_file import read_yaml
from .outputs import require_folder, write_atomically
from .progress import make_progress


def _refuse_earlier(out: Path, suite: CalibrationSuite) -> None:
    """E608 when --out holds an earlier calibration: its table or a case certificate would be replaced, or
    left beside this run's certificates as if it described them."""
    earlier = [out / "calibration.json", out / "calibration.md"]
    earlier += [out / case.name / "evaluation.cert.json" for case in suite.cases]
    found = next((path for path in earlier if os.path.lexists(path)), None)
    if found is not None:
        message = f"--out '{out}' holds an earlier calibration ({found.relative_to(out)})"
        raise UsageError("E608", message, "choose another --out, or move the earlier one away")
    for case in suite.cases:  # a file where a case's folder goes, or a name too long, failed after its scoring
        require_folder(str(out / case.name), f"--out (case {case.name})")


def _suite(path: str | None, tier: str | None, profile: str | None) -> CalibrationSuite:
    if path is None:
        suite = DEMO_SUITE
    else:
        suite = parse_suite(read_yaml(path, what="suite file", option="--suite"), source=path)
    changes = {k: v for k, v in {"tier": tier, "profile": profile}.items() if v is not None}
    return msgspec.structs.replace(suite, **changes)


@click.command("calibrate")
@click.option(
    "--suite", type=click.Path(), default=None, help="suite YAML (default: the demo suite, docs/assurance/guards.md §6)"
)
@click.option("--out", "out_dir", type=click.Path(), default="calibration", show_default=True, help="output folder")
@click.option("--events", type=click.Path(), default=DEFAULT_EVENTS, show_default=True, help="DuckDB event store")
@click.option("--tier", default=None, help="override the suite's tier")
@click.option("--profile", type=click.Choice(["dev", "ci", "release"]), default=None, help="override its profile")
@console.quiet_option
def calibrate_cmd(suite: str | None, out_dir: str, events: str, tier: str | None, profile: str | None) -> None:
    """Certify each edit of a suite and write calibration.json, calibration.md and one certificate per case.

    Exits 1 when a benign edit fails a guard or gate, or a harmful edit is not flagged by its named guard."""
    chosen = _suite(suite, tier, profile)
    out = Path(out_dir)
    require_folder(out_dir, "--out")  # found before hours of scoring, not after
    _refuse_earlier(out, chosen)
    uses = [("adapters", chosen.model.adapter)]
    svc = build_services(events=events, progress=make_progress(console.quiet(), console.verbose()), uses=uses)

    def on_case(row: CaseRow, outcome: CertifyOutcome) -> None:
        write_certificate(outcome, str(out / row.case))
        flagged = {g: s.flagged for g, s in row.guards.items() if s.flagged}
        console.say(f"{row.case}: ratio {row.ratio}, verdict {row.verdict}, flagged {flagged or 'nothing'}")

    try:
        rows = run_suite(chosen, svc, on_case, source=suite or "the demo suite")
    except RunInterrupted as stopped:
        stopped.advice = (
            f"calibrate stopped in a case (run {stopped.run_id}); a suite is not resumed: run calibrate again with "
            f"another --out (the cases certified before it are in {out_dir})"
        )
        raise
    found = problems(rows)
    document = {"suite": msgspec.to_builtins(chosen), "rows": msgspec.to_builtins(rows), "problems": found}
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    write_atomically(out / "calibration.json", text, what="the calibration table", hint="choose another --out")
    header = f"Calibration of {chosen.model.id} at {chosen.tier}/{chosen.profile}"
    md = markdown(rows, f"### {header}")
    write_atomically(out / "calibration.md", md, what="the calibration table", hint="choose another --out")
    for problem in found:
        console.tell(f"  expectation not met: {problem}")
    console.say(f"Calibration table: {out / 'calibration.md'}")
    raise click.exceptions.Exit(EXIT_GATES_FAILED if found else EXIT_OK)
