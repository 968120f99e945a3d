"""The audit views over stores holding earlier event versions: v1 rows (tests/fixtures/store_v1) and v2 rows read
through the same views with the same columns."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.adapters.duckdb_audit_columns import EVENT_VIEWS, LEGACY_PATHS
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain import events as ev
from invarlock.domain.events_legacy import UPCASTERS

from tests.integration.test_audit_sql import GUARD_COLUMNS, query

FIXTURE_STORE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "invarlock.duckdb"


def test_the_guard_evaluated_view_reads_v1_events_of_an_earlier_release(tmp_path):
    path = Path(shutil.copy(FIXTURE_STORE, tmp_path / "v1.duckdb"))
    rows = query(path, f"SELECT version, {GUARD_COLUMNS} FROM guard_evaluated ORDER BY run_id, seq")
    assert rows and {r["version"] for r in rows} == {1}
    assert {r["guard"] for r in rows} == {"invariants", "spectral", "rmt", "variance"}
    assert all(r["verdict"] in ("pass", "fail") and r["seconds"] is not None for r in rows)
    measured = [r for r in rows if r["guard"] != "invariants"]
    assert all(r["outcome"]["verdict"] == r["verdict"] for r in measured)


CHANGED_VIEWS = ("model_fingerprinted", "windows_planned", "edit_applied")


def _json(value: msgspec.Struct) -> dict[str, Any]:
    decoded: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(value))
    return decoded


def _view_row(event: ev.Event) -> dict[str, object]:
    """What the event's view must show (its columns but run_id, seq, recorded_at), from the decoded event."""
    if isinstance(event, ev.ModelFingerprinted):
        return {"role": event.role, **_json(event.identity)}
    if isinstance(event, ev.WindowsPlanned):
        plan = {k: v for k, v in _json(event.plan).items() if k != "windows"}
        plan["plan_digest"] = plan.pop("window_plan_digest")
        return {**_json(event.corpus), **plan}
    assert isinstance(event, ev.EditApplied)
    outcome = _json(event.outcome)
    return {**outcome.pop("deltas"), **outcome}


@pytest.fixture(scope="module")
def mixed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture store (every event v1, written by release 948972e) plus one fresh run written as v2."""
    from tests.unit.test_events_and_config import EDIT_V2, MODEL_V2, WINDOWS_V2

    path = Path(shutil.copy(FIXTURE_STORE, tmp_path_factory.mktemp("mixed") / "events.duckdb"))
    store = DuckDBEventStore(path)
    [started] = [e for r in store.run_ids() for e in _decoded(store, r) if isinstance(e, ev.RunStarted)][:1]
    store.append("run-v2", 0, [msgspec.structs.replace(started, run_id="run-v2"), MODEL_V2, EDIT_V2, WINDOWS_V2])
    return path


def _decoded(store: DuckDBEventStore, run_id: str) -> list[ev.Event]:
    return [ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)]


@pytest.mark.parametrize("view", CHANGED_VIEWS)
def test_a_changed_events_view_shows_v1_and_v2_rows_with_the_same_columns(mixed_store, view):
    store = DuckDBEventStore(mixed_store, read_only=True)
    rows = query(mixed_store, f"SELECT * FROM {view} ORDER BY run_id, seq")
    versions = {r.run_id: r.version for run in store.run_ids() for r in store.read(run) if r.type == view}
    assert set(versions.values()) == {1, 2}, "the fixture holds v1 rows, run-v2 a v2 row"
    expected = [
        {"run_id": run, "seq": r.seq, **_view_row(ev.decode_event(r.type, r.version, r.payload))}
        for run in sorted(versions)
        for r in store.read(run)
        if r.type == view
    ]
    assert [{k: v for k, v in row.items() if k != "recorded_at"} for row in rows] == expected


def test_the_planned_windows_view_lists_the_windows_of_both_versions(mixed_store):
    store = DuckDBEventStore(mixed_store, read_only=True)
    rows = query(mixed_store, "SELECT run_id, window_id, digest, arm FROM planned_windows")
    got = sorted((r["run_id"], r["window_id"], r["digest"], r["arm"]) for r in rows)
    planned = [(run, e) for run in store.run_ids() for e in _decoded(store, run) if isinstance(e, ev.WindowsPlanned)]
    assert len(planned) == 3 and {run for run, _ in planned} >= {"run-v2"}
    assert got == sorted((run, w.window_id, w.digest, w.arm) for run, e in planned for w in e.plan.windows)


def test_every_earlier_event_version_is_upcast_on_read_and_read_by_its_view():
    earlier = {(name, v) for name, current in ev.CURRENT_VERSIONS.items() for v in range(1, current)}
    assert set(UPCASTERS) == earlier
    assert set(LEGACY_PATHS) == {(name, v) for name, v in earlier if name in EVENT_VIEWS}
    for (name, _), paths in LEGACY_PATHS.items():
        assert set(paths) == {column for column, _, _ in EVENT_VIEWS[name]}


def test_every_event_type_has_its_view_chain_sealed_included(tmp_path):
    """`audit --sql` promises one view per event type; chain_sealed had none (E511 "no table chain_sealed")."""
    path = Path(shutil.copy(FIXTURE_STORE, tmp_path / "v1.duckdb"))
    for name in ev.CURRENT_VERSIONS:
        query(path, f"SELECT count(*) AS n FROM {name}")
    store = DuckDBEventStore(path, read_only=True)
    sealed = [(run, r) for run in store.run_ids() for r in store.read(run) if r.type == "chain_sealed"]
    assert len(sealed) == 1
    run, record = sealed[0]
    seal = ev.decode_event(record.type, record.version, record.payload)
    assert isinstance(seal, ev.ChainSealed)
    rows = query(path, "SELECT run_id, seq, head_seq, head_hash, key_fingerprint, signature FROM chain_sealed")
    assert rows == [
        {
            "run_id": run,
            "seq": record.seq,
            "head_seq": seal.head_seq,
            "head_hash": seal.head_hash,
            "key_fingerprint": seal.key_fingerprint,
            "signature": seal.signature,
        }
    ]


def test_an_audit_of_v1_did_not_record_whether_it_held_one_model(tmp_path):
    """reexecution_started.v2 records `sequential`; the fixture's v1 audit reads as None, in the view as NULL."""
    from tests.fakes.run_streams import _audit_started

    path = Path(shutil.copy(FIXTURE_STORE, tmp_path / "v1.duckdb"))
    store = DuckDBEventStore(path)
    [old] = [r for run in store.run_ids() if (r := store.read(run)[0]).type == "reexecution_started"]
    assert old.version == 1 and ev.decode_event(old.type, old.version, old.payload).sequential is None  # type: ignore[union-attr]
    store.append("audit-v2", 0, [msgspec.structs.replace(_audit_started("run-x"), sequential=True)])
    rows = query(path, "SELECT run_id, sequential, sample_seed FROM reexecution_started ORDER BY run_id")
    assert {r["run_id"]: r["sequential"] for r in rows} == {old.run_id: None, "audit-v2": True}
