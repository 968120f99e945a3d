"""The run index in the domain: built incrementally or from a stored stream alike, and what a stored stream's
length and head say about it."""

from __future__ import annotations

import itertools

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.domain.errors import UsageError
from invarlock.domain.run_index import IndexedRun, index_appended, index_stored
from invarlock.domain.run_query import make_query, parse_instant, select
from invarlock.domain.stream_check import IndexedStream, compare_stream

from tests.fakes.run_streams import RECORDED_AT, RunStreams, certified_streams


@pytest.fixture(scope="module")
def streams() -> RunStreams:
    return certified_streams()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=18), max_size=6))
def test_an_index_built_batch_by_batch_equals_one_built_from_the_stored_stream(
    streams: RunStreams, cuts: list[int]
) -> None:
    store = InMemoryEventStore(clock=lambda: RECORDED_AT)
    for run_id, events in streams.streams.items():
        bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
        entry: IndexedRun | None = None
        for start, end in itertools.pairwise(bounds):
            entry = index_appended(entry, store.append(run_id, start, events[start:end]), events[start:end])
        assert entry == index_stored(store.read(run_id))
        assert entry is not None and entry.problem is None and entry.events == len(events)


def test_a_broken_or_undecodable_stream_is_indexed_with_its_problem(streams: RunStreams) -> None:
    store = InMemoryEventStore(clock=lambda: RECORDED_AT)
    rows = store.append("run-0", 0, streams.streams["run-0"])
    garbled = [rows[0], msgspec.structs.replace(rows[1], payload=b"{}"), *rows[2:]]
    assert "hash does not match its contents" in (index_stored(garbled).problem or "")
    assert index_stored(rows[1:]).problem == "run run-0 event seq 1 (model_fingerprinted): expected seq 0"


def _entry(events: int = 3, head: str = "h2", command: str | None = "certify") -> IndexedRun:
    return IndexedRun(
        run_id="r",
        kind="run",
        events=events,
        head_hash=head,
        first_recorded_at=RECORDED_AT,
        command=command,
        started_at=None if command is None else RECORDED_AT,
    )


@pytest.mark.parametrize(
    "stored, head, intact, problem",
    [
        (3, "h2", True, None),
        (5, "h2", False, None),  # grown by a writer that does not keep the index: the full check decides
        (2, None, False, "run r lost events after it was recorded: 2 events stored but 3 were recorded"),
        (3, "forged", False, "run r was rewritten after it was recorded: event seq 2 no longer has the hash"),
    ],
)
def test_a_stream_is_intact_only_where_it_still_ends_at_its_indexed_head(
    stored: int, head: str | None, intact: bool, problem: str | None
) -> None:
    check = compare_stream(IndexedStream(run=_entry(), stored_events=stored, stored_head_hash=head))
    assert check.intact is intact and (check.problem or "").startswith(problem or "")
    assert (check.problem is None) is (problem is None)


def test_a_run_entry_without_its_command_was_edited_and_takes_the_full_check() -> None:
    # `runs` listed it from the index and failed formatting the missing command (E999).
    check = compare_stream(IndexedStream(run=_entry(command=None), stored_events=3, stored_head_hash="h2"))
    assert (check.intact, check.problem) == (False, "the run index row of run r was altered (no command)")


def test_rows_with_nulls_unindexed_streams_and_non_runs_always_take_the_full_check() -> None:
    for entry in (
        IndexedStream(run=_entry(), stored_events=3, stored_head_hash="h2", null_rows=True),
        IndexedStream(run=_entry(), stored_events=3, stored_head_hash="h2", indexed=False),
        IndexedStream(run=msgspec.structs.replace(_entry(), kind="other"), stored_events=3, stored_head_hash="h2"),
    ):
        assert compare_stream(entry).intact is False


def test_since_accepts_a_date_or_a_time_and_means_utc_without_a_zone() -> None:
    assert parse_instant("2026-02-01") == "2026-02-01T00:00:00.000000+00:00"
    assert parse_instant("2026-02-01T10:30+02:00") == "2026-02-01T08:30:00.000000+00:00"
    assert make_query(since="2026-02-01T08:30Z").since == parse_instant("2026-02-01T10:30+02:00")


def test_since_finer_than_microseconds_still_means_at_or_after() -> None:
    """Python cuts a fraction to microseconds: `--since ...193494999Z` listed a run started at ...193494, before
    the instant asked for (the reports hunt); a finer fraction that is not zero now counts from the next one."""
    assert parse_instant("2026-12-06T16:48:28.193494999Z") == "2026-12-06T16:48:28.193495+00:00"
    assert parse_instant("2026-12-06 16:48:28.193494000Z") == "2026-12-06T16:48:28.193494+00:00"
    assert parse_instant("2026-12-06T23:59:59.9999999+00:00") == "2026-12-07T00:00:00.000000+00:00"
    # however the time is written: a comma, the basic format, another separator (the store hunt of stop 63)
    for written in ("2026-07-02T12:00:00,0000001Z", "20260702T120000.0000001Z", "2026-07-02_12:00:00.0000001Z"):
        assert parse_instant(written) == "2026-07-02T12:00:00.000001+00:00", written
    assert parse_instant("20260702T120000,5Z") == "2026-07-02T12:00:00.500000+00:00"
    for fraction_of_a_larger_unit in ("2026-12-07T12,5", "2026-12-07T12.5", "2026-12-07T12:30.5"):
        with pytest.raises(UsageError) as raised:  # ISO reads 12:30 and 12:30:30, Python 12:00:00.5 and 12:30:00.5
            parse_instant(fraction_of_a_larger_unit)
        assert raised.value.code == "E513" and "fraction of an hour or minute" in raised.value.message


def test_select_filters_before_it_pages_and_counts_every_match() -> None:
    runs = [msgspec.structs.replace(_entry(), run_id=f"r{i}", verdict="FAIL" if i % 2 else "PASS") for i in range(7)]
    page, total = select(runs, make_query(verdict="FAIL", limit=2, offset=1))
    assert [r.run_id for r in page] == ["r3", "r5"] and total == 3


@pytest.mark.parametrize(
    "kwargs",
    [
        {"since": "soon"},
        {"since": "0001-01-01T00:00+01:00"},  # before year 1 in UTC: an OverflowError reached E999
        {"since": "9999-12-31T23:00-01:00"},
        {"verdict": "OK"},
        {"baseline_digest": "g1"},
        {"limit": 0},
    ],
)
def test_a_bad_query_is_a_usage_error_e513(kwargs: dict) -> None:
    with pytest.raises(UsageError) as raised:
        make_query(**kwargs)
    assert raised.value.code == "E513"
