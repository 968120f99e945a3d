"""The weights an edit's plan names, checked against the names the model's loader tells before any weights load
(preflight `weights` check: ports.edits.WeightsPlanCheck, ports.loader.MatrixNames), on recorded-state fakes."""

from __future__ import annotations

import pytest
from invarlock.application.calibrate.calibration import CalibrationCase, run_suite
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig, ModelConfig
from invarlock.domain.errors import UsageError

from tests.unit.conftest import small_config
from tests.unit.test_calibrate_hostile import _with_last


def _request(weight: str, subject: str | None = None) -> CertifyRequest:
    edit = EditConfig(name="fake_weight", plan={"weight": weight, "factor": 0.5})
    model = None if subject is None else ModelConfig(id=subject)
    return CertifyRequest("run" if subject is None else "certify", small_config(edit), model, "balanced", "dev")


def _types(store, run_id: str) -> list[str]:
    return [r.type for r in store.read(run_id)]


def test_a_weight_the_model_lacks_is_e204_before_any_weights_load(services, loader, store):
    # A misspelt name failed when the edit applied: after the baseline loaded (and, holding one model at a time,
    # after its whole pass).
    loader.names = {"base": ("w", "lm_head.weight")}
    with pytest.raises(UsageError) as err:
        certify_edit(_request("v"), services)
    assert (err.value.code, err.value.message) == ("E204", "edit.plan.weight = 'v' is not a weight of this model")
    assert loader.loaded == [] and services.edits["fake_weight"].named == [("w", "lm_head.weight")]
    assert _types(store, store.run_ids()[0]) == ["run_started", "run_failed"]


def test_a_weight_the_model_has_runs_and_the_edit_applies(services, loader, store):
    loader.names = {"base": ("w",)}
    outcome = certify_edit(_request("w"), services)
    assert outcome.certificate.edit is not None and outcome.certificate.edit.plan["weight"] == "w"
    assert _types(store, outcome.run_id)[-1] == "run_completed"


def test_an_edit_of_a_subject_checkpoint_is_checked_against_the_subjects_names(services, loader):
    # certify with an edit applies it to the subject's checkpoint, whose names may differ from the baseline's
    loader.names = {"base": ("w",), "int8ish": ("u",)}
    with pytest.raises(UsageError) as err:
        certify_edit(_request("w", subject="int8ish"), services)
    assert err.value.code == "E204" and services.edits["fake_weight"].named == [("u",)]


def test_a_loader_that_tells_no_names_is_not_asked_and_the_edit_checks_at_apply(services, loader, store):
    outcome = certify_edit(_request("w"), services)  # the fake loader tells no names by default
    assert services.edits["fake_weight"].named == [] and _types(store, outcome.run_id)[-1] == "run_completed"


def test_a_calibration_case_naming_a_weight_the_model_lacks_stops_the_suite_before_the_first_case(
    services, loader, store
):
    loader.names = {"ve_base": tuple(loader.models["ve_base"].weights)}  # the suite's model
    case = CalibrationCase(name="last", kind="reported", edit=EditConfig("fake_weight", {"weight": "v", "factor": 0.5}))
    with pytest.raises(UsageError) as err:
        run_suite(_with_last(case), services, source="s.yaml")
    assert err.value.message == "s.yaml: case last: edit.plan.weight = 'v' is not a weight of this model"
    assert store.run_ids() == [] and loader.loaded == []
