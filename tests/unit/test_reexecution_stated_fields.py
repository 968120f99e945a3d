"""Fields stated beside the digests that the audit now compares (the forger hunt): a resealed certificate naming
another architecture and parameter count, or a `run` certificate claiming its edit changed one parameter at 16
bits, passed the re-execution audit. The loaded models' architecture and parameter count must be the certified
ones, and the edit the audit re-applies must state the certified plan digest and deltas (`reexec:edit`); with
--subject it is re-applied to a copy of the baseline, whose weights must be the certified subject's."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.domain import certificate as c

from tests.fakes.models import FakeModel
from tests.unit.test_reexecution_audit import _VE_WEIGHTS, DOWN, _deps, _failed, _ve_certificate


def _audit(cert: c.Certificate, services: Any, subject: str | None = None) -> tuple[dict[str, str], set[str]]:
    """The audit of a `run` certificate, by default without --subject (the edit re-applied to the baseline)."""
    request = ReexecutionRequest(baseline="ve_base", subject=subject, sample=2, sample_seed=3)
    outcome = reexecute_certificate(cert, request, _deps(services))
    return _failed(outcome), {name for name, _, _ in outcome.findings}


def _edit_detail(cert: c.Certificate, services: Any, subject: str) -> str:
    request = ReexecutionRequest(baseline="ve_base", subject=subject, sample=2, sample_seed=3)
    outcome = reexecute_certificate(cert, request, _deps(services))
    assert outcome.ok, _failed(outcome)
    return next(detail for name, _, detail in outcome.findings if name == "reexec:edit")


def _resealed(cert: c.Certificate, **sections: Any) -> c.Certificate:
    doc = msgspec.to_builtins(cert)
    for path, value in sections.items():
        *parents, leaf = path.split("__")
        node = doc
        for part in parents:
            node = node[part]
        node[leaf] = value
    return c.seal(msgspec.convert({k: v for k, v in doc.items() if k != "digest"} | {"digest": ""}, c.Certificate))


def test_the_honest_run_certificate_passes_the_edit_and_model_checks(services, loader) -> None:
    failed, names = _audit(_ve_certificate(services, loader), services)
    assert failed == {} and {"reexec:edit", "reexec:subject_model"} <= names


def test_deltas_the_edit_did_not_make_fail_the_edit_check(services, loader) -> None:
    cert = _ve_certificate(services, loader)
    assert cert.edit.deltas is not None
    forged = _resealed(cert, edit__deltas__params_changed=1, edit__deltas__bitwidth_map={"ffn.2.down": 16})
    failed, _ = _audit(forged, services)
    assert failed == {
        "reexec:edit": "fake_weight re-applied: edit.deltas.bitwidth_map, edit.deltas.params_changed differ from "
        "the certificate's"
    }


def test_another_architecture_or_parameter_count_fails_the_model_check(services, loader) -> None:
    cert = _ve_certificate(services, loader)
    forged = _resealed(cert, subject__architecture="GPT2LMHeadModel", subject__param_count=999)
    failed, _ = _audit(forged, services)
    assert list(failed) == ["reexec:subject_model"]
    detail = failed["reexec:subject_model"]
    assert f"architecture {cert.subject.architecture!r} != certified 'GPT2LMHeadModel'" in detail
    assert f"param_count {cert.subject.param_count} != certified 999" in detail


def test_a_dtype_the_models_do_not_load_in_fails_the_model_check(services, loader) -> None:
    """A bfloat16 run relabelled float32 (the identities' dtype only) passed the audit, its dtype read as a build
    difference that loosened the tolerance; the audit loads the config's dtype, so the loaded models' dtype is the
    run's (the stop-62 precision hunt)."""
    cert = _ve_certificate(services, loader)
    forged = _resealed(cert, baseline__dtype="bfloat16", subject__dtype="bfloat16")
    failed, _ = _audit(forged, services)
    assert list(failed) == ["reexec:baseline_model", "reexec:subject_model"], failed
    assert f"dtype {cert.subject.dtype!r} != certified 'bfloat16'" in failed["reexec:subject_model"]


def test_a_licence_the_opened_corpus_does_not_state_fails_the_windows_check(services, loader) -> None:
    cert = _ve_certificate(services, loader)
    forged = _resealed(cert, dataset__licence="MIT")
    failed, _ = _audit(forged, services)
    said = cert.dataset.licence
    assert failed == {"reexec:windows": f"dataset.licence 'MIT' is not the opened corpus's {said!r}"}


def test_with_the_subject_given_the_edit_is_re_applied_to_a_copy_of_the_baseline(services, loader) -> None:
    cert = _ve_certificate(services, loader)
    detail = _edit_detail(cert, services, "ve_shrunk")
    assert detail == (
        "fake_weight re-applied to a copy of the baseline: its plan digest, deltas and weights equal the certificate's"
    )
    forged = _resealed(cert, edit__deltas__params_changed=1)
    failed, _ = _audit(forged, services, subject="ve_shrunk")
    assert failed == {
        "reexec:edit": "fake_weight re-applied to a copy of the baseline: edit.deltas.params_changed differs from "
        "the certificate's"
    }


def test_a_subject_the_recorded_edit_does_not_make_fails_the_edit_check(services, loader) -> None:
    """A forger's own subject (the weight scaled by 0.8) named in a certificate of the 0.9 edit, its digests
    restated: the subject matches the certificate, the certificate does not match its edit."""
    cert = _ve_certificate(services, loader)
    other = {name: np.ones((4, 4), np.float32) for name in _VE_WEIGHTS}
    other[DOWN] = other[DOWN] * np.float32(0.8)
    loader.models["ve_other"] = FakeModel(ref="ve_other", weights=other)
    digest = loader.models["ve_other"].identity().weights_sha256
    forged = _resealed(cert, subject__weights_sha256=digest)
    failed, _ = _audit(forged, services, subject="ve_other")
    assert list(failed) == ["reexec:edit"]
    expected = f"its weights {cert.subject.weights_sha256[:12]} are not the certified subject's {digest[:12]}"
    assert failed["reexec:edit"] == f"fake_weight re-applied to a copy of the baseline: {expected}"
