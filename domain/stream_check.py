"""Whether a stored stream still ends where the run index recorded it, so `invarlock runs` can skip its chain check."""

from __future__ import annotations

import msgspec

from .run_index import RUN, IndexedRun


class IndexedStream(msgspec.Struct, frozen=True, kw_only=True):
    """A run index entry with the stream as stored now: its row count, the hash of its row at seq
    `run.events - 1` (None when that row is missing) and whether any of its rows has a NULL column.
    `indexed` is False for an entry the store built from the stored rows just now (a stream written without
    the index: by an earlier version, or inserted by hand)."""

    run: IndexedRun
    stored_events: int
    stored_head_hash: str | None
    null_rows: bool = False
    indexed: bool = True


class StreamCheck(msgspec.Struct, frozen=True, kw_only=True):
    """How a stored stream compares with its index entry.

    `intact`: it ends exactly where it was indexed and was indexed without a problem. Otherwise the run needs
    the full chain check; `problem` (None when the stream only grew, written by a writer that does not keep the
    index) is reported if that check passes anyway.
    """

    intact: bool
    problem: str | None = None


def compare_stream(entry: IndexedStream) -> StreamCheck:
    """Compare an index entry (length and head hash when it was indexed) with the stream as stored now."""
    run, stored_events, stored_head_hash = entry.run, entry.stored_events, entry.stored_head_hash
    if run.problem is not None or entry.null_rows or not entry.indexed or run.kind != RUN:
        return StreamCheck(intact=False, problem=run.problem)
    if stored_events < run.events:
        lost = f"{stored_events} events stored but {run.events} were recorded"
        return StreamCheck(intact=False, problem=f"run {run.run_id} lost events after it was recorded: {lost}")
    if stored_head_hash != run.head_hash:
        where = f"event seq {run.events - 1} no longer has the hash recorded when it was appended"
        return StreamCheck(intact=False, problem=f"run {run.run_id} was rewritten after it was recorded: {where}")
    if run.command is None or run.started_at is None:  # a run's entry has both from its run_started
        return StreamCheck(intact=False, problem=f"the run index row of run {run.run_id} was altered (no command)")
    return StreamCheck(intact=stored_events == run.events)
