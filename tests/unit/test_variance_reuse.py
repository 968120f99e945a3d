"""Variance guard baseline reuse on the fake models and a real DuckDB file: the second run of a baseline taps
only the subject, its variance record equals a --no-reuse run's, verify --events checks the link, a forged
source fails it, and a resumed run reads its recorded source again."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.certify import CertifyOutcome, CertifyRequest, certify_edit, resume_run
from invarlock.application.config import EditConfig, ModelConfig, SecondaryConfig
from invarlock.application.replay.replay import event_findings, replay_certificate
from invarlock.application.replay.variance_link import variance_findings
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError
from invarlock.domain.guards.results import VarianceResult
from invarlock.domain.run import replay

from tests.fakes.killing_store import KillingStore
from tests.integration.event_forgery import Records, decoded, retimed_last, rewrite, with_event
from tests.unit.conftest import small_config


@pytest.fixture
def svc(services: Services, tmp_path: Path) -> Services:
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    return dataclasses.replace(services, store=store, index=store)


def _request(factor: float, *, reuse: bool | None = None) -> CertifyRequest:
    """`invarlock run` on the fake with FFN taps: the baseline with one FFN down-projection scaled by `factor`."""
    edit = EditConfig(name="fake_weight", plan={"weight": "ffn.2.down", "factor": factor})
    cfg = msgspec.structs.replace(small_config(edit), model=ModelConfig(id="ve_base"))
    r = msgspec.structs.replace
    cfg = r(cfg, eval=r(cfg.eval, secondary=SecondaryConfig(measure=False), reuse=reuse))
    return CertifyRequest("run", cfg, None, tier="balanced", profile="dev")


def _tapped(svc: Services, request: CertifyRequest) -> tuple[CertifyOutcome, int]:
    """The run's outcome and how many of its models were tapped on the calibration arm."""
    before = len(svc.loader.instances)
    outcome = certify_edit(request, svc)
    return outcome, sum(bool(m.tapped) for m in svc.loader.instances[before:])


def _variance_result(svc: Services, run_id: str) -> VarianceResult:
    [event] = [
        e for r in svc.store.read(run_id) if isinstance(e := decoded(r), ev.GuardEvaluated) and e.guard == "variance"
    ]
    assert isinstance(event.result, VarianceResult)
    assert event.result.measurements.taps, "the variance guard tapped nothing: the test would prove nothing"
    return event.result


def _variance(svc: Services, run_id: str) -> bytes:
    """The variance record's result (what it measured and decided; `seconds` is the clock's)."""
    return msgspec.json.encode(_variance_result(svc, run_id))


def _baseline_taps(svc: Services, run_id: str) -> list[object]:
    result = msgspec.json.decode(_variance(svc, run_id))
    return [tap["baseline"] for tap in result["measurements"]["taps"]]


def _links(svc: Services, run_id: str) -> list[ev.VarianceBaselineReused]:
    return [e for r in svc.store.read(run_id) if isinstance(e := decoded(r), ev.VarianceBaselineReused)]


def _but_provenance(cert: c.Certificate) -> object:
    """The certificate less its run's identity (run id, time, schema version, digest), its provenance and the
    guards' `seconds` (the clock's)."""
    data = msgspec.to_builtins(cert)
    for name in ("run_id", "issued_at", "schema_version", "provenance", "digest", "signature"):
        data.pop(name, None)
    return _untimed(data)


def _untimed(data: object) -> object:
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items() if k != "seconds"}
    return [_untimed(v) for v in data] if isinstance(data, list) else data


def _killed_after_link(svc: Services, request: CertifyRequest) -> str:
    """The run id of `request` killed (KeyboardInterrupt) right after it recorded its variance link."""
    after_link = KillingStore(svc.store, lambda events: any(isinstance(e, ev.VarianceBaselineReused) for e in events))
    with pytest.raises(KeyboardInterrupt):
        certify_edit(request, dataclasses.replace(svc, store=after_link))  # type: ignore[arg-type]
    return after_link.killed[0]


def test_the_second_run_taps_only_the_subject_and_decides_as_a_fresh_run(svc: Services) -> None:
    first, tapped_first = _tapped(svc, _request(0.9))
    second, tapped_second = _tapped(svc, _request(0.8))
    fresh, tapped_fresh = _tapped(svc, _request(0.8, reuse=False))
    assert (tapped_first, tapped_second, tapped_fresh) == (2, 1, 2)
    [link] = _links(svc, second.run_id)
    assert link.source_run_id == first.run_id
    source = {r.seq: r for r in svc.store.read(first.run_id)}
    assert [source[ref.seq].type for ref in link.source_events] == ["guard_evaluated"]
    assert _variance(svc, second.run_id) == _variance(svc, fresh.run_id) != _variance(svc, first.run_id)
    assert _baseline_taps(svc, second.run_id) == _baseline_taps(svc, first.run_id)
    assert _but_provenance(second.certificate) == _but_provenance(fresh.certificate)
    assert not _links(svc, fresh.run_id) and fresh.certificate.provenance.variance_baseline is None
    stated = second.certificate.provenance.variance_baseline
    assert stated is not None and stated.source_run_id == first.run_id and stated.scoring_key == link.scoring_key
    assert c.to_bytes(replay_certificate(svc.store, second.run_id)) == c.to_bytes(second.certificate)
    findings = dict(event_findings(second.certificate, svc.store))
    assert findings["variance_baseline_source"].ok, findings["variance_baseline_source"].detail


