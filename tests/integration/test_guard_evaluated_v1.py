"""guard_evaluated.v1 events of an earlier release (tests/fixtures/store_v1) upcast to v2 without changing a
number: the typed result re-encodes to exactly the stored measurements, outcome and checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain import events as ev
from invarlock.domain.canonical import canonical_bytes

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "invarlock.duckdb"


def test_every_v1_guard_event_of_the_fixture_upcasts_byte_for_byte(tmp_path: Path) -> None:
    store = DuckDBEventStore(Path(shutil.copy(FIXTURE, tmp_path / "v1.duckdb")), read_only=True)
    seen = 0
    for run_id in store.run_ids():
        for rec in store.read(run_id):
            if rec.type != "guard_evaluated":
                continue
            assert rec.version == 1
            event = ev.decode_event(rec.type, rec.version, rec.payload)
            assert isinstance(event, ev.GuardEvaluated)
            stored = msgspec.json.decode(rec.payload)
            assert (event.guard, event.phase, event.mode, event.verdict) == (
                stored["guard"],
                stored["phase"],
                stored["mode"],
                stored["verdict"],
            )
            result = msgspec.to_builtins(event.result)
            for key in ("measurements", "outcome", "checks"):
                if key in result:
                    assert canonical_bytes(result[key]) == canonical_bytes(stored[key]), (run_id, rec.seq, key)
            seen += 1
    assert seen >= 9
