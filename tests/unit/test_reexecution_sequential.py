"""The re-execution audit holding one model at a time (`verify --sequential`, and by default for a certificate
issued with `eval.sequential: true`), on recorded-state fakes: the same findings and audit stream as an audit
holding both, the baseline released before the subject loads, each forgery an audit holding both finds found
(either model's scores, guard measurements, checkpoints), and what needs both models refused or held together."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig, EvalConfig, ModelConfig, SecondaryConfig
from invarlock.application.services import Services
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionDeps, ReexecutionRequest
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.guards.sections import GuardSections

from tests.fakes.loaders import ReleasingLoader
from tests.fakes.models import FakeLoader, FakeModel
from tests.forged_runs import forged_scores
from tests.unit.conftest import small_config

DOWN = "ffn.2.down"
SHRINK = EditConfig(name="fake_weight", plan={"weight": DOWN, "factor": 0.9})


def _issue(services: Services, subject: str | None, *, sequential: bool = False, **kw: Any) -> Any:
    """A certificate without KL/top-1 unless `no_kl=False` (an audit holding one model re-measures them from the
    baseline's kept side)."""
    base, edit = kw.get("base", "base"), kw.get("edit")
    cfg = small_config(edit)
    cfg = msgspec.structs.replace(
        cfg,
        model=ModelConfig(id=base),
        dataset=msgspec.structs.replace(cfg.dataset, calibration_n=8),
        eval=EvalConfig(secondary=SecondaryConfig(measure=not kw.get("no_kl", True)), sequential=sequential or None),
    )
    command = "run" if subject is None else "certify"
    request = CertifyRequest(command, cfg, None if subject is None else ModelConfig(id=subject), "balanced", "dev")
    return certify_edit(request, services)


def _deps(services: Services, store: Any = None) -> ReexecutionDeps:
    ticks = itertools.count()
    return ReexecutionDeps(
        edits=services.edits,
        loader=services.loader,
        corpora=services.corpora,
        environment=lambda: {"python": "test"},
        clock=lambda: f"2026-02-01T00:00:{next(ticks):02d}.000000Z",
        new_stream_id=lambda: "audit-1",
        tool_version="0.0.test",
        store=store,
    )


def _audit(cert: c.Certificate, services: Services, *, sequential: bool, **kw: Any) -> Any:
    request = ReexecutionRequest(
        baseline=kw.get("baseline", "base"),
        subject=kw.get("subject", "int8ish"),
        sample=kw.get("sample"),
        sample_seed=11,
        sequential=sequential,
    )
    return reexecute_certificate(cert, request, _deps(services, kw.get("store")))


def _failed(outcome: Any) -> dict[str, str]:
    return {name: detail for name, ok, detail in outcome.findings if not ok}


def _shrunk(loader: FakeLoader) -> None:
    weights = {n: w.copy() for n, w in loader.models["ve_base"].weights.items()}
    weights[DOWN] = weights[DOWN] * np.float32(0.9)
    loader.models["ve_shrunk"] = FakeModel(ref="ve_shrunk", weights=weights)


CASES = {
    "a subject checkpoint": (dict(subject="int8ish"), dict()),
    "run: the recorded edit on the baseline": (dict(subject=None, base="ve_base", edit=SHRINK), dict(subject=None)),
    "run: the edited checkpoint": (dict(subject=None, base="ve_base", edit=SHRINK), dict(subject="ve_shrunk")),
}


@pytest.mark.parametrize("kl", [False, True], ids=["no KL", "KL from the kept reference"])
@pytest.mark.parametrize(("issue", "audit"), CASES.values(), ids=CASES.keys())
def test_holding_one_model_finds_and_records_what_holding_both_does(
    services: Services, loader: FakeLoader, issue: dict, audit: dict, kl: bool
) -> None:
    _shrunk(loader)
    cert = _issue(services, **issue, no_kl=not kl).certificate
    assert (cert.evidence.final.comparisons is not None) is kl
    baseline = issue.get("base", "base")
    streams, held = {}, {}
    for sequential in (False, True):
        store = InMemoryEventStore()
        outcome = _audit(cert, services, sequential=sequential, baseline=baseline, store=store, **audit)
        assert outcome.ok, _failed(outcome)
        started, *rest = [ev.decode_event(r.type, r.version, r.payload) for r in store.read("audit-1")]
        assert isinstance(started, ev.ReexecutionStarted)
        held[sequential] = started.sequential  # the one field the two streams must differ in
        streams[sequential] = (
            [(n, d) for n, _, d in outcome.findings],
            [msgspec.structs.replace(started, sequential=None), *rest],
        )
    assert streams[True] == streams[False] and held == {False: False, True: True}
    names = [n for n, _ in streams[True][0]]
    assert "reexec:scores:final" in names and "reexec:guard:invariants" in names
    if baseline == "ve_base":
        assert {"reexec:guard:spectral", "reexec:guard:rmt", "reexec:guard:variance", "reexec:scores:bare"} <= set(
            names
        )


def test_the_baseline_is_released_before_the_subject_loads(services: Services, loader: FakeLoader) -> None:
    cert = _issue(services, "int8ish").certificate
    for sequential, alive in ((False, [[], ["base"]]), (True, [[], []])):
        releasing = ReleasingLoader(loader.models)
        outcome = _audit(cert, dataclasses.replace(services, loader=releasing), sequential=sequential)
        assert outcome.ok and releasing.loaded == ["base", "int8ish"]
        assert releasing.alive_at_load == alive


def test_the_recorded_edit_is_applied_to_a_copy_taken_before_the_baseline_is_released(
    services: Services, loader: FakeLoader
) -> None:
    cert = _issue(services, None, base="ve_base", edit=SHRINK).certificate
    loads, copies = len(loader.loaded), len(loader.duplicated)
    outcome = _audit(cert, services, sequential=True, baseline="ve_base", subject=None)
    assert outcome.ok, _failed(outcome)
    assert loader.loaded[loads:] == ["ve_base"] and loader.duplicated[copies:] == ["ve_base"], "read once"
    baseline, subject = loader.instances[-2:]
    assert baseline.scored and not baseline.paired, "the baseline scored alone, before the copy was edited"
    assert subject.scored and not subject.paired


def test_a_certificate_issued_one_model_at_a_time_is_audited_so(services: Services, loader: FakeLoader) -> None:
    cert = _issue(services, "int8ish", sequential=True).certificate
    assert cert.provenance.config["eval"]["sequential"] is True
    releasing = ReleasingLoader(loader.models)
    outcome = _audit(cert, dataclasses.replace(services, loader=releasing), sequential=False)
    assert outcome.ok, _failed(outcome)
    assert releasing.alive_at_load == [[], []]


@pytest.mark.parametrize("role", ["baseline", "subject"])
def test_either_models_scores_forged_fail_naming_windows(services: Services, role: str) -> None:
    issued = _issue(services, "int8ish")
    forged = forged_scores(services.store, issued.run_id, issued.certificate.issued_at, 1.001, role)
    failed = _failed(_audit(forged, services, sequential=True, sample=3))
    assert set(failed) == {"reexec:scores:preview", "reexec:scores:final"}
    assert "3 of 3 re-scored windows differ" in failed["reexec:scores:final"]
    assert f"{role} NLL" in failed["reexec:scores:final"]


def _resealed(cert: c.Certificate, change: Any) -> c.Certificate:
    guards = msgspec.to_builtins(cert.guards)
    change(guards)
    return c.seal(msgspec.structs.replace(cert, guards=msgspec.convert(guards, GuardSections)))


def _scale_sigma(guards: dict) -> None:
    guards["rmt"]["measurements"]["matrices"][2]["baseline"]["sigma"] *= 1.001


def _scale_tap(guards: dict) -> None:
    tap = guards["variance"]["measurements"]["taps"][0]
    stats = tap["baseline"]
    key = next(k for k, v in stats.items() if isinstance(v, float) and v != 0.0)
    stats[key] *= 1.001


@pytest.mark.parametrize(("change", "guard"), [(_scale_sigma, "rmt"), (_scale_tap, "variance")])
def test_a_baseline_guard_measurement_forged_fails_naming_it(
    services: Services, loader: FakeLoader, change: Any, guard: str
) -> None:
    cert = _issue(services, None, base="ve_base", edit=SHRINK).certificate
    forged = _resealed(cert, change)
    for sequential in (False, True):
        failed = _failed(_audit(forged, services, sequential=sequential, baseline="ve_base", subject=None))
        assert list(failed) == [f"reexec:guard:{guard}"], (sequential, failed)
        assert "at baseline." in failed[f"reexec:guard:{guard}"]


def test_another_baseline_checkpoint_fails_on_its_digest_and_nothing_is_scored(
    services: Services, loader: FakeLoader
) -> None:
    cert = _issue(services, "int8ish").certificate
    loader.models["base2"] = FakeModel(ref="base2", weights={"w": np.full((4, 4), 2, np.float32)})
    failed = _failed(_audit(cert, services, sequential=True, baseline="base2"))
    assert list(failed) == ["reexec:baseline_model"] and "weights_sha256" in failed["reexec:baseline_model"]
    assert all(not m.scored for m in loader.instances[-2:]), "nothing is scored with a model that is not certified"


class _ScoringFails(FakeModel):
    def score(self, windows, progress=None):  # type: ignore[no-untyped-def]
        raise AbortError("E402", "non-finite token loss in window 0", "check the fake's weights")

    score_pair = score  # type: ignore[assignment]


def test_an_error_of_the_baseline_pass_stops_the_audit_as_it_stops_one_holding_both(
    services: Services, loader: FakeLoader
) -> None:
    cert = _issue(services, "int8ish").certificate
    loader.models["base"] = _ScoringFails(ref="base")
    outcomes = [_audit(cert, services, sequential=s) for s in (False, True)]
    assert outcomes[0].findings == outcomes[1].findings
    assert _failed(outcomes[1]) == {"reexec:error": "the audit stopped: non-finite token loss in window 0"}
    releasing = ReleasingLoader(loader.models)
    _audit(cert, dataclasses.replace(services, loader=releasing), sequential=True)
    assert releasing.alive_at_load == [[], []], "the error kept is not the baseline's last reference"


def test_kl_evidence_is_re_measured_from_the_kept_baseline_and_a_forged_kl_fails(
    services: Services, loader: FakeLoader
) -> None:
    cert = _issue(services, "int8ish", no_kl=False).certificate
    final = cert.evidence.final
    assert final is not None and final.comparisons is not None
    releasing = ReleasingLoader(loader.models)
    outcome = _audit(cert, dataclasses.replace(services, loader=releasing), sequential=True)
    assert outcome.ok, _failed(outcome)
    assert releasing.alive_at_load == [[], []], "the kept reference does not keep the baseline alive"
    first = final.comparisons[0]
    forged_row = msgspec.structs.replace(first, kl_sum=first.kl_sum * 1.001 + 1e-9)
    arm = msgspec.structs.replace(final, comparisons=[forged_row, *final.comparisons[1:]])
    forged = c.seal(msgspec.structs.replace(cert, evidence=msgspec.structs.replace(cert.evidence, final=arm)))
    for sequential in (False, True):
        failed = _failed(_audit(forged, services, sequential=sequential))
        assert list(failed) == ["reexec:scores:final"], (sequential, failed)
        assert f"final window {final.window_ids[0]}" in failed["reexec:scores:final"]


def test_sequential_is_refused_for_other_paired_measures_before_anything_loads(
    services: Services, loader: FakeLoader
) -> None:
    """Evidence of labelled examples or cosines (paired measures without per-model NLL sums) needs both held."""
    cert = _issue(services, "int8ish", no_kl=False).certificate
    arms = {
        name: msgspec.structs.replace(arm, baseline_nll=None, subject_nll=None)
        for name, arm in (("preview", cert.evidence.preview), ("final", cert.evidence.final))
    }
    paired = c.seal(msgspec.structs.replace(cert, evidence=msgspec.structs.replace(cert.evidence, **arms)))
    loads = len(loader.loaded)
    with pytest.raises(UsageError) as refused:
        _audit(paired, services, sequential=True)
    assert refused.value.code == "E200" and "--sequential cannot audit this certificate" in refused.value.message
    assert "labelled examples or cosines" in refused.value.message and loader.loaded[loads:] == []
    # the certificate's own word (eval.sequential) does not make an audit that needs both hold one
    config = {**paired.provenance.config, "eval": {**paired.provenance.config["eval"], "sequential": True}}
    claimed = c.seal(
        msgspec.structs.replace(paired, provenance=msgspec.structs.replace(paired.provenance, config=config))
    )
    releasing = ReleasingLoader(loader.models)
    _audit(claimed, dataclasses.replace(services, loader=releasing), sequential=False)
    assert releasing.alive_at_load == [[], ["base"]]
