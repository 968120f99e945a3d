"""`runs --check-chains` while another command appends to the store: the index was read with one connection and
each stream later with another, so a run that grew in between, or a run created in between (with a filter),
was listed as TAMPERED ('the run index says events 6 but its events say 7') and the command exited 3 (found
by the event-store hunt). A stream read after the index that is the indexed one with events appended is not a
rewrite; the streams are folded before the index is read, so a new run is in the index."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import msgspec
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.certify import certify_edit
from invarlock.application.replay.listing import list_runs
from invarlock.domain import events as ev
from invarlock.domain.run_query import RunQuery

from tests.unit.test_baseline_reuse import _request


class _AppendsBetweenReads:
    """The store's run index; `then()` runs (once) right after its first read."""

    def __init__(self, store: DuckDBEventStore, then: Any) -> None:
        self.store, self.then = store, then

    def _read(self, name: str, *args: Any) -> Any:
        result = getattr(self.store, name)(*args)
        if self.then is not None:
            self.then, then = None, self.then
            then()
        return result

    def indexed_runs(self, query: RunQuery) -> Any:
        return self._read("indexed_runs", query)

    def folded_runs(self) -> Any:
        return self._read("folded_runs")


def _stored_run(services: Any, tmp_path: Path) -> tuple[str, list[ev.Event]]:
    store = DuckDBEventStore(tmp_path / "source.duckdb")
    done = certify_edit(_request("int8ish"), dataclasses.replace(services, store=store, index=store))
    return done.run_id, [ev.decode_event(r.type, r.version, r.payload) for r in store.read(done.run_id)]


def test_a_run_that_grows_after_the_index_was_read_is_listed_intact(services, tmp_path) -> None:
    run_id, events = _stored_run(services, tmp_path)
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    store.append(run_id, 0, events[:7])
    index = _AppendsBetweenReads(store, lambda: store.append(run_id, 7, events[7:9]))
    [row] = list_runs(store, index, check_chains=True).runs
    assert row.chain_ok and row.problem is None and row.events == 9


def test_a_run_created_while_a_filtered_listing_reads_is_not_said_to_be_unindexed(services, tmp_path) -> None:
    run_id, events = _stored_run(services, tmp_path)
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    store.append(run_id, 0, events[:12])  # a prefix: a whole run issued in another store names that store's hashes
    assert list_runs(store, store, check_chains=True).runs[0].problem is None
    started = events[0]
    assert isinstance(started, ev.RunStarted)
    new = [msgspec.structs.replace(started, run_id="run-new"), *events[1:3]]  # a run of its own, not a copy
    index = _AppendsBetweenReads(store, lambda: store.append("run-new", 0, new))
    listing = list_runs(store, index, RunQuery(since="2000-01-01"), check_chains=True)
    assert [(row.run_id, row.problem) for row in listing.runs if row.problem is not None] == []


def test_a_stream_rewritten_between_the_reads_is_still_flagged(services, tmp_path) -> None:
    from tests.integration.event_forgery import retimed_last, rewrite

    run_id, events = _stored_run(services, tmp_path)
    db = tmp_path / "events.duckdb"
    store = DuckDBEventStore(db)
    store.append(run_id, 0, events[:12])
    assert list_runs(store, store, check_chains=True).runs[0].problem is None
    index = _AppendsBetweenReads(store, lambda: rewrite(db, run_id, retimed_last))  # only the index tells
    [row] = list_runs(store, index, check_chains=True).runs
    assert row.status == "TAMPERED" and "head_hash" in (row.problem or "")
