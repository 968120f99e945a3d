"""`eval.sequential: true` on the fake models: one model held at a time, the same certificate as a run holding
both (evidence, guards, gates), the baseline released before the subject loads, a killed run resumed, and
every combination that needs both models refused naming the config file (E201)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.baseline_reuse import LOADING_REASON
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.config import (
    EditConfig,
    EvalConfig,
    GuardsConfig,
    ModelConfig,
    RunConfig,
    SecondaryConfig,
    parse_config,
)
from invarlock.application.config_sequential import check_sequential
from invarlock.application.replay.replay import event_findings, replay_certificate
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.model import LoadOptions

from tests.cert_compare import comparable
from tests.fakes.killing_store import KillingStore
from tests.fakes.loaders import ReleasingLoader
from tests.fakes.models import FakeLoader, FakeModel
from tests.unit.conftest import small_config
from tests.unit.test_certify_use_case import MATRIX_MISMATCHES

DOWN = "ffn.2.down"
_VE = ("attn.0", "attn.1", "ffn.0.down", "ffn.1.down", "ffn.2.down", "ffn.3.down")


def _request(
    subject: str | None, *, sequential: bool, base: str = "base", edit: EditConfig | None = None, kl: bool = False
) -> CertifyRequest:
    cfg = small_config(edit)
    cfg = msgspec.structs.replace(
        cfg,
        model=ModelConfig(id=base),
        dataset=msgspec.structs.replace(cfg.dataset, calibration_n=8),
        eval=EvalConfig(secondary=SecondaryConfig(measure=kl), sequential=sequential or None),
    )
    command = "run" if subject is None else "certify"
    return CertifyRequest(command, cfg, None if subject is None else ModelConfig(id=subject), "balanced", "dev")


def _compared(cert: c.Certificate) -> dict[str, Any]:
    return comparable(msgspec.to_builtins(cert))


SHRINK = EditConfig(name="fake_weight", plan={"weight": DOWN, "factor": 0.9})
CASES = {
    "a subject checkpoint": dict(subject="int8ish"),
    "an identical subject": dict(subject="same"),
    "run: an edit the guards repair": dict(subject=None, base="ve_base", edit=SHRINK),
    "a catastrophe rolled back": dict(subject="broken"),
}


@pytest.mark.parametrize("kl", [False, True], ids=["no KL", "KL from the kept reference"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_sequential_run_certifies_what_a_run_holding_both_models_certifies(
    services: Services, case: dict, kl: bool
) -> None:
    both = certify_edit(_request(**case, sequential=False, kl=kl), services)
    one = certify_edit(_request(**case, sequential=True, kl=kl), services)
    assert _compared(one.certificate) == _compared(both.certificate)
    assert (one.certificate.evidence.preview.comparisons is not None) is kl
    assert one.certificate.provenance.config["eval"]["sequential"] is True
    assert "sequential" not in both.certificate.provenance.config["eval"]
    assert c.to_bytes(replay_certificate(services.store, one.run_id)) == c.to_bytes(one.certificate)


def test_the_repairs_and_the_rollback_are_what_the_cases_exercise(services: Services) -> None:
    # the comparisons above would prove little if no case repaired, flagged or rolled back
    repaired = certify_edit(_request(**CASES["run: an edit the guards repair"], sequential=True), services)
    assert repaired.certificate.guard_overhead is not None
    assert repaired.certificate.guard_overhead.repaired_weights == [DOWN]
    rolled_back = certify_edit(_request("broken", sequential=True), services)
    assert rolled_back.certificate.status == "rollback"
    types = [r.type for r in services.store.read(rolled_back.run_id)]
    scored = [
        msgspec.json.decode(r.payload) for r in services.store.read(rolled_back.run_id) if r.type == "windows_scored"
    ]
    assert "rollback_performed" in types and {s["arm"] for s in scored} == {"preview"}


@pytest.mark.parametrize("sequential", [True, False])
def test_the_baseline_is_released_before_the_subject_loads(
    services: Services, loader: FakeLoader, sequential: bool
) -> None:
    releasing = ReleasingLoader(loader.models)
    certify_edit(_request("int8ish", sequential=sequential), dataclasses.replace(services, loader=releasing))
    assert releasing.loaded == ["base", "int8ish"]
    assert releasing.alive_at_load == [[], [] if sequential else ["base"]]


def test_a_run_edits_a_copy_taken_before_the_baseline_is_released(services: Services, loader: FakeLoader) -> None:
    one = certify_edit(_request(None, base="ve_base", edit=SHRINK, sequential=True), services)
    assert loader.loaded == ["ve_base"] and loader.duplicated == ["ve_base"]
    assert one.certificate.edit.name == "fake_weight"


def test_the_baseline_pass_measures_what_the_guards_read_from_it(services: Services, loader: FakeLoader) -> None:
    certify_edit(_request(None, base="ve_base", edit=SHRINK, sequential=True), services)
    baseline = loader.instances[0]
    calibration = 8
    assert baseline.taps_without_scores and len(baseline.taps_without_scores[0]) == calibration
    assert baseline.paired == []  # never scored in lockstep: the subject was never beside it
    assert len(baseline.scored) == len(set(baseline.scored)) == 8 + 12


def test_a_killed_sequential_run_resumes_without_measuring_the_baseline_again(
    services: Services, loader: FakeLoader
) -> None:
    subject_final = KillingStore(
        services.store,
        lambda events: any(isinstance(e, ev.WindowsScored) and (e.role, e.arm) == ("subject", "final") for e in events),
    )
    request = _request("int8ish", sequential=True)
    with pytest.raises(KeyboardInterrupt):
        certify_edit(request, dataclasses.replace(services, store=subject_final))  # type: ignore[arg-type]
    loaded_before = len(loader.instances)
    resumed = resume_run(subject_final.killed[0], services)
    baseline = loader.instances[loaded_before]
    assert baseline.ref == "base" and baseline.scored == [] and baseline.tapped == []
    whole = certify_edit(request, services)
    assert _compared(resumed.certificate) == _compared(whole.certificate)


def _plan(services: Services, run_id: str) -> Any:
    [planned] = [r for r in services.store.read(run_id) if r.type == "windows_planned"]
    return msgspec.json.decode(planned.payload, type=ev.WindowsPlanned).plan


REFUSED = {
    "a comparing kind": (
        {"eval": {"sequential": True, "metric": {"kind": "embedding_cosine"}, "secondary": {"measure": False}}},
        "compares both models' outputs",
    ),
    "ray actors": (
        {"eval": {"sequential": True, "secondary": {"measure": False}}, "execution": {"backend": "ray"}},
        "execution.backend ray",
    ),
}


@pytest.mark.parametrize(("data", "says"), REFUSED.values(), ids=REFUSED.keys())
def test_what_needs_both_models_at_once_is_refused_naming_the_file(data: dict, says: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_config(data, source="cfg.yaml")
    assert err.value.code == "E201" and err.value.hint
    assert err.value.message.startswith("cfg.yaml: eval.sequential cannot hold one model at a time")
    assert says in err.value.one_line()


def test_a_plugin_guard_is_refused_with_sequential() -> None:
    order = ["invariants", "spectral", "my_guard", "invariants"]
    cfg = RunConfig(
        eval=EvalConfig(secondary=SecondaryConfig(measure=False), sequential=True), guards=GuardsConfig(order=order)
    )
    with pytest.raises(UsageError) as err:
        check_sequential(cfg, "cfg.yaml")
    assert err.value.code == "E201" and "guard plugin my_guard reads both models together" in err.value.message


def test_sequential_false_takes_anything_and_reuse_stays_on_with_sequential() -> None:
    held_both = parse_config({"eval": {"sequential": False, "reuse": True}}, source="cfg.yaml")
    held_one = parse_config({"eval": {"sequential": True, "reuse": True, "secondary": {"measure": False}}}, source="x")
    assert held_both.eval.reuses_baseline and held_one.eval.reuses_baseline
    with_kl = parse_config({"eval": {"sequential": True, "secondary": {"gate": True}}}, source="cfg.yaml")
    assert with_kl.eval.sequential and with_kl.eval.measures_pairs


@pytest.mark.parametrize(("subject_weights", "message"), MATRIX_MISMATCHES.values(), ids=MATRIX_MISMATCHES.keys())
def test_matrices_the_subject_lacks_are_named_as_when_both_are_held(
    services: Services, loader: FakeLoader, subject_weights: dict, message: str
) -> None:
    loader.models["other_arch"] = FakeModel(ref="other_arch", weights=subject_weights)
    for sequential in (False, True):
        with pytest.raises(AbortError) as err:
            certify_edit(_request("other_arch", sequential=sequential), services)
        assert err.value.code == "E002" and message in err.value.message


def _reuse_svc(services: Services, tmp_path: Path) -> Services:
    db = DuckDBEventStore(tmp_path / "events.duckdb")
    return dataclasses.replace(services, store=db, index=db)


@pytest.mark.parametrize("first_sequential", [False, True], ids=["after a run holding both", "after a sequential run"])
def test_a_sequential_run_copies_an_earlier_identical_baseline_scoring(
    services: Services, loader: FakeLoader, tmp_path: Path, first_sequential: bool
) -> None:
    svc = _reuse_svc(services, tmp_path)
    first = certify_edit(_request("int8ish", sequential=first_sequential), svc)
    loaded = len(loader.instances)
    again = certify_edit(_request("same", sequential=True), svc)
    fresh = certify_edit(_request("same", sequential=True), dataclasses.replace(svc, index=None))
    assert loader.instances[loaded].ref == "base" and loader.instances[loaded].scored == []
    records = svc.store.read(again.run_id)
    links = [msgspec.json.decode(r.payload) for r in records if r.type == "baseline_reused"]
    assert [(e["arm"], e["source_run_id"]) for e in links] == [("preview", first.run_id), ("final", first.run_id)]
    assert [msgspec.json.decode(r.payload)["source_run_id"] for r in records if r.type == "guard_baseline_reused"] == [
        first.run_id
    ]
    assert msgspec.json.encode(again.certificate.evidence) == msgspec.json.encode(fresh.certificate.evidence)
    assert all(f.ok for _, f in event_findings(again.certificate, svc.store))


def test_a_copy_refused_once_the_subject_is_loaded_scores_the_baseline_again(
    services: Services, loader: FakeLoader, tmp_path: Path
) -> None:
    # the baseline pass counts on the copy (same load settings in the config); the subject's identity then
    # says another dtype, so reuse is refused (LOADING_REASON) and the baseline is loaded again to score the arm
    svc = _reuse_svc(services, tmp_path)
    certify_edit(_request("int8ish", sequential=False), svc)
    original = loader.load

    def load(ref: str, options: LoadOptions) -> FakeModel:
        model = original(ref, options)
        if ref == "same":
            identity = model.identity()
            model.identity = lambda: msgspec.structs.replace(identity, dtype="bfloat16")  # type: ignore[method-assign]
        return model

    loader.load = load  # type: ignore[method-assign]
    loaded = len(loader.loaded)
    again = certify_edit(_request("same", sequential=True), svc)
    assert loader.loaded[loaded:] == ["base", "same", "base"]  # the pass, the subject, one reload for both arms
    scoring = again.certificate.provenance.baseline_scoring
    assert scoring is not None and {(s.reused, s.reason) for s in scoring} == {(False, LOADING_REASON)}
    both = certify_edit(_request("same", sequential=False), dataclasses.replace(svc, index=None))
    assert msgspec.json.encode(again.certificate.evidence) == msgspec.json.encode(both.certificate.evidence)


def _guards(cert: c.Certificate) -> Any:
    return comparable({"guards": msgspec.to_builtins(cert.guards)})


def _every_tap(request: CertifyRequest) -> CertifyRequest:
    """The variance guard taps every FFN weight (`all_ffn`), so an earlier run's record covers whatever a later
    run's guard picks (with `changed` targets it covers the weights that edit changed, which the pass cannot
    know before the subject loads)."""
    guards = GuardsConfig(variance={"targets": "all_ffn"})
    return dataclasses.replace(request, config=msgspec.structs.replace(request.config, guards=guards))


def test_the_baseline_pass_leaves_variance_taps_an_earlier_run_covers_to_the_copy(
    services: Services, loader: FakeLoader, tmp_path: Path
) -> None:
    svc = _reuse_svc(services, tmp_path)
    request = _every_tap(_request(None, base="ve_base", edit=SHRINK, sequential=True))
    first = certify_edit(request, svc)
    loaded = len(loader.instances)
    again = certify_edit(request, svc)
    baseline = loader.instances[loaded]
    assert baseline.ref == "ve_base" and baseline.taps_without_scores == [], "nothing tapped in the pass"
    records = svc.store.read(again.run_id)
    links = [msgspec.json.decode(r.payload) for r in records if r.type == "variance_baseline_reused"]
    assert [link["source_run_id"] for link in links] == [first.run_id]
    fresh = certify_edit(request, dataclasses.replace(svc, index=None))
    assert _guards(again.certificate) == _guards(fresh.certificate)
    assert all(f.ok for _, f in event_findings(again.certificate, svc.store))


def test_taps_left_to_a_copy_that_does_not_come_are_tapped_by_the_baseline_loaded_again(
    services: Services, loader: FakeLoader, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store changed between the pass and the guard (the copy the pass counted on is gone)."""
    from invarlock.application.certification import pipeline

    svc = _reuse_svc(services, tmp_path)
    request = _every_tap(_request(None, base="ve_base", edit=SHRINK, sequential=True))
    certify_edit(request, svc)
    monkeypatch.setattr(pipeline, "reused_taps", lambda ctx, targets, calibration: {})
    loaded = len(loader.loaded)
    again = certify_edit(request, svc)
    assert loader.loaded[loaded:] == ["ve_base", "ve_base"], "the pass, then the reload that taps"
    assert loader.instances[-1].taps_without_scores, "the reloaded baseline tapped the targets"
    fresh = certify_edit(request, dataclasses.replace(svc, index=None))
    assert _guards(again.certificate) == _guards(fresh.certificate)
