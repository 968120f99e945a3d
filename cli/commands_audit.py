"""`invarlock runs`, `invarlock events RUN_ID` and `invarlock audit --sql`: read-only views of the event store.

Their listings and rows are the requested output (printed under --quiet too); the page note is commentary.
The use cases are imported inside each command: `invarlock runs --help` then imports no scipy or duckdb."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, cast

import click
import msgspec

from . import console
from .defaults import DEFAULT_AUDIT_TIMEOUT_S, DEFAULT_EVENTS

if TYPE_CHECKING:
    from invarlock.application.replay.audit import RunSummary
    from invarlock.application.replay.listing import RunListing
    from invarlock.application.replay.timeline import TimelineRow


@click.command("runs")
@click.option("--events", type=click.Path(), default=DEFAULT_EVENTS, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--since", help="Only runs started at or after this date or time (ISO-8601, UTC if no zone).")
@click.option("--verdict", help="Only runs whose verdict is PASS or FAIL.")
@click.option("--baseline-digest", help="Only runs whose baseline weights sha256 starts with this hex.")
@click.option("--limit", type=int, help="List at most this many runs.")
@click.option("--offset", type=int, default=0, show_default=True, help="Skip this many matching runs first.")
@click.option("--check-chains", is_flag=True, help="Read and fully re-check every listed run's stream (slower).")
def runs_cmd(
    events: str,
    as_json: bool,
    since: str | None,
    verdict: str | None,
    baseline_digest: str | None,
    limit: int | None,
    offset: int,
    check_chains: bool,
) -> None:
    """List runs, oldest first: status (completed, rollback, failed, incomplete, UNSEALED or TAMPERED), verdict, models.

    Each run is checked against the head its stream had when the store recorded it; a run that no longer
    ends there, or fails the full chain check (always run with --check-chains), lists as TAMPERED with the
    reason, the others still list, and the command then exits 3; a run holding events of a newer invarlock
    release lists as UNREADABLE (not checked here, not known to be altered); a signed run without its chain seal as
    UNSEALED (killed before it: certify --resume with its key seals it; or the seal was removed).
    """
    from invarlock.application.replay.audit import tampered_error
    from invarlock.application.replay.listing import list_runs
    from invarlock.domain.run_query import make_query

    from .bootstrap import open_run_index, open_store

    query = make_query(since=since, verdict=verdict, baseline_digest=baseline_digest, limit=limit, offset=offset)
    listing = list_runs(open_store(events, read_only=True), open_run_index(events), query, check_chains=check_chains)
    if as_json:
        console.out(json.dumps(msgspec.to_builtins(listing.runs)))
    else:
        for r in listing.runs:
            console.out(console.printable(_run_line(r)))  # refs and reasons come from the store
        _page_note(listing, filtered=any(v is not None for v in (since, verdict, baseline_digest)))
    error = tampered_error(listing.runs)
    if error is not None:
        raise error


def _page_note(listing: RunListing, filtered: bool) -> None:
    """Say on stderr which runs a partial page shows (nothing when it shows every matching run)."""
    shown = len(listing.runs)
    if listing.total == 0 and listing.offset == 0:
        console.tell("(no runs match these filters)" if filtered else "(no runs in this event store)")
        return
    if listing.offset == 0 and shown >= listing.total:
        return
    if shown == 0:
        console.tell(f"(no runs from --offset {listing.offset}: {listing.total} match)")
        return
    first, last = listing.offset + 1, listing.offset + shown
    more = f"; --offset {last} for the next page" if last < listing.total else ""
    console.tell(f"(runs {first}-{last} of {listing.total}{more})")


def _run_line(r: RunSummary) -> str:
    if r.problem is not None:
        counted = "events unreadable" if r.events is None else f"{r.events} events"
        return f"{r.run_id}  {r.status}  ({counted})  {r.problem}"
    return (
        f"{r.run_id}  {r.started_at}  {r.finished_at or '-':<27}  {r.command:<9} {r.status:<10} "
        f"{r.verdict or '-':<4}  {r.baseline or '-'} -> {r.subject or '-'}  ({r.events} events)"
    )


@click.command("events")
@click.argument("run_id")
@click.option("--events", type=click.Path(), default=DEFAULT_EVENTS, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def events_cmd(run_id: str, events: str, as_json: bool) -> None:
    """Show RUN_ID's event timeline; exits 3 after it when the run fails its chain check."""
    from invarlock.application.replay.listing import indexed_stream_problem
    from invarlock.application.replay.timeline import timeline
    from invarlock.domain.errors import IntegrityError
    from invarlock.ports.store import RunIndex

    from .bootstrap import open_store
    from .stopped_runs import naming_the_searched_store

    store = open_store(events, read_only=True)
    with naming_the_searched_store(events):
        rows, problems = timeline(store, run_id)
    if not problems and rows and rows[0].type == "run_started":  # a run's stream that passes on its own, yet is not
        # the one appended (as `runs` tells it); an audit stream's index entry is not compared
        rewritten = indexed_stream_problem(cast(RunIndex, store), run_id)
        problems = [rewritten] if rewritten is not None else []
    if as_json:
        console.out(json.dumps(msgspec.to_builtins(rows)))
    else:
        for row in rows:
            console.out(console.printable(_event_line(row)))
    if problems:
        raise IntegrityError(
            "E603", f"run {run_id} fails its chain check: {problems[0]}", "the event store was altered"
        )


def _event_line(row: TimelineRow) -> str:
    if row.payload is None:
        return f"{row.seq:>4}  {row.recorded_at}  {row.type:<20} (payload does not decode)"
    brief = _scalars(row.payload)  # the payload is the event as decoded (upcast)
    return f"{row.seq:>4}  {row.recorded_at}  {row.type:<20} {json.dumps(brief)[:120]}"


def _scalars(struct: msgspec.Struct) -> dict[str, object]:
    """The scalar fields, those of embedded value objects (a model's identity, a window plan, a guard's result)
    in line."""
    out: dict[str, object] = {}
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if isinstance(value, msgspec.Struct):
            config = value.__struct_config__
            if config.tag_field is not None:  # a tagged union member, e.g. a guard's result: name it
                out.setdefault(config.tag_field, config.tag)
            for inner, scalar in _scalars(value).items():
                out.setdefault(inner, scalar)
        elif not isinstance(value, list | tuple | dict):
            out.setdefault(name, value)
    return out


def _finite_seconds(value: float) -> float:
    if not math.isfinite(value):  # FloatRange lets NaN through
        raise click.BadParameter(f"{value} is not a number of seconds", param_hint="'--timeout'")
    return value


@click.command("audit")
@click.option("--sql", "sql", required=True, help="One read-only SELECT/WITH query over the views in docs/audit.md.")
@click.option("--events", type=click.Path(), default=DEFAULT_EVENTS, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of row objects.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True, max=86400),
    callback=lambda _ctx, _param, value: _finite_seconds(value),
    default=DEFAULT_AUDIT_TIMEOUT_S,
    show_default=True,
    help="Stop after this many seconds of running the query and preparing its rows (E512).",
)
def audit_cmd(sql: str, events: str, as_json: bool, timeout_s: float) -> None:
    """Run read-only SQL over the event store: one view per event type plus `runs` (see docs/audit.md)."""
    from invarlock.ports.audit import Deadline

    from .bootstrap import open_audit
    from .tables import to_json, to_table

    deadline = Deadline(timeout_s)
    result = open_audit(events, timeout_s=timeout_s).query(sql)
    console.out(to_json(result, deadline) if as_json else to_table(result, deadline))
