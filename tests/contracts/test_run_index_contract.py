"""The RunIndex contract, run against both stores: the fast listing of `invarlock runs` says exactly what the
full chain-checked fold of every stream says, and its filters and pages select what they promise."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.replay.audit import RunSummary, checked_summary
from invarlock.application.replay.listing import list_runs
from invarlock.domain import events as ev
from invarlock.domain.run_query import RunQuery, make_query

from tests.fakes.run_streams import RECORDED_AT, RunStreams, certified_streams


@pytest.fixture(scope="module")
def streams() -> RunStreams:
    return certified_streams()


@pytest.fixture(params=["memory", "duckdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path, streams: RunStreams) -> InMemoryEventStore | DuckDBEventStore:
    made = (
        InMemoryEventStore(clock=lambda: RECORDED_AT)
        if request.param == "memory"
        else DuckDBEventStore(tmp_path / "events.duckdb", clock=lambda: RECORDED_AT)
    )
    streams.fill(made)
    return made


def _full(store: InMemoryEventStore | DuckDBEventStore) -> list[RunSummary]:
    """Every run's row from its whole stream, checked: what `runs` printed before the index existed."""
    rows = [checked_summary(store, run_id) for run_id in store.run_ids()]
    return [row for row in rows if row is not None]


def test_the_listing_from_the_index_is_the_checked_fold_of_every_stream(store: InMemoryEventStore) -> None:
    full = _full(store)
    listing = list_runs(store, store)
    assert listing.runs == full and listing.total == len(full) == 6
    assert all(r.chain_ok and r.problem is None for r in full)
    assert {r.status for r in full} == {"completed", "rollback", "failed", "incomplete"}
    assert list_runs(store, store, check_chains=True).runs == full


def _selected(store: InMemoryEventStore, query: RunQuery) -> list[str]:
    return [r.run_id for r in list_runs(store, store, query).runs]


def test_each_filter_selects_the_runs_whose_events_say_so(store: InMemoryEventStore, streams: RunStreams) -> None:
    full = _full(store)
    fails = [r.run_id for r in full if r.verdict == "FAIL"]
    assert fails and _selected(store, make_query(verdict="fail")) == fails
    since = full[2].started_at
    assert since is not None
    assert _selected(store, make_query(since=since)) == [r.run_id for r in full[2:]]
    fingerprint = next(e for e in streams.streams[full[2].run_id] if isinstance(e, ev.ModelFingerprinted))
    digest = fingerprint.identity.weights_sha256
    on_base_2 = [r.run_id for r in full if r.baseline == fingerprint.identity.ref]
    assert on_base_2 == [full[2].run_id]
    assert _selected(store, make_query(baseline_digest=digest[:10].upper())) == on_base_2
    assert _selected(store, make_query(baseline_digest=digest, verdict="FAIL")) == []


def test_pages_cut_the_filtered_listing_and_count_every_match(store: InMemoryEventStore) -> None:
    ids = [r.run_id for r in _full(store)]
    page = list_runs(store, store, make_query(limit=2, offset=3))
    assert [r.run_id for r in page.runs] == ids[3:5] and (page.total, page.offset) == (len(ids), 3)
    beyond = list_runs(store, store, make_query(offset=len(ids)))
    assert beyond.runs == [] and beyond.total == len(ids)


def test_folded_runs_are_what_each_stream_folds_to_read_alone(store: InMemoryEventStore) -> None:
    from invarlock.domain.run_index import index_stored

    folded = sorted(store.folded_runs(), key=lambda run: run.run_id)
    assert folded == sorted((index_stored(store.read(r)) for r in store.run_ids()), key=lambda run: run.run_id)
    assert len(folded) == 7 and all(run.problem is None for run in folded)  # six runs and an audit stream


def test_a_run_id_selects_that_runs_entry_alone(store: InMemoryEventStore) -> None:
    ids = [r.run_id for r in _full(store)]
    entries, total = store.indexed_runs(RunQuery(run_id=ids[3]))
    assert [e.run.run_id for e in entries] == [ids[3]] and total == 1
    assert store.indexed_runs(RunQuery(run_id="no-such-run")) == ([], 0)
