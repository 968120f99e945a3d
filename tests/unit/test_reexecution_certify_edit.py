"""The re-execution audit of a `certify --edit-config` certificate whose subject checkpoint is not the baseline:
the recorded edit was applied to that checkpoint, so the audit applies it there (the audit applied it to a copy of
the baseline, and no honest certificate of this kind could pass: the re-execution hunt)."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, EditConfig, ModelConfig, RunConfig
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.domain.errors import UsageError

from tests.unit.test_reexecution_audit import _deps, _failed

EDIT = EditConfig(name="fake_weight", plan={"weight": "w", "factor": 1.01})


def _certified(services: Any, subject: str) -> Any:
    dataset = DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12)
    config = RunConfig(model=ModelConfig(id="base"), dataset=dataset, edit=EDIT)
    request = CertifyRequest("certify", config, ModelConfig(id=subject), tier="balanced", profile="dev")
    return certify_edit(request, services).certificate


def _audit(cert: Any, services: Any, subject: str | None) -> Any:
    request = ReexecutionRequest(baseline="base", subject=subject, sample=3, sample_seed=11)
    return reexecute_certificate(cert, request, _deps(services))


def test_the_edit_is_re_applied_to_the_subject_checkpoint_certify_edited(services: Any) -> None:
    cert = _certified(services, "int8ish")
    assert cert.provenance.command == "certify" and cert.subject.ref != cert.baseline.ref
    outcome = _audit(cert, services, "int8ish")
    assert outcome.ok, _failed(outcome)
    findings = {name: (ok, detail) for name, ok, detail in outcome.findings}
    assert findings["reexec:edit"] == (
        True,
        "fake_weight re-applied: its plan digest and deltas equal the certificate's",
    )
    assert findings["reexec:subject_model"][0] is True


def test_without_the_subject_checkpoint_the_audit_says_which_to_pass(services: Any) -> None:
    cert = _certified(services, "int8ish")
    with pytest.raises(UsageError) as refused:
        _audit(cert, services, None)
    assert refused.value.code == "E200"
    assert refused.value.message == (
        "the certificate's edit (fake_weight) was applied to the subject checkpoint certify was given, not to the "
        "baseline"
    )


def test_an_edit_of_the_baseline_checkpoint_itself_is_still_audited_from_the_baseline(services: Any) -> None:
    cert = _certified(services, "base")  # certify --baseline B --subject B --edit-config: as `run` does
    outcome = _audit(cert, services, None)
    assert outcome.ok, _failed(outcome)
    assert "reexec:edit" in {name for name, _, _ in outcome.findings}


def _holding_the_edit(loader: Any, name: str) -> None:
    """A checkpoint holding the weights the recorded edit makes of the baseline (as `--export` writes them)."""
    import numpy as np

    base = loader.models["base"]
    weights = {**base.weights, "w": base.weights["w"] * np.float32(1.01)}
    loader.models[name] = base.__class__(ref=name, weights=weights)


def test_a_subject_ref_relabelled_to_turn_the_edit_check_off_still_has_the_edit_checked(
    services: Any, loader: Any
) -> None:
    """A forger set subject.ref to the export's path and wrote edit.deltas the edit never gave: the audit then took
    the subject as the checkpoint certify edited, found it already certified, and reported no reexec:edit at all
    (PASS; 0.3.10 failed it: the regression hunt). The edit is re-applied to a copy of the subject given."""
    from tests.fakes.certificates import resealed

    _holding_the_edit(loader, "exported")
    cert = _certified(services, "base")
    assert cert.edit.deltas is not None
    deltas = msgspec.structs.replace(cert.edit.deltas, bitwidth_map={"w": 4})
    forged = resealed(
        cert,
        subject=msgspec.structs.replace(cert.subject, ref="exported"),
        edit=msgspec.structs.replace(cert.edit, deltas=deltas),
    )
    outcome = _audit(forged, services, "exported")
    failed = _failed(outcome)
    assert set(failed) == {"reexec:edit"}
    assert failed["reexec:edit"].startswith("fake_weight re-applied to a copy of the subject given: edit.deltas")


def test_an_edit_that_cannot_be_re_applied_fails_as_unchecked(services: Any, loader: Any) -> None:
    cert = _certified(services, "int8ish")
    edits = {k: v for k, v in services.edits.items() if k != "fake_weight"}
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=3, sample_seed=11)
    outcome = reexecute_certificate(cert, request, _deps(dataclasses.replace(services, edits=edits)))
    failed = _failed(outcome)
    assert set(failed) == {"reexec:subject_model", "reexec:edit"}
    assert failed["reexec:edit"].startswith("the recorded edit fake_weight was not re-applied")


def test_an_edit_that_moves_its_own_output_says_to_pass_the_checkpoint_it_edited(services: Any, loader: Any) -> None:
    """quant_rtn with clamp_ratio changes its own output again (the edits hunt: all 210 matrices), as fake_weight's
    factor does, so the subject it made cannot stand in for the checkpoint it edited: the audit said only that the
    weights were not the certified subject's, as if the certificate were forged."""
    cert = _certified(services, "int8ish")
    _holding_the_edit(loader, "exported")
    loader.models["exported"].weights["w"] = loader.models["int8ish"].weights["w"] * np.float32(1.01)
    assert cert.subject.weights_sha256 == loader.models["exported"].identity().weights_sha256
    failed = _failed(_audit(cert, services, "exported"))
    assert set(failed) == {"reexec:edit"}
    assert failed["reexec:edit"].endswith(
        "the edit changes its own output again (quant_rtn with clamp_ratio does), so the subject it made cannot"
        " stand in for the checkpoint it edited: pass that checkpoint as --subject"
    )
