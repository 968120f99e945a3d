"""`invarlock calibrate`: the guard calibration table (docs/assurance/guards.md §6), from the real certify path."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import click
import msgspec
from invarlock.application.calibrate.calibration import (
    DEMO_SUITE,
    TABLE_FILES,
    CalibrationSuite,
    parse_suite,
    problems,
    run_suite,
)
from invarlock.application.calibrate.calibration_resume import Resumption
from invarlock.application.calibrate.calibration_rows import CaseRow, markdown
from invarlock.application.certification.certify import CertifyOutcome
from invarlock.domain import certificate as c
from invarlock.domain.errors import EXIT_GATES_FAILED, EXIT_OK, RunInterrupted, UsageError

from . import console
from .api_verify import load_certificate
from .bootstrap import DEFAULT_EVENTS, build_services
from .commands_run import write_certificate
from .config_file import read_yaml
from .outputs import require_apart, require_folder, write_atomically
from .progress import make_progress
from .stopped_runs import named_store


def _refuse_earlier(out: Path, suite: CalibrationSuite) -> None:
    """E608 when --out holds an earlier calibration: its table or a case certificate would be replaced, or
    left beside this run's certificates as if it described them."""
    earlier = [out / name for name in TABLE_FILES]
    earlier += [out / case.name / "evaluation.cert.json" for case in suite.cases]
    found = next((path for path in earlier if os.path.lexists(path)), None)
    if found is not None:
        message = f"--out '{out}' holds an earlier calibration ({found.relative_to(out)})"
        hint = "choose another --out, move the earlier one away, or finish a stopped one with --resume"
        raise UsageError("E608", message, hint)
    _require_case_folders(out, suite)


def _require_case_folders(out: Path, suite: CalibrationSuite) -> None:
    for case in suite.cases:  # a file where a case's folder goes, or a name too long, failed after its scoring
        require_folder(str(out / case.name), f"--out (case {case.name})")


def _certified(out: Path, suite: CalibrationSuite) -> dict[str, c.Certificate]:
    """--resume: the case certificates --out holds (E600/E601 naming the file); E406 when its table is written."""
    table = next((out / name for name in TABLE_FILES if os.path.lexists(out / name)), None)
    if table is not None:
        raise UsageError(
            "E406", f"--out '{out}' holds a finished calibration ({table.name})", "there is nothing to resume there"
        )
    _require_case_folders(out, suite)
    paths = {case.name: out / case.name / "evaluation.cert.json" for case in suite.cases}
    return {name: _case_certificate(path) for name, path in paths.items() if os.path.lexists(path)}


def _case_certificate(path: Path) -> c.Certificate:
    try:
        return load_certificate(path)
    except UsageError as exc:  # several cases' files: the error names which one
        raise exc.within(str(path)) from exc


def case_line(row: CaseRow) -> str:
    """A case's line as the suite runs: its ratio (none without a final arm: a rollback), verdict and what each
    guard flagged (Python's None and dict reprs were printed)."""
    ratio = f"{row.ratio:.4f}" if row.ratio is not None else "— (no final arm)"
    flagged = "; ".join(f"{g}: {', '.join(s.flagged)}" for g, s in row.guards.items() if s.flagged)
    return f"{row.case}: ratio {ratio}, verdict {row.verdict}, flagged {flagged or 'nothing'}"


def _refuse_store_in_place(events: str, out: Path, suite: CalibrationSuite) -> None:
    """E608 when --events is --out, one of its table files, or a case's folder or certificate: the table was
    refused only after every case, a case's certificate after its scoring (and the suite could not be resumed)."""
    store = Path(os.path.realpath(events))
    taken = {Path(os.path.realpath(out)) / name for name in (*TABLE_FILES, "")}
    if store in taken or store.with_name(f"{store.name}.wal") in taken:
        said = f"--events '{events}' is --out '{out}' or a file of its table, which calibrate writes"
        raise UsageError("E608", said, "pass --events a store apart from the calibration's files")
    for case in suite.cases:
        try:
            require_apart(events, str(out / case.name), None)
        except UsageError as exc:
            said = f"--events '{events}' is where calibrate writes case {case.name}'s certificate ({out / case.name})"
            raise UsageError("E608", said, "pass --events a store apart from the calibration's files") from exc


def _resume_command(given: dict[str, str | None]) -> str:
    """The command that goes on with a stopped suite: --resume and every option this one was given."""
    words = ["invarlock", "calibrate", "--resume"]
    for flag, value in given.items():
        words += [flag, value] if value is not None else []
    return f"`{shlex.join(words)}`"


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
@click.option(
    "--resume", is_flag=True, help="go on with a suite stopped in a case: the same --suite, --out, --events and tiers"
)
@console.quiet_option(printed="errors (the output is the folder --out)")
def calibrate_cmd(
    suite: str | None, out_dir: str, events: str, tier: str | None, profile: str | None, resume: bool = False
) -> None:
    """Certify each edit of a suite and write calibration.json, calibration.md and one certificate per case.

    Exits 1 when a benign edit fails a guard or gate, or a harmful edit is not flagged by its named guard."""
    chosen = _suite(suite, tier, profile)
    out = Path(out_dir)
    require_folder(out_dir, "--out")  # found before hours of scoring, not after
    _refuse_store_in_place(events, out, chosen)
    certified = _certified(out, chosen) if resume else {}
    if not resume:
        _refuse_earlier(out, chosen)
    uses = [("adapters", chosen.model.adapter)]
    svc = build_services(events=events, progress=make_progress(console.quiet(), console.verbose()), uses=uses)

    def on_case(row: CaseRow, outcome: CertifyOutcome) -> None:
        if row.case not in certified:
            write_certificate(outcome, str(out / row.case), events)
        console.say(case_line(row))

    try:
        outcome_of = Resumption(svc, certified) if resume else None
        rows = run_suite(chosen, svc, on_case, source=suite or "the demo suite", outcome_of=outcome_of)
    except RunInterrupted as stopped:
        given = {
            "--suite": suite,
            "--out": out_dir,
            "--events": named_store(events),
            "--tier": tier,
            "--profile": profile,
        }
        stopped.advice = f"calibrate stopped in a case (run {stopped.run_id}); go on with {_resume_command(given)}"
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
