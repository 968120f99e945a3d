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


def test_a_run_copies_from_the_original_not_from_a_copier(svc) -> None:
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    third = certify_edit(_request("int8ish"), svc)
    for run in (second, third):
        links = run.certificate.provenance.baseline_scoring or []
        assert links and {s.source_run_id for s in links} == {first.run_id}, "no chain of copies grows"
    state = check_run(list(svc.store.read(third.run_id))).state
    assert state.guard_source is not None and state.guard_source.source_run_id == first.run_id


def _legacy_chain(svc: Services, monkeypatch: pytest.MonkeyPatch, runs: int) -> list[str]:
    """Runs each copying the one before (as releases before 0.3.10 chose the newest source, copier or not)."""
    from invarlock.application.certification import guard_reuse, reuse_source, variance_reuse

    with monkeypatch.context() as patched:
        patched.setattr(reuse_source, "copied", lambda candidate, arm: False)
        for module in (guard_reuse, variance_reuse):
            patched.setattr(module, "original", lambda candidate: True)
        return [certify_edit(_request("int8ish" if i % 2 else "same"), svc).run_id for i in range(runs)]


def test_verify_events_walks_an_earlier_releases_chain_of_copies_back_to_a_forged_original(
    svc, tmp_path, monkeypatch
) -> None:
    chain = _legacy_chain(svc, monkeypatch, 4)
    store = DuckDBEventStore(tmp_path / "events.duckdb", read_only=True)
    last = check_run(list(store.read(chain[-1])))
    assert {e.source_run_id for e in last.state.baseline_sources} == {chain[-2]}, "a chain, as earlier releases made"
    assert dict(event_findings(last.certificate, store, index=store))["baseline_source"].ok
    del store
    _forge_with_index(tmp_path / "events.duckdb", chain[0])
    store = DuckDBEventStore(tmp_path / "events.duckdb", read_only=True)
    found = dict(event_findings(last.certificate, store, index=store))["baseline_source"]
    assert not found.ok and f"which copied from run {chain[1]} in turn" in found.detail, found.detail
    assert f"run {chain[0]}" in found.detail


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
