"""A stream holding an event version a newer release writes (run_completed.v2, the chain intact) was listed as
TAMPERED, 'the event store was altered' (the event-store hunt), though the doctor already told it apart (D910). It
is UNREADABLE now, its message names the version and the release that reads it; a malformed type or version is
still an alteration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.certify import certify_edit
from invarlock.application.replay.audit import tampered_error
from invarlock.application.replay.listing import list_runs
from invarlock.application.replay.replay import replay_certificate
from invarlock.domain.errors import IntegrityError, NewerEvents

from tests.integration.event_forgery import rewrite
from tests.unit.test_baseline_reuse import _request


def _issued_then_retyped(services, tmp_path: Path, type_: str, version: int) -> tuple[DuckDBEventStore, str]:
    db = tmp_path / "events.duckdb"
    store = DuckDBEventStore(db)
    run_id = certify_edit(_request("int8ish"), dataclasses.replace(services, store=store, index=store)).run_id

    def retype(records):
        records[-1] = msgspec.structs.replace(records[-1], type=type_, version=version)
        return records

    rewrite(db, run_id, retype)  # re-linked: the chain is intact
    return DuckDBEventStore(db, read_only=True), run_id


def test_a_run_holding_a_newer_event_version_is_unreadable_not_tampered(services, tmp_path) -> None:
    store, run_id = _issued_then_retyped(services, tmp_path, "run_completed", 2)
    [row] = list_runs(store, store, check_chains=True).runs
    assert row.status == "UNREADABLE" and not row.chain_ok
    assert row.problem == "event run_completed.v2 was written by a newer invarlock release (this one reads " \
        "run_completed up to v1)"  # fmt: skip
    error = tampered_error([row])
    assert error is not None and error.code == "E604" and "newer invarlock release" in error.message
    assert "altered" not in error.hint
    with pytest.raises(NewerEvents):
        replay_certificate(store, run_id)


@pytest.mark.parametrize(("type_", "version"), [("run_completed", 0), ("Run Completed", 1)])
def test_a_malformed_type_or_version_is_still_an_alteration(services, tmp_path, type_: str, version: int) -> None:
    store, _ = _issued_then_retyped(services, tmp_path, type_, version)
    [row] = list_runs(store, store, check_chains=True).runs
    assert row.status == "TAMPERED"
    error = tampered_error([row])
    assert isinstance(error, IntegrityError) and "altered" in error.hint
