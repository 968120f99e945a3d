"""Copied baseline scores are trusted only as far as the whole chain of copies holds (stop 63's reuse hunt): a run
whose own copies no longer match its source lends nothing on, and a copied arm holds no baseline scores but the
copies (a forged run named one source event, copied it, and stated the arm's other windows itself)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.certify import certify_edit
from invarlock.application.replay.replay import check_run, event_findings
from invarlock.application.replay.reuse_link import reuse_findings
from invarlock.application.replay.source_link import AppendedSources
from invarlock.application.services import Services

from tests.integration.event_forgery import rewrite
from tests.unit.test_baseline_reuse import _forge_source_scores, _request


@pytest.fixture
def svc(services: Services, tmp_path: Path) -> Services:
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    return dataclasses.replace(services, store=store, index=store)


def _forge_with_index(db: Path, run_id: str) -> None:
    """The source's first baseline score raised 1 %, re-linked, and the run index made to agree: only what the
    stream's own certificate and the runs that copied from it say tells it."""
    rewrite(db, run_id, _forge_source_scores)
    head = DuckDBEventStore(db, read_only=True).read(run_id)[-1].hash
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE run_index SET head_hash = ? WHERE run_id = ?", [head, run_id])


def _reopened(svc: Services, db: Path) -> Services:
    store = DuckDBEventStore(db)
    return dataclasses.replace(svc, store=store, index=store)


def test_a_run_whose_own_source_was_forged_lends_nothing(svc, tmp_path) -> None:
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    assert second.certificate.provenance.baseline_scoring is not None, "the second copies the first"
    _forge_with_index(tmp_path / "events.duckdb", first.run_id)
    third = certify_edit(_request("int8ish"), _reopened(svc, tmp_path / "events.duckdb"))
    assert third.certificate.provenance.baseline_scoring is None, "neither the forged run nor its copier is a source"


def test_verify_events_fails_a_copy_of_a_copy_whose_first_source_was_forged(svc, tmp_path) -> None:
    certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    third = certify_edit(_request("int8ish"), svc)
    scoring = third.certificate.provenance.baseline_scoring
    assert scoring is not None and {s.source_run_id for s in scoring} == {second.run_id}
    first_id = {s.source_run_id for s in second.certificate.provenance.baseline_scoring or []}.pop()
    _forge_with_index(tmp_path / "events.duckdb", first_id)
    store = DuckDBEventStore(tmp_path / "events.duckdb", read_only=True)
    findings = dict(event_findings(third.certificate, store, index=store))
    detail = findings["baseline_source"].detail
    assert not findings["baseline_source"].ok and f"from run {second.run_id}, whose own source fails" in detail
    assert findings["events"].ok, "the third run's own stream is intact"


def test_a_copied_arm_holding_baseline_scores_besides_the_copies_fails_the_link(svc, tmp_path) -> None:
    certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    records = list(svc.store.read(second.run_id))
    link = next(i for i, r in enumerate(records) if r.type == "baseline_reused")
    copy = records[link + 1]
    assert copy.type == "windows_scored"
    forged = [*records[: link + 2], copy, *records[link + 2 :]]  # one more baseline score of the arm
    state = check_run(list(records)).state
    found = dict(reuse_findings(svc.store, forged, state, AppendedSources(svc.index, svc.store)))
    assert not found["baseline_source"].ok
    assert "holds baseline scores of the arm besides the copies" in found["baseline_source"].detail
    honest = dict(reuse_findings(svc.store, records, state, AppendedSources(svc.index, svc.store)))
    assert honest["baseline_source"].ok, honest["baseline_source"].detail
