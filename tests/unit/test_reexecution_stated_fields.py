"""Fields stated beside the digests that the audit now compares (the forger hunt): a resealed certificate naming
another architecture and parameter count, or a `run` certificate claiming its edit changed one parameter at 16
bits, passed the re-execution audit. The loaded models' architecture and parameter count must be the certified
ones, and the edit the audit re-applies must state the certified plan digest and deltas (`reexec:edit`)."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.domain import certificate as c

from tests.unit.test_reexecution_audit import _deps, _failed, _ve_certificate


def _audit(cert: c.Certificate, services: Any) -> tuple[dict[str, str], set[str]]:
    """The audit of a `run` certificate without --subject (the edit re-applied to the baseline)."""
    request = ReexecutionRequest(baseline="ve_base", subject=None, sample=2, sample_seed=3)
    outcome = reexecute_certificate(cert, request, _deps(services))
    return _failed(outcome), {name for name, _, _ in outcome.findings}


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


def test_a_licence_the_opened_corpus_does_not_state_fails_the_windows_check(services, loader) -> None:
    cert = _ve_certificate(services, loader)
    forged = _resealed(cert, dataset__licence="MIT")
    failed, _ = _audit(forged, services)
    said = cert.dataset.licence
    assert failed == {"reexec:windows": f"dataset.licence 'MIT' is not the opened corpus's {said!r}"}
