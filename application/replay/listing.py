"""`invarlock runs`: list runs from the run index, each with its chain integrity, fast at team scale.

A run whose stream still ends where the store indexed it (same length, same head hash; docs/audit.md) lists
from its index entry. Any other run, and every run under `check_chains`, is read whole and chain-checked
(check_run: links, decoding, order, the replayed certificate digest), which also names what is wrong, and its
index entry is compared field by field with the entry its events fold to. Under `check_chains` with a filter
the runs are also chosen by their events, not by the index, so an edited index row cannot leave a run out.
"""

from __future__ import annotations

import msgspec
from invarlock.domain.errors import InvarlockError
from invarlock.domain.events import RecordedEvent
from invarlock.domain.run_index import AUDIT, RUN, IndexedRun
from invarlock.domain.run_query import RunQuery, select
from invarlock.domain.stream_check import IndexedStream, compare_stream
from invarlock.ports.store import EventStore, RunIndex

from .audit import UNSEALED, RunSummary, checked_of, tampered


class RunListing(msgspec.Struct, frozen=True, kw_only=True):
    """One page of `invarlock runs`: its rows, how many runs match the filters in all, and where it starts."""

    runs: list[RunSummary]
    total: int
    offset: int


def list_runs(
    store: EventStore, index: RunIndex, query: RunQuery | None = None, *, check_chains: bool = False
) -> RunListing:
    """The runs `query` selects (every run by default), oldest first, each with its chain integrity.

    Args:
        store: the event streams, read for the runs that need the full check.
        index: the store's run index (usually the same object).
        query: filters and paging (domain/run_query.py).
        check_chains: read and check every listed run's whole stream, and compare it with its index entry; with
            a filter, choose the runs by what every stream's events say (every stream is read).
    """
    query = query or RunQuery()
    if check_chains and _filtered(query):
        page, total = _chosen_by_events(store, index, query)
    else:
        page, total = index.indexed_runs(query)
    rows = [row for entry in page if (row := _row(store, entry, check_chains)) is not None]
    return RunListing(runs=rows, total=total, offset=query.offset)


def _filtered(query: RunQuery) -> bool:
    return (query.since, query.verdict, query.baseline_digest) != (None, None, None)


def _chosen_by_events(store: EventStore, index: RunIndex, query: RunQuery) -> tuple[list[IndexedStream], int]:
    """The page `query` selects from the entries every stored stream folds to (a stream that fails its whole check, or
    whose index entry says otherwise than its events, is chosen whatever the filters: it cannot be said to match
    or not), each with its index entry; an index entry whose stream is gone is chosen too."""
    stored = {run.run_id: run for run in index.folded_runs()}  # first: a run appended after it is in the index
    indexed = {entry.run.run_id: entry for entry in index.indexed_runs(RunQuery())[0]}
    ghosts = [entry.run for run_id, entry in indexed.items() if run_id not in stored]
    folds = [_flagged_if_failing(store, run, indexed.get(run_id)) for run_id, run in stored.items()]
    page, total = select([*folds, *ghosts], query, flagged_too=True)
    return [indexed.get(run.run_id) or _unlisted(run) for run in page], total


def _flagged_if_failing(store: EventStore, folded: IndexedRun, entry: IndexedStream | None) -> IndexedRun:
    """`folded` with a problem when its stream fails its whole check or its index entry says otherwise (a run
    whose run_completed was deleted folded to no verdict: `runs --verdict FAIL --check-chains` left it out, exit 0,
    where plain `runs --verdict FAIL` flagged it)."""
    flagged = _flagged_if_edited(folded, entry)
    if flagged.problem is not None:
        return flagged
    appended = compare_stream(entry).problem if entry is not None else None
    if appended is not None:  # cut or rewritten after it was indexed: its fold (no verdict) matched no filter
        return msgspec.structs.replace(folded, problem=appended)
    try:
        records = store.read(folded.run_id)
    except InvarlockError as exc:
        return msgspec.structs.replace(folded, problem=exc.message)
    full, _ = checked_of(folded.run_id, list(records))
    return flagged if full is None or full.problem is None else msgspec.structs.replace(folded, problem=full.problem)


