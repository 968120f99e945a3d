"""A run's reuse lookups (each arm's baseline scores, the weight guards' measurements, the variance taps) walk the
same earlier runs: the run index is read once per run and each candidate's stream once by the lookups (each read
a connection to the store: 7 index reads and 7 stream reads in a profiled reuse run before)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.certify import certify_edit
from invarlock.application.services import Services
from invarlock.domain import events as ev
from invarlock.domain.run_query import RunQuery
from invarlock.domain.stream_check import IndexedStream

from tests.unit.test_baseline_reuse import _request


class CountingStore:
    """The DuckDB store, counting the run index's reads and each stream's reads."""

    def __init__(self, inner: DuckDBEventStore) -> None:
        self.inner = inner
        self.index_reads = 0
        self.reads: Counter[str] = Counter()

    def indexed_runs(self, query: RunQuery) -> tuple[list[IndexedStream], int]:
        self.index_reads += 1
        return self.inner.indexed_runs(query)

    def read(self, run_id: str) -> list[ev.RecordedEvent]:
        self.reads[run_id] += 1
        return self.inner.read(run_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_lookups_of_a_reuse_run_read_the_index_once_and_the_source_once(services: Services, tmp_path: Path):
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    first = certify_edit(_request("int8ish"), dataclasses.replace(services, store=store, index=store))
    counting = CountingStore(store)
    second = certify_edit(_request("same"), dataclasses.replace(services, store=counting, index=counting))
    provenance = second.certificate.provenance
    assert provenance.baseline_scoring is not None and provenance.guard_baseline is not None, "three lookups copied"
    assert (counting.index_reads, counting.reads[first.run_id]) == (1, 1), "3 and 3 before"


def test_verify_events_asks_the_run_index_once_for_the_run_and_once_for_its_source(services: Services, tmp_path: Path):
    """The links of one source (each arm's scores, the guard measurements) each asked the index again."""
    from invarlock.application.replay.replay import event_findings

    store = DuckDBEventStore(tmp_path / "events.duckdb")
    svc = dataclasses.replace(services, store=store, index=store)
    certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    counting = CountingStore(DuckDBEventStore(tmp_path / "events.duckdb", read_only=True))
    found = dict(event_findings(second.certificate, counting, index=counting))
    assert {"baseline_source", "guard_baseline_source"} <= found.keys() and all(f.ok for f in found.values())
    assert counting.index_reads == 2
