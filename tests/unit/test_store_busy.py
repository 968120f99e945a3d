"""A run whose event store stays locked by another process past its wait (a long `audit --sql` query, the
event-store hunt) was recorded as failed (run_failed E505) once the lock was released, and could never be
resumed (E406). The store being busy is the machine's state, not the run's fault: nothing is recorded, and the
hint names the run to resume, as for a full disk."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import certify_edit, resume_run
from invarlock.domain import events as ev
from invarlock.domain.errors import ResourceShortage, UsageError

from tests.unit.test_baseline_reuse import _request


class _LockedOnce:
    """The store it wraps, except that the first append of a `windows_scored` event finds it locked (E505)."""

    def __init__(self, store: InMemoryEventStore) -> None:
        self._store, self.locked = store, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def append(self, run_id: str, expected_seq: int, events: list[ev.Event]) -> list[ev.RecordedEvent]:
        if not self.locked and any(isinstance(e, ev.WindowsScored) for e in events):
            self.locked = True
            raise UsageError("E505", "event store runs/x.duckdb is locked by another process", "wait for it")
        return self._store.append(run_id, expected_seq, events)


def test_a_store_locked_past_the_wait_stops_the_run_unrecorded_and_resumable(services) -> None:
    store = InMemoryEventStore()
    locked = _LockedOnce(store)
    with pytest.raises(ResourceShortage) as stopped:
        certify_edit(_request("int8ish"), dataclasses.replace(services, store=locked, index=store))
    [run_id] = store.run_ids()
    assert stopped.value.code == "E505" and f"invarlock certify --resume {run_id}" in stopped.value.hint
    assert "run_failed" not in [r.type for r in store.read(run_id)]
    resumed = resume_run(run_id, dataclasses.replace(services, store=store, index=store))
    assert resumed.certificate.verdict.status == "PASS"
