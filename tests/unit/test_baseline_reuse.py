"""Baseline score reuse on the fake models and a real DuckDB file: what is copied, what prevents a copy, and
verify --events checking the link to the source run (forged links fail)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.baseline_reuse import LOADING_REASON, PAIRS_REASON, RUNTIME_REASON
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.config import ModelConfig, SecondaryConfig
from invarlock.application.replay.replay import event_findings, replay_certificate
from invarlock.application.replay.timeline import timeline
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain import guard_reuse
from invarlock.domain.errors import IntegrityError
from invarlock.domain.model import LoadOptions

from tests.fakes.killing_store import KillingStore
from tests.integration.event_forgery import Records, decoded, relink, rewrite, with_event
from tests.unit.conftest import small_config


@pytest.fixture
def svc(services: Services, tmp_path: Path) -> Services:
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    return dataclasses.replace(services, store=store, index=store)


def _request(subject: str, *, measure: bool = False, reuse: bool | None = None, seq_len: int = 32) -> CertifyRequest:
    cfg = small_config()
    evaluation = msgspec.structs.replace
    cfg = evaluation(
        cfg,
        eval=evaluation(cfg.eval, secondary=SecondaryConfig(measure=None if measure else False), reuse=reuse),
        dataset=evaluation(cfg.dataset, seq_len=seq_len),
    )
    return CertifyRequest("certify", cfg, ModelConfig(id=subject), tier="balanced", profile="dev")


def _types(svc: Services, run_id: str) -> list[str]:
    return [r.type for r in svc.store.read(run_id)]


def _evidence(cert: c.Certificate) -> bytes:
    return msgspec.json.encode(cert.evidence)


def test_second_subject_copies_the_baseline_scores_and_its_evidence_equals_a_fresh_runs(svc: Services) -> None:
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    fresh = certify_edit(_request("same", reuse=False), svc)
    records = svc.store.read(second.run_id)
    links = [decoded(r) for r in records if r.type == "baseline_reused"]
    assert [(e.arm, e.source_run_id) for e in links] == [("preview", first.run_id), ("final", first.run_id)]
    source = {r.seq: r for r in svc.store.read(first.run_id)}
    copied = [r for r in records if r.type == "windows_scored" and decoded(r).role == "baseline"]
    assert [r.payload for r in copied] == [source[ref.seq].payload for e in links for ref in e.source_events]
    assert _evidence(second.certificate) == _evidence(fresh.certificate)
    assert "baseline_reused" not in _types(svc, fresh.run_id)
    scoring = second.certificate.provenance.baseline_scoring
    assert scoring is not None and all(s.reused and s.source_run_id == first.run_id for s in scoring)
    assert fresh.certificate.provenance.baseline_scoring is None
    assert c.to_bytes(replay_certificate(svc.store, second.run_id)) == c.to_bytes(second.certificate)
    assert [(name, f.ok) for name, f in event_findings(second.certificate, svc.store)] == [
        ("events", True),
        ("baseline_source", True),
        ("guard_baseline_source", True),
    ]


def test_scores_ray_actors_computed_are_no_source(svc: Services, loader) -> None:  # type: ignore[no-untyped-def]
    """Each actor scores on its own host, which the scoring key (the driver's environment and device) does not
    describe: an in-process run copied a Ray run's baseline scores (the execution hunt)."""
    from invarlock.application.config_execution import ExecutionConfig

    from tests.unit.test_execution import _with_pools

    pooled_svc, _ = _with_pools(svc, loader)
    request = _request("int8ish")
    ray = ExecutionConfig(backend="ray", address="local", actors=2)
    pooled = certify_edit(
        dataclasses.replace(request, config=msgspec.structs.replace(request.config, execution=ray)), pooled_svc
    )
    assert "windows_scored" in _types(svc, pooled.run_id)
    local = certify_edit(_request("same"), svc)
    assert "baseline_reused" not in _types(svc, local.run_id)
    later = certify_edit(_request("int8ish"), svc)
    links = [decoded(r) for r in svc.store.read(later.run_id) if r.type == "baseline_reused"]
    assert {e.source_run_id for e in links} == {local.run_id}


def test_a_reused_run_is_no_source_its_original_is(svc: Services) -> None:
    first = certify_edit(_request("int8ish"), svc)
    certify_edit(_request("same"), svc)
    third = certify_edit(_request("int8ish"), svc)
    scoring = third.certificate.provenance.baseline_scoring
    assert scoring is not None and {s.source_run_id for s in scoring} == {first.run_id}, "since 0.3.10"
    assert all(f.ok for _, f in event_findings(third.certificate, svc.store))


@pytest.mark.parametrize("change", ["seq_len", "environment", "tool_version"])
def test_any_change_of_the_scoring_key_prevents_reuse(svc: Services, change: str) -> None:
    certify_edit(_request("int8ish"), svc)
    request, later = _request("same"), svc
    if change == "seq_len":
        request = _request("same", seq_len=24)
    elif change == "environment":
        later = dataclasses.replace(svc, environment=lambda: {"python": "test", "torch_threads": "3"})
    else:
        later = dataclasses.replace(svc, tool_version="0.0.other")
    second = certify_edit(request, later)
    assert not {"baseline_reused", "baseline_rescored"} & set(_types(svc, second.run_id))
    assert second.certificate.provenance.baseline_scoring is None


def test_measuring_kl_rescores_the_baseline_and_the_certificate_says_why(svc: Services) -> None:
    first = certify_edit(_request("int8ish", measure=True), svc)
    second = certify_edit(_request("same", measure=True), svc)
    scoring = second.certificate.provenance.baseline_scoring
    assert scoring is not None
    assert [(s.arm, s.reused, s.source_run_id, s.reason) for s in scoring] == [
        ("preview", False, first.run_id, PAIRS_REASON),
        ("final", False, first.run_id, PAIRS_REASON),
    ]
    assert second.certificate.secondary_metrics is not None
    assert "baseline_reused" not in _types(svc, second.run_id)


def test_a_subject_loaded_otherwise_rescores_the_baseline(svc: Services) -> None:
    certify_edit(_request("int8ish"), svc)
    request = _request("same")
    request = dataclasses.replace(request, subject=ModelConfig(id="same", dtype="bfloat16"))
    loader = svc.loader
    original = loader.load

    def load(ref: str, options: LoadOptions):  # type: ignore[no-untyped-def]
        model = original(ref, options)
        if options.dtype == "bfloat16":
            identity = model.identity()
            model.identity = lambda: msgspec.structs.replace(identity, dtype="bfloat16")  # type: ignore[method-assign]
        return model

    loader.load = load  # type: ignore[method-assign]
    second = certify_edit(request, svc)
    scoring = second.certificate.provenance.baseline_scoring
    assert scoring is not None and {s.reason for s in scoring} == {LOADING_REASON}


def test_a_baseline_run_by_another_runtime_is_scored_again_and_the_certificate_says_why(svc: Services) -> None:
    """An ONNX model's identity digests its initializers, not its graph: a graph rewritten in place over the same
    weights (Sigmoid to Tanh) kept its scoring key, and the second certificate copied the first graph's scores:
    PASS at a stated perplexity of 59.6 for a baseline at 635 million (found by the real-checkpoint hunt)."""
    original = svc.loader.load

    def on_onnxruntime(ref: str, options: LoadOptions):  # type: ignore[no-untyped-def]
        model, runtime = original(ref, options), "onnxruntime 1.32.0 CPUExecutionProvider"
        identity = model.identity()
        model.identity = lambda: msgspec.structs.replace(identity, runtime=runtime)  # type: ignore[method-assign]
        return model

    svc.loader.load = on_onnxruntime  # type: ignore[method-assign]
    certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("int8ish"), svc).certificate
    scoring = second.provenance.baseline_scoring
    assert scoring is not None and {s.reused for s in scoring} == {False}
    assert {s.reason for s in scoring} == {RUNTIME_REASON.format(runtime="onnxruntime 1.32.0 CPUExecutionProvider")}


