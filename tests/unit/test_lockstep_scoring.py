"""Lockstep scoring on the recorded-state fakes: per batch, both models' scores and the paired measures are
appended together; resume records only what is missing; the evidence carries the comparisons in plan
order; the certificate states schema v2 exactly when it uses something added after v1."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.certification.scoring import EVENT_BATCH
from invarlock.application.config import ModelConfig
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import arm_evidence
from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.model import WindowComparison
from invarlock.domain.run import RunState, replay

from tests.fakes.certificates import fake_certificate, resealed
from tests.fakes.models import FakeLoader
from tests.unit.conftest import small_config

SECONDARY_FLAGS = ("kl_divergence_acceptable", "top1_agreement_acceptable")


def _certify(services: Services) -> str:
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    return certify_edit(request, services).run_id


def _state(store: InMemoryEventStore, run_id: str) -> RunState:
    return replay(ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id))


def test_each_batch_appends_both_models_scores_and_the_comparisons_in_one_transaction(
    services: Services, store: InMemoryEventStore
) -> None:
    run_id = _certify(services)
    types = [r.type for r in store.read(run_id)]
    scored = [i for i, t in enumerate(types) if t in ("windows_scored", "windows_compared")]
    triples = [types[i : i + 3] for i in scored[::3]]
    assert triples and all(t == ["windows_scored", "windows_scored", "windows_compared"] for t in triples)
    payloads = [ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)]
    roles = [e.role for e in payloads if isinstance(e, ev.WindowsScored)]
    assert roles[:2] == ["baseline", "subject"]
    assert all(len(e.rows) <= EVENT_BATCH for e in payloads if isinstance(e, ev.WindowsCompared))


def test_the_evidence_carries_one_comparison_per_window_in_plan_order() -> None:
    cert = fake_certificate()
    for arm in (cert.evidence.preview, cert.evidence.final):
        assert arm is not None and arm.comparisons is not None
        assert [m.window_id for m in arm.comparisons] == arm.window_ids
        assert [m.positions for m in arm.comparisons] == arm.tokens_scored
    assert cert.schema_version == "v2"
    assert c.to_bytes(c.from_bytes(c.to_bytes(cert))) == c.to_bytes(cert)


def test_resume_after_one_models_batch_records_only_the_missing_rows(
    services: Services, store: InMemoryEventStore, loader: FakeLoader
) -> None:
    run_id = _certify(services)
    records = store.read(run_id)
    first = next(i for i, r in enumerate(records) if r.type == "windows_scored")
    cut = InMemoryEventStore()
    cut.append(run_id, 0, [ev.decode_event(r.type, r.version, r.payload) for r in records[: first + 1]])
    loader.instances.clear()
    resume_run(run_id, dataclasses.replace(services, store=cut))

    added = [ev.decode_event(r.type, r.version, r.payload) for r in cut.read(run_id)[first + 1 : first + 3]]
    assert [type(e).__name__ for e in added] == ["WindowsScored", "WindowsCompared"]
    assert isinstance(added[0], ev.WindowsScored) and added[0].role == "subject"
    full, resumed = _state(store, run_id), _state(cut, run_id)
    for arm in ("preview", "final"):
        assert resumed.compared(arm) == full.compared(arm)
        assert all(resumed.scored(r, arm) == full.scored(r, arm) for r in ("baseline", "subject"))
    planned = sum(len(full.scored("baseline", arm)) for arm in ("preview", "final"))
    assert sum(len(m.scored) for m in loader.instances) == 2 * planned  # the cut batch re-scored by both


def _tamper_compared(state: RunState, arm: str, **changes: object) -> RunState:
    compared = dict(state.compared(arm))
    wid = next(iter(compared))
    compared[wid] = msgspec.structs.replace(compared[wid], **changes)
    return msgspec.structs.replace(state, comparisons={**state.comparisons, arm: compared})


def test_a_comparison_on_other_tokens_than_planned_is_an_integrity_error(
    services: Services, store: InMemoryEventStore
) -> None:
    state = _state(store, _certify(services))
    with pytest.raises(IntegrityError) as caught:
        arm_evidence(_tamper_compared(state, "preview", digest="0" * 64), "preview")
    assert caught.value.code == "E001"


def test_a_comparison_of_an_unplanned_window_is_an_integrity_error(
    services: Services, store: InMemoryEventStore
) -> None:
    state = _state(store, _certify(services))
    stray = ev.ComparedRow(digest="0" * 64, comparison=WindowComparison(window_id=10**6, positions=3))
    merged = {**state.compared("preview"), 10**6: stray}
    with pytest.raises(IntegrityError) as caught:
        arm_evidence(msgspec.structs.replace(state, comparisons={**state.comparisons, "preview": merged}), "preview")
    assert caught.value.code == "E604"


def test_an_arm_with_comparisons_and_no_scores_takes_its_tokens_from_the_positions(
    services: Services, store: InMemoryEventStore
) -> None:
    state = _state(store, _certify(services))
    bare = msgspec.structs.replace(state, scores={})
    rows = arm_evidence(bare, "preview")
    assert rows is not None and rows.baseline_nll is None and rows.subject_nll is None and rows.comparisons
    assert rows.tokens_scored == [m.positions for m in rows.comparisons]
    assert arm_evidence(msgspec.structs.replace(bare, comparisons={}), "preview") is None


def test_a_certificate_states_the_schema_version_its_content_needs() -> None:
    cert = fake_certificate()
    assert cert.schema_version == "v2"
    v1 = _without_comparisons(cert)
    assert c.schema_version_of(v1) == "v1"
    for wrong in (resealed(cert, schema_version="v1"), resealed(v1, schema_version="v2")):
        with pytest.raises(UsageError) as caught:
            c.from_bytes(c.to_bytes(wrong))
        assert caught.value.code == "E601" and "schema_version" in caught.value.message
    with pytest.raises(UsageError):
        c.from_bytes(c.to_bytes(resealed(cert, schema_version="v3")))


def _without_comparisons(cert: c.Certificate) -> c.Certificate:
    ev_ = cert.evidence
    final = ev_.final and msgspec.structs.replace(ev_.final, comparisons=None)
    evidence = msgspec.structs.replace(ev_, preview=msgspec.structs.replace(ev_.preview, comparisons=None), final=final)
    validation = {k: v for k, v in cert.validation.items() if k not in SECONDARY_FLAGS}
    return resealed(cert, evidence=evidence, secondary_metrics=None, validation=validation, schema_version="v1")