def _flagged_if_edited(folded: IndexedRun, entry: IndexedStream | None) -> IndexedRun:
    """`folded` with a problem when its index entry, for the stream as indexed, says otherwise (a verdict edited
    in the index: `runs --verdict PASS --check-chains` chose by the events and never compared it, exit 0)."""
    if entry is None or folded.problem is not None or not _as_indexed(entry):
        return folded
    disagreement = _disagreement(entry.run, folded)
    return folded if disagreement is None else msgspec.structs.replace(folded, problem=disagreement)


def _unlisted(run: IndexedRun) -> IndexedStream:
    """A stream the index does not list as a run (its row was made to say it is an audit stream)."""
    problem = run.problem or f"run {run.run_id}: the run index does not list it as a run"
    return IndexedStream(
        run=msgspec.structs.replace(run, problem=problem), stored_events=run.events, stored_head_hash=run.head_hash
    )


def _row(store: EventStore, entry: IndexedStream, check_chains: bool) -> RunSummary | None:
    check = compare_stream(entry)
    if check.intact and not check_chains:
        return from_index(entry.run)
    run_id = entry.run.run_id
    try:
        records = store.read(run_id)
    except InvarlockError as exc:
        return tampered(run_id, None, exc.message)
    full, folded = checked_of(run_id, records)
    if full is not None and full.problem is not None and full.status != UNSEALED:
        return full  # an unsealed run is checked against its index entry too: a seal removed hid an edited verdict
    events = len(records)
    if _appended_since(entry, records):  # read after another command appended to it: the index is older, not wrong
        return full
    if check.problem is not None:  # the events pass on their own, but they are not the ones appended
        return tampered(run_id, events, check.problem)
    if entry.run.kind != (AUDIT if full is None else RUN) and entry.indexed:
        said = "a re-execution audit stream" if full is None else "a run"
        return tampered(run_id, events, f"run {run_id}: the run index says kind {entry.run.kind!r} but it is {said}")
    disagreement = _disagreement(entry.run, folded) if folded is not None and _as_indexed(entry) else None
    return full if disagreement is None else tampered(run_id, events, disagreement)


def from_index(run: IndexedRun) -> RunSummary:
    """The listing row of an intact run, from its index entry."""
    return RunSummary(
        run_id=run.run_id,
        command=run.command,
        started_at=run.started_at,
        finished_at=run.finished_at,
        status=run.status,
        verdict=run.verdict,
        baseline=run.baseline,
        subject=run.subject,
        events=run.events,
        chain_ok=True,
    )


def indexed_stream_problem(index: RunIndex, run_id: str) -> str | None:
    """Why the stream of `run_id` is not the one appended, as `invarlock runs` tells from the index alone (its
    events rewritten and re-linked, or events lost after they were recorded), or None (also for a run the index
    does not know)."""
    entry = next((e for e in index.indexed_runs(RunQuery(run_id=run_id))[0] if e.run.run_id == run_id), None)
    return None if entry is None else run_entry_problem(entry)


def run_entry_problem(entry: IndexedStream) -> str | None:
    """compare_stream's problem for the index entry of a stream that is a run, and its kind: an entry made to
    say `audit` was not compared at all (the regression hunt), so resume, reuse and replay took a stream that
    `runs` lists as TAMPERED."""
    if entry.indexed and entry.run.kind != RUN:
        return f"run {entry.run.run_id}: the run index says kind {entry.run.kind!r} but it is a run"
    return compare_stream(entry).problem


def _appended_since(entry: IndexedStream, records: list[RecordedEvent]) -> bool:
    """Whether the stream read now is the indexed one with events appended after the index was read: it is
    longer, and its event at the indexed head still has the indexed head hash."""
    head = entry.run.events - 1
    grown = _as_indexed(entry) and head >= 0 and len(records) > entry.run.events
    return grown and records[head].hash == entry.run.head_hash


def _as_indexed(entry: IndexedStream) -> bool:
    """Whether the stream is stored exactly as it was when indexed, so its index entry must be its fold's."""
    same = (entry.stored_events, entry.stored_head_hash) == (entry.run.events, entry.run.head_hash)
    return entry.indexed and not entry.null_rows and same


def _disagreement(run: IndexedRun, folded: IndexedRun) -> str | None:
    """Where an index entry differs from the entry its stream's checked events fold to (an edited index row)."""
    for name in IndexedRun.__struct_fields__:
        indexed, said = getattr(run, name), getattr(folded, name)
        if indexed != said:
            return f"run {run.run_id}: the run index says {name} {indexed!r} but its events say {said!r}"
    return None