def test_a_killed_reused_run_resumes_scoring_only_the_subject(svc: Services) -> None:
    certify_edit(_request("int8ish"), svc)
    final_copy = KillingStore(
        svc.store, lambda events: any(isinstance(e, ev.BaselineReused) and e.arm == "final" for e in events)
    )
    killed = final_copy.killed
    with pytest.raises(KeyboardInterrupt):
        certify_edit(_request("same"), dataclasses.replace(svc, store=final_copy))  # type: ignore[arg-type]
    resumed = resume_run(killed[0], svc)
    fresh = certify_edit(_request("same", reuse=False), svc)
    assert _types(svc, killed[0]).count("baseline_reused") == 2
    assert _evidence(resumed.certificate) == _evidence(fresh.certificate)
    assert all(f.ok for _, f in event_findings(resumed.certificate, svc.store))


def _forge_source_scores(records: Records) -> Records:
    """Raise the first baseline NLL of the source by 1 % and re-link the chain (a valid, different stream)."""
    at = next(i for i, r in enumerate(records) if r.type == "windows_scored" and decoded(r).role == "baseline")
    scored = decoded(records[at])
    assert isinstance(scored, ev.WindowsScored)
    row = msgspec.structs.replace(scored.rows[0], nll_sum=scored.rows[0].nll_sum * 1.01)
    records[at] = with_event(records[at], msgspec.structs.replace(scored, rows=[row, *scored.rows[1:]]))
    return relink(records)


