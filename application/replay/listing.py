"""`invarlock runs`: list runs from the run index, each with its chain integrity, fast at team scale.

A run whose stream still ends where the store indexed it (same length, same head hash; docs/audit.md) lists
from its index entry. Any other run, and every run under `check_chains`, is read whole and chain-checked
(check_run: links, decoding, order, the replayed certificate digest), which also names what is wrong.
"""

from __future__ import annotations

import msgspec
from invarlock.domain.run_index import IndexedRun
from invarlock.domain.run_query import RunQuery
from invarlock.domain.stream_check import IndexedStream, compare_stream
from invarlock.ports.store import EventStore, RunIndex

from .audit import RunSummary, checked_summary, tampered

_COMPARED = ("command", "started_at", "finished_at", "status", "verdict", "baseline", "subject")


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
        check_chains: read and check every listed run's whole stream, and compare it with its index entry.
    """
    query = query or RunQuery()
    page, total = index.indexed_runs(query)
    rows = [row for entry in page if (row := _row(store, entry, check_chains)) is not None]
    return RunListing(runs=rows, total=total, offset=query.offset)


def _row(store: EventStore, entry: IndexedStream, check_chains: bool) -> RunSummary | None:
    check = compare_stream(entry)
    if check.intact and not check_chains:
        return from_index(entry.run)
    full = checked_summary(store, entry.run.run_id)
    if full is None or full.problem is not None:
        return full
    if check.problem is not None:  # the events pass on their own, but they are not the ones appended
        return tampered(full.run_id, full.events, check.problem)
    disagreement = _disagreement(entry.run, full) if check.intact else None
    return full if disagreement is None else tampered(full.run_id, full.events, disagreement)


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


def _disagreement(run: IndexedRun, full: RunSummary) -> str | None:
    """Where an index entry differs from its stream's checked fold (the index was edited), else None."""
    listed = from_index(run)
    for name in _COMPARED:
        indexed, folded = getattr(listed, name), getattr(full, name)
        if indexed != folded:
            return f"run {run.run_id}: the run index says {name} {indexed!r} but its events say {folded!r}"
    return None
