"""The re-execution audit's own stream is appended whole when the audit ends: an audit stopped by Ctrl-C or an
unforeseen error leaves nothing in the store (it left a stream with no reexecution_finished, its guard events
recorded), and the runs already recorded stay as they were; a store that does not take the finished audit's
stream (locked by another process) leaves its findings standing, with the reason."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.verification import reexecute
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.events import Event, RecordedEvent

from tests.unit.conftest import small_config
from tests.unit.test_reexecution_audit import _audit


@pytest.fixture
def certified(services: Any) -> c.Certificate:
    config = small_config()
    subject = config.model.__class__(id="int8ish")
    return certify_edit(CertifyRequest("certify", config, subject, "balanced", "dev"), services).certificate


@pytest.mark.parametrize("stop", [KeyboardInterrupt, MemoryError])
def test_an_audit_stopped_before_its_end_leaves_no_stream(services, store, certified, monkeypatch, stop) -> None:
    recorded = {run_id: store.read(run_id) for run_id in store.run_ids()}

    def stopped(*args: object) -> None:
        raise stop

    monkeypatch.setattr(reexecute, "score_findings", stopped)  # after the guard steps have recorded events
    with pytest.raises(stop):
        _audit(certified, services, sample=2, store=store)
    assert store.read("audit-1") == []
    assert {run_id: store.read(run_id) for run_id in store.run_ids()} == recorded


def test_a_finished_audit_the_store_does_not_take_keeps_its_findings_and_says_why(services, certified) -> None:
    """A store locked by another process when the audit ends: the error ended the command and every finding of
    the audit that had run was lost with it."""

    class Locked(InMemoryEventStore):
        def append(self, run_id: str, expected_seq: int, events: Sequence[Event]) -> list[RecordedEvent]:
            raise UsageError("E505", "event store ev.duckdb is locked by another process", "wait for it")

    outcome = _audit(certified, services, sample=2, store=Locked())
    assert outcome.ok and outcome.unrecorded is not None and outcome.unrecorded.code == "E505"
    assert {"reexec:subject_model", "reexec:scores:final"} <= {name for name, _, _ in outcome.findings}


def test_an_audit_stopped_by_a_usage_error_is_recorded_whole_with_its_outcome(services, store, certified) -> None:
    class Unreadable:
        def open(self, *args: object, **kwargs: object) -> None:
            raise UsageError("E301", "corpus file corpus.txt does not exist", "check the path")

    with pytest.raises(UsageError):
        _audit(certified, dataclasses.replace(services, corpora=Unreadable()), sample=2, store=store)
    records = store.read("audit-1")
    assert [r.type for r in records] == ["reexecution_started", "reexecution_finished"]
    assert b"the audit stopped: the certificate's dataset" in records[-1].payload


def test_a_read_only_store_is_refused_before_any_model_loads_and_left_as_it_was(services, tmp_path) -> None:
    """The audit appends its stream when it ends: a store it cannot write is E502 before the models load (after
    them, the first append said so with the hint 'make it writable or use --events', which --events was)."""
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    from tests.fakes.cli import run_cli

    db = tmp_path / "events.duckdb"
    store = DuckDBEventStore(db)
    request = CertifyRequest("certify", small_config(), small_config().model.__class__(id="int8ish"), "balanced", "dev")
    cert = tmp_path / "cert.json"
    cert.write_bytes(
        c.to_bytes(certify_edit(request, dataclasses.replace(services, store=store, index=store)).certificate)
    )
    db.chmod(0o444)
    before = db.read_bytes()
    code, _, err = run_cli("verify", cert, "--events", db, "--baseline", "no/such/model", "--subject", "none")
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E502] event store {db} is read-only"), err
    assert "audit without --events" in err and db.read_bytes() == before