def test_a_forged_source_fails_the_link_check(svc: Services, tmp_path: Path) -> None:
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    rewrite(tmp_path / "events.duckdb", first.run_id, _forge_source_scores, link=False)
    findings = dict(event_findings(second.certificate, DuckDBEventStore(tmp_path / "events.duckdb", read_only=True)))
    assert findings["events"].ok
    assert not findings["baseline_source"].ok and findings["baseline_source"].integrity
    assert "no longer has hash" in findings["baseline_source"].detail
    _replay_and_events_fail(tmp_path / "events.duckdb", second.run_id, "baseline_source: ")


def _replay_and_events_fail(db: Path, run_id: str, named: str) -> None:
    """replay and events check a run's links to other runs as verify --events does (they once passed it)."""
    store = DuckDBEventStore(db, read_only=True)
    with pytest.raises(IntegrityError) as caught:
        replay_certificate(store, run_id)
    assert caught.value.code == "E603" and caught.value.message.startswith(f"run {run_id}: {named}")
    assert timeline(store, run_id)[1] == [caught.value.message.removeprefix(f"run {run_id}: ")]


def _guard_results(svc: Services, run_id: str) -> list[object]:
    return [decoded(r).result for r in svc.store.read(run_id) if r.type == "guard_evaluated"]


def test_the_weight_guards_read_the_baseline_measurements_of_an_earlier_run(svc: Services) -> None:
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("int8ish"), svc)
    fresh = certify_edit(_request("int8ish", reuse=False), svc)
    links = [decoded(r) for r in svc.store.read(second.run_id) if r.type == "guard_baseline_reused"]
    assert [e.source_run_id for e in links] == [first.run_id]
    source_types = {r.seq: r.type for r in svc.store.read(first.run_id)}
    assert {source_types[ref.seq] for ref in links[0].source_events} == {"guard_evaluated"}
    assert _guard_results(svc, second.run_id) == _guard_results(svc, fresh.run_id)
    guard_baseline = second.certificate.provenance.guard_baseline
    assert guard_baseline is not None and guard_baseline.source_run_id == first.run_id
    assert fresh.certificate.provenance.guard_baseline is None
    findings = dict(event_findings(second.certificate, svc.store))
    assert findings["guard_baseline_source"].ok, findings["guard_baseline_source"].detail


def test_measurements_of_an_earlier_release_are_not_reused_but_its_links_still_verify(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert guard_reuse.KEY_VERSION == 4  # 3: a pinned BLAS thread count; 4: Gram matrices summed by row blocks
    monkeypatch.setattr(guard_reuse, "KEY_VERSION", 2)  # a release that measured with the default threads
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("int8ish"), svc)
    monkeypatch.undo()
    pinned = dataclasses.replace(svc, environment=lambda: {"python": "test", "guard_blas_threads": "1"})
    third = certify_edit(_request("int8ish"), pinned)
    links = [decoded(r) for r in svc.store.read(second.run_id) if r.type == "guard_baseline_reused"]
    assert [e.source_run_id for e in links] == [first.run_id]
    assert "guard_baseline_reused" not in _types(svc, third.run_id)
    assert _guard_results(svc, third.run_id) == _guard_results(svc, second.run_id)
    findings = dict(event_findings(second.certificate, svc.store))
    assert findings["guard_baseline_source"].ok, findings["guard_baseline_source"].detail


def test_the_guard_key_covers_the_guards_blas_thread_count(svc: Services) -> None:
    pinned = dataclasses.replace(svc, environment=lambda: {"python": "test", "guard_blas_threads": "1"})
    first = certify_edit(_request("int8ish"), pinned)
    other = dataclasses.replace(svc, environment=lambda: {"python": "test", "guard_blas_threads": "2"})
    assert "guard_baseline_reused" not in _types(svc, certify_edit(_request("int8ish"), other).run_id)
    guard_baseline = certify_edit(_request("int8ish"), pinned).certificate.provenance.guard_baseline
    assert guard_baseline is not None and guard_baseline.source_run_id == first.run_id


