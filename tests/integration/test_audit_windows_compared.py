"""The `windows_compared` audit view: one row per compared window, its measures as typed columns."""

from __future__ import annotations

from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain import events as ev

from tests.integration.test_audit_sql import query, store_path

__all__ = ["store_path"]


def test_per_window_kl_and_agreement_match_the_stored_events(store_path):  # type: ignore[no-untyped-def]
    rows = query(
        store_path,
        "SELECT arm, window_id, digest, positions, kl_sum, kl_max, kl_histogram, top1_agree, top5_overlap, cosine "
        "FROM windows_compared WHERE run_id = 'run-pass-jan' ORDER BY arm, window_id",
    )
    stored = sorted(
        (e.arm, m.window_id, row.digest, m.positions, m.kl_sum, m.kl_max, list(m.kl_histogram or ()), m.top1_agree,
         m.top5_overlap, None)
        for r in DuckDBEventStore(store_path, read_only=True).read("run-pass-jan")
        if r.type == "windows_compared"
        for e in [ev.decode_event(r.type, r.version, r.payload)]
        if isinstance(e, ev.WindowsCompared)
        for row in e.rows
        for m in [row.comparison]
    )  # fmt: skip
    assert [tuple(r.values()) for r in rows] == stored and len(rows) == 8 + 12


def test_the_derived_columns_are_per_position_rates(store_path):  # type: ignore[no-untyped-def]
    rows = query(
        store_path,
        "SELECT kl_mean, kl_sum / positions AS mean, top1_rate, top1_agree / positions AS rate "
        "FROM windows_compared WHERE run_id = 'run-fail-feb'",
    )
    assert rows and all(r["kl_mean"] == r["mean"] and r["top1_rate"] == r["rate"] for r in rows)
    assert any(r["kl_mean"] > 0 for r in rows)  # the rolled-back subject moved the distribution
