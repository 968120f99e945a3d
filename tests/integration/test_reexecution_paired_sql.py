"""The audit SQL view of comparison_rechecked on a real DuckDB file: one row per re-measured window, each
stated paired measure next to its recomputed one, equal to the audit stream's events."""

from __future__ import annotations

from invarlock.adapters.duckdb_audit import DuckDBAuditQueries
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.domain import events as ev

from tests.unit.test_reexecution_paired import _audit, _certify, _forged, _nudge_cosine, _services


def test_the_view_lists_stated_and_recomputed_cosines_and_the_altered_window(tmp_path):
    store = InMemoryEventStore()
    services = _services(store)
    forged, wid = _forged(store, _certify(services, "embedding_cosine"), _nudge_cosine)
    path = tmp_path / "audit.duckdb"
    outcome = _audit(forged, services, "embedding_cosine", store=DuckDBEventStore(path))
    assert not outcome.ok
    rows = (
        DuckDBAuditQueries(path, timeout_s=30)
        .query("SELECT arm, window_id, cosine, cosine_recomputed, ok FROM comparison_rechecked ORDER BY seq")
        .as_dicts()
    )
    events = [
        e
        for r in DuckDBEventStore(path, read_only=True).read("audit-1")
        for e in [ev.decode_event(r.type, r.version, r.payload)]
        if isinstance(e, ev.ComparisonRechecked)
    ]
    assert len(rows) == len(events) == outcome.windows
    expected = [
        (e.arm, e.window_id, e.stated.cosine, e.recomputed.cosine if e.recomputed else None, e.ok) for e in events
    ]
    assert [tuple(r.values()) for r in rows] == expected
    assert [(r["arm"], r["window_id"]) for r in rows if not r["ok"]] == [("final", wid)]