def _forge_source_sigma(records: Records) -> Records:
    """Scale the first baseline σ_max the source's spectral record states (`rewrite` re-links the stream, a valid
    other one, or keeps every stored hash)."""
    at = next(i for i, r in enumerate(records) if r.type == "guard_evaluated" and decoded(r).guard == "spectral")
    event = decoded(records[at])
    assert isinstance(event, ev.GuardEvaluated)
    measured = event.result.measurements  # type: ignore[union-attr]
    row = msgspec.structs.replace(measured.matrices[0], sigma_baseline=measured.matrices[0].sigma_baseline * 1.01)
    forged_measured = msgspec.structs.replace(measured, matrices=[row, *measured.matrices[1:]])
    forged = msgspec.structs.replace(event, result=msgspec.structs.replace(event.result, measurements=forged_measured))
    records[at] = with_event(records[at], forged)
    return records


def test_a_forged_guard_source_fails_the_link_check(svc: Services, tmp_path: Path) -> None:
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("int8ish"), svc)
    rewrite(tmp_path / "events.duckdb", first.run_id, _forge_source_sigma)
    findings = dict(event_findings(second.certificate, DuckDBEventStore(tmp_path / "events.duckdb", read_only=True)))
    assert not findings["guard_baseline_source"].ok and findings["guard_baseline_source"].integrity
    assert "no longer has hash" in findings["guard_baseline_source"].detail
    _replay_and_events_fail(tmp_path / "events.duckdb", second.run_id, "")  # the relinked source moved every hash


def test_a_deleted_source_fails_replay_and_events_of_the_run_that_copied_it(svc: Services, tmp_path: Path) -> None:
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    with duckdb.connect(str(tmp_path / "events.duckdb")) as con:
        con.execute("DELETE FROM events WHERE run_id = ?", [first.run_id])
        con.execute("DELETE FROM run_index WHERE run_id = ?", [first.run_id])
    _replay_and_events_fail(tmp_path / "events.duckdb", second.run_id, "baseline_source: ")


def test_the_summary_names_the_source_run_or_why_the_baseline_was_rescored() -> None:
    from invarlock.cli.commands_run import _baseline_lines

    ref = [ev.EventRef(seq=5, hash="ab" * 32)]
    reused = [
        c.BaselineScoring(arm=a, source_run_id="r0", reused=True, scoring_key="k", source_events=ref)
        for a in ("preview", "final")
    ]
    rescored = [c.BaselineScoring(arm="preview", source_run_id="r0", reused=False, reason=PAIRS_REASON)]
    assert _baseline_lines(reused) == ["  baseline scores (preview/final) reused from run r0"]
    [note] = _baseline_lines(rescored)
    assert note.startswith("  NOTE: baseline re-scored (preview)") and PAIRS_REASON in note


@pytest.mark.parametrize("relinked", [True, False], ids=["re-linked", "edited in place, hashes kept"])
def test_a_resumed_run_whose_guard_source_was_altered_stops(svc: Services, tmp_path: Path, relinked: bool) -> None:
    """Edited in place, the resume copied the forged σ into its certificate (signed, with --sign-key); re-linked, it
    measured the baseline again yet kept the link naming the source's old events. Both are E605 now."""
    first = certify_edit(_request("int8ish"), svc)
    after_link = KillingStore(svc.store, lambda events: any(isinstance(e, ev.GuardBaselineReused) for e in events))
    with pytest.raises(KeyboardInterrupt):
        certify_edit(_request("int8ish"), dataclasses.replace(svc, store=after_link))  # type: ignore[arg-type]
    [killed] = after_link.killed
    rewrite(tmp_path / "events.duckdb", first.run_id, _forge_source_sigma, link=relinked)
    recorded = len(svc.store.read(killed))
    with pytest.raises(IntegrityError) as raised:
        resume_run(killed, svc)
    assert raised.value.code == "E605" and f"its guard baseline source, run {first.run_id}" in raised.value.message
    assert [r.type for r in svc.store.read(killed)[recorded:]] == ["run_failed"]


def test_a_source_whose_run_index_row_was_removed_lends_nothing(svc: Services, tmp_path: Path) -> None:
    """A stream with no index entry was taken as an earlier release's and lent its scores: removing the row skipped
    the check that the stream still ends where it was appended (the chain forger's hunt)."""
    first = certify_edit(_request("int8ish"), svc)
    with duckdb.connect(str(tmp_path / "events.duckdb")) as con:
        con.execute("DELETE FROM run_index WHERE run_id = ?", [first.run_id])
    second = certify_edit(_request("same"), svc)
    assert "baseline_reused" not in _types(svc, second.run_id) and "guard_baseline_reused" not in _types(
        svc, second.run_id
    )
    assert second.certificate.provenance.baseline_scoring is None
