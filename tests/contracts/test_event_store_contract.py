"""The EventStore contract, run against every store adapter (in-memory and DuckDB)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.domain.errors import AbortError, ConcurrencyConflict
from invarlock.domain.events import (
    GENESIS_HASH,
    PreviewAssessed,
    RollbackPerformed,
    RunCompleted,
    ScoredRow,
    WindowsScored,
    chain_hash,
    chain_problems,
    decode_event,
    encode_event,
    record_hash,
)
from invarlock.ports.store import EventStore


def ticking_clock() -> Callable[[], str]:
    """A clock that moves one second per call from a fixed start, so ordering is deterministic."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ticks = itertools.count()
    return lambda: (start + timedelta(seconds=next(ticks))).isoformat()


@pytest.fixture(params=["memory", "duckdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> EventStore:
    if request.param == "memory":
        return InMemoryEventStore(clock=ticking_clock())
    return DuckDBEventStore(tmp_path / "runs" / "events.duckdb", clock=ticking_clock())


def sample_events() -> list:
    row = ScoredRow(window_id=3, digest="d" * 64, tokens_scored=511, nll_sum=1234.5678901234567)
    return [
        WindowsScored(role="baseline", arm="final", rows=[row]),
        PreviewAssessed(ratio=1.0022, catastrophe_ratio=2.0, catastrophe=False),
        RollbackPerformed(reason="naïve “quotes” \u2028 and \x00 survive"),
        RunCompleted(finished_at="2026-01-01T00:00:09+00:00", status="ok", verdict="PASS"),
    ]


def test_appended_events_read_back_with_identical_bytes_and_hashes(store: EventStore) -> None:
    written = store.append("run-a", 0, sample_events())
    read = store.read("run-a")
    assert read == written
    assert [r.payload for r in read] == [encode_event(e)[2] for e in sample_events()]
    assert [decode_event(r.type, r.version, r.payload) for r in read] == sample_events()


def test_first_event_chains_from_genesis_and_each_links_to_the_one_before(store: EventStore) -> None:
    store.append("run-a", 0, sample_events()[:2])
    store.append("run-a", 2, sample_events()[2:])
    read = store.read("run-a")
    assert [r.seq for r in read] == [0, 1, 2, 3]
    assert read[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(read):
        assert after.prev_hash == before.hash
    assert all(r.hash == record_hash(r) for r in read)
    assert read[1].hash == chain_hash(
        run_id="run-a",
        seq=1,
        recorded_at=read[1].recorded_at,
        prev_hash=read[0].hash,
        type_="preview_assessed",
        version=1,
        payload=encode_event(sample_events()[1])[2],
    )
    assert chain_problems(read) == []


@pytest.mark.parametrize(
    "column, value",
    [("run_id", "run-b"), ("seq", 7), ("recorded_at", "2026-01-01T00:00:00.000001+00:00"), ("version", 2)],
)
def test_the_hash_covers_every_stored_column(store: EventStore, column: str, value: object) -> None:
    store.append("run-a", 0, sample_events())
    read = store.read("run-a")
    edited = msgspec.structs.replace(read[2], **{column: value})
    problems = chain_problems([*read[:2], edited, *read[3:]])
    assert any("hash does not match its contents" in p and "seq" in p for p in problems), problems


def test_stale_expected_seq_raises_conflict_and_writes_nothing(store: EventStore) -> None:
    store.append("run-a", 0, sample_events()[:2])
    before = store.read("run-a")
    for stale in (0, 1, 3):
        with pytest.raises(ConcurrencyConflict) as info:
            store.append("run-a", stale, sample_events()[2:])
        assert info.value.code == "E503"
        # "re-read the stream and retry" sent the losing one of two resumes to E406 (the event-store hunt)
        assert "`invarlock events run-a` shows how far the run is" in info.value.hint
    assert store.read("run-a") == before


def test_non_finite_payload_is_refused_and_writes_nothing(store: EventStore) -> None:
    bad = PreviewAssessed(ratio=float("nan"), catastrophe_ratio=2.0, catastrophe=False)
    with pytest.raises(AbortError):
        store.append("run-a", 0, [sample_events()[0], bad])
    assert store.read("run-a") == []


def test_streams_are_independent(store: EventStore) -> None:
    store.append("run-a", 0, sample_events()[:1])
    store.append("run-b", 0, sample_events())
    store.append("run-a", 1, sample_events()[1:2])
    assert [r.seq for r in store.read("run-a")] == [0, 1]
    assert store.read("run-b")[0].prev_hash == GENESIS_HASH
    assert chain_problems(store.read("run-a")) == chain_problems(store.read("run-b")) == []
    assert store.read("run-unknown") == []


def test_run_ids_are_ordered_by_first_event_time(store: EventStore) -> None:
    assert store.run_ids() == []
    for run_id in ("run-z", "run-a", "run-m"):
        store.append(run_id, 0, sample_events()[:1])
    store.append("run-z", 1, sample_events()[1:2])
    assert store.run_ids() == ["run-z", "run-a", "run-m"]


def test_stream_reads_back_the_recorded_at_the_hash_covers(store: EventStore) -> None:
    written = store.append("run-a", 0, sample_events()[:2])
    assert [r.recorded_at for r in store.read("run-a")] == [w.recorded_at for w in written]
    assert all(record_hash(r) == r.hash for r in store.read("run-a"))


def test_recorded_at_is_iso_utc_and_stable(store: EventStore) -> None:
    written = store.append("run-a", 0, sample_events()[:1])
    assert written[0].recorded_at == "2026-01-01T00:00:00.000000+00:00"
    assert store.read("run-a")[0].recorded_at == written[0].recorded_at


_text = st.text(max_size=40)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_rows = st.lists(
    st.builds(ScoredRow, window_id=st.integers(0, 10**6), digest=_text, tokens_scored=st.integers(0, 4096),
              nll_sum=_finite),
    max_size=4,
)  # fmt: skip
_events = st.one_of(
    st.builds(RollbackPerformed, reason=_text),
    st.builds(PreviewAssessed, ratio=_finite, catastrophe_ratio=_finite, catastrophe=st.booleans()),
    st.builds(RunCompleted, finished_at=_text, status=_text, verdict=_text),
    st.builds(WindowsScored, role=_text, arm=_text, rows=_rows),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(_events, min_size=1, max_size=4), min_size=1, max_size=3))
def test_any_sequence_of_events_round_trips(store: EventStore, batches: list[list]) -> None:
    run_id = str(uuid.uuid4())
    seq = 0
    for batch in batches:
        store.append(run_id, seq, batch)
        seq += len(batch)
    read = store.read(run_id)
    assert [decode_event(r.type, r.version, r.payload) for r in read] == [e for b in batches for e in b]
    assert chain_problems(read) == []