def test_a_killed_run_resumes_with_its_recorded_source_tapping_only_the_subject(svc: Services) -> None:
    first = certify_edit(_request(0.9), svc)
    killed = _killed_after_link(svc, _request(0.8))
    before = len(svc.loader.instances)
    resumed = resume_run(killed, svc)
    assert sum(bool(m.tapped) for m in svc.loader.instances[before:]) == 1
    [link] = _links(svc, resumed.run_id)
    assert link.source_run_id == first.run_id
    fresh = certify_edit(_request(0.8, reuse=False), svc)
    assert _variance(svc, resumed.run_id) == _variance(svc, fresh.run_id)
    assert all(f.ok for _, f in event_findings(resumed.certificate, svc.store))


@pytest.mark.parametrize("relinked", [True, False], ids=["re-linked", "edited in place, hashes kept"])
def test_a_resumed_run_whose_recorded_source_was_altered_stops_instead_of_tapping_afresh(
    svc: Services, tmp_path: Path, relinked: bool
) -> None:
    """Edited in place, the source's event kept the hash the link names: the resume copied the forged statistics
    into its certificate (and signed them, with --sign-key) until it checked the source as a new lookup does."""
    first = certify_edit(_request(0.9), svc)
    killed = _killed_after_link(svc, _request(0.8))
    rewrite(tmp_path / "events.duckdb", first.run_id, _forge_source_tap, link=relinked)
    recorded = len(svc.store.read(killed))
    with pytest.raises(IntegrityError) as raised:
        resume_run(killed, svc)
    assert raised.value.code == "E605" and first.run_id in str(raised.value)
    assert len(svc.store.read(killed)) == recorded + 1  # only run_failed was added
    assert svc.store.read(killed)[-1].type == "run_failed"


def _forge_source_tap(records: Records) -> Records:
    """Raise the first baseline sum of squares the source's variance record states by 1 % (`rewrite` re-links the
    stream, a valid other one, or keeps every stored hash)."""
    at = next(i for i, r in enumerate(records) if r.type == "guard_evaluated" and decoded(r).guard == "variance")
    event = decoded(records[at])
    assert isinstance(event, ev.GuardEvaluated) and isinstance(event.result, VarianceResult)
    measured = event.result.measurements
    tap = measured.taps[0]
    forged_tap = msgspec.structs.replace(
        tap, baseline=msgspec.structs.replace(tap.baseline, sum_sq=tap.baseline.sum_sq * 1.01)
    )
    forged = msgspec.structs.replace(measured, taps=[forged_tap, *measured.taps[1:]])
    records[at] = with_event(
        records[at], msgspec.structs.replace(event, result=msgspec.structs.replace(event.result, measurements=forged))
    )
    return records


def _pointing_at(source: Records) -> Callable[[Records], Records]:
    """Re-point the run's variance link at the (forged) source's variance record, hash and all."""
    at = next(r for r in source if r.type == "guard_evaluated" and decoded(r).guard == "variance")

    def edit(records: Records) -> Records:
        i = next(i for i, r in enumerate(records) if r.type == "variance_baseline_reused")
        link = decoded(records[i])
        assert isinstance(link, ev.VarianceBaselineReused)
        ref = ev.EventRef(seq=at.seq, hash=at.hash)
        records[i] = with_event(records[i], msgspec.structs.replace(link, source_events=[ref]))
        return records

    return edit


def test_a_forged_variance_source_fails_the_link_check(svc: Services, tmp_path: Path) -> None:
    first = certify_edit(_request(0.9), svc)
    second = certify_edit(_request(0.8), svc)
    db = tmp_path / "events.duckdb"
    rewrite(db, first.run_id, _forge_source_tap)
    finding = dict(event_findings(second.certificate, DuckDBEventStore(db, read_only=True)))["variance_baseline_source"]
    assert not finding.ok and finding.integrity and "no longer has hash" in finding.detail
    rewrite(db, second.run_id, _pointing_at(DuckDBEventStore(db, read_only=True).read(first.run_id)))
    store = DuckDBEventStore(db, read_only=True)
    state = replay(decoded(r) for r in store.read(second.run_id))  # the link alone: its certificate no longer replays
    [(_, finding)] = variance_findings(store, state)
    # The source rewritten and re-linked no longer rebuilds the certificate it issued: the link refuses it before
    # comparing the statistics it lends (it named the statistic that differs before replay's check was applied).
    assert not finding.ok and "which fails replay's check: replayed certificate digest" in finding.detail


def test_a_source_rewritten_after_it_was_appended_fails_the_link_against_the_run_index(svc, tmp_path) -> None:
    first = certify_edit(_request(0.9), svc)
    second = certify_edit(_request(0.8), svc)
    db = tmp_path / "events.duckdb"
    rewrite(db, first.run_id, retimed_last)
    store = DuckDBEventStore(db, read_only=True)
    assert dict(event_findings(second.certificate, store))["variance_baseline_source"].ok, "replays on its own"
    finding = dict(event_findings(second.certificate, store, index=store))["variance_baseline_source"]
    assert not finding.ok and f"run {first.run_id} was rewritten after it was recorded" in finding.detail


def test_a_fresh_run_taps_the_baseline_without_scoring_it_and_the_subject_with_its_scores(svc: Services) -> None:
    before = len(svc.loader.instances)
    outcome = certify_edit(_request(0.9, reuse=False), svc)
    baseline, subject = svc.loader.instances[before:]
    calibration = tuple(_variance_result(svc, outcome.run_id).measurements.calibration.window_ids)
    assert baseline.taps_without_scores == baseline.tapped == [calibration]
    assert subject.tapped and not subject.taps_without_scores  # the A/B pass compares the subject's NLLs
    assert _variance_result(svc, outcome.run_id).measurements.ab is not None
