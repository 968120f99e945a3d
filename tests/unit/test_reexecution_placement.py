"""The re-execution audit loads the certified models as the run placed them: the recorded `model.device_map`
and `max_memory` reach the loader for both roles, a recipient's `--device` loads each model whole on that
device instead, and a recorded placement that does not parse is E601 before any model loads."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.model import DevicePlacement, LoadOptions

from tests.fakes.models import FakeLoader
from tests.unit.conftest import small_config
from tests.unit.test_reexecution_audit import _deps, _failed

PLACEMENT = DevicePlacement(device_map="auto", max_memory={"cpu": "2GiB", "disk": "20GiB"})


@pytest.fixture
def placed(services: Any) -> c.Certificate:
    config = small_config()
    model = msgspec.structs.replace(config.model, device_map="auto", max_memory=PLACEMENT.max_memory)
    subject = msgspec.structs.replace(model, id="int8ish")
    request = CertifyRequest("certify", msgspec.structs.replace(config, model=model), subject, "balanced", "dev")
    return certify_edit(request, services).certificate


def _audit_loads(cert: c.Certificate, services: Any, loader: FakeLoader, device: str | None) -> list[LoadOptions]:
    start = len(loader.options)
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=2, sample_seed=5, device=device)
    outcome = reexecute_certificate(cert, request, _deps(services))
    assert outcome.ok, _failed(outcome)
    return loader.options[start:]


def test_the_audit_loads_both_models_with_the_recorded_device_map(placed, services, loader) -> None:
    assert placed.provenance.config["model"]["device_map"] == "auto"
    loads = _audit_loads(placed, services, loader, None)
    assert loader.loaded[-2:] == ["base", "int8ish"] and len(loads) == 2
    assert all(o.placement == PLACEMENT and o.device == "auto" and o.dtype == "float32" for o in loads)


def test_a_recipient_device_loads_each_model_whole_on_it(placed, services, loader) -> None:
    loads = _audit_loads(placed, services, loader, "cpu")
    assert [(o.device, o.placement) for o in loads] == [("cpu", None), ("cpu", None)]


def test_a_certificate_without_a_device_map_loads_on_its_device_kind(services, loader) -> None:
    config = small_config()
    request = CertifyRequest("certify", config, msgspec.structs.replace(config.model, id="int8ish"), "balanced", "dev")
    cert = certify_edit(request, services).certificate
    loads = _audit_loads(cert, services, loader, None)
    assert [(o.device, o.placement) for o in loads] == [(cert.baseline.device.split(":")[0], None)] * 2


def test_a_recorded_placement_that_does_not_parse_is_e601_before_any_load(placed, services, loader) -> None:
    model = dict(placed.provenance.config["model"], max_memory={"cpu": 2})
    config = dict(placed.provenance.config, model=model)
    bad = msgspec.structs.replace(placed, provenance=msgspec.structs.replace(placed.provenance, config=config))
    loads = len(loader.loaded)
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=2, sample_seed=5)
    with pytest.raises(UsageError) as caught:
        reexecute_certificate(bad, request, _deps(services))
    assert caught.value.code == "E601" and "provenance.config.model" in caught.value.message
    assert len(loader.loaded) == loads


@pytest.mark.parametrize(
    ("section", "named"),
    [
        (None, "provenance.config.eval: expected an object"),
        ({"batch_size": 10**30}, "provenance.config.eval.batch_size: 10"),
        ({"batch_size": 0}, "provenance.config.eval.batch_size: 0"),
        ({"batch_size": "8"}, "provenance.config.eval.batch_size: '8'"),
    ],
)
def test_a_recorded_eval_section_no_run_could_record_is_e601_before_any_load(placed, services, loader, section, named):
    """eval: null ended the audit in E999 (AttributeError), a batch of 10**30 windows in E999 (torch's
    OverflowError) after the audit had started; a batch size of 0 or '8' was silently replaced by the default."""
    config = dict(placed.provenance.config, eval=section)
    bad = msgspec.structs.replace(placed, provenance=msgspec.structs.replace(placed.provenance, config=config))
    loads = len(loader.loaded)
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=2, sample_seed=5)
    with pytest.raises(UsageError) as caught:
        reexecute_certificate(bad, request, _deps(services))
    assert caught.value.code == "E601" and named in caught.value.message, caught.value.message
    assert len(loader.loaded) == loads


def test_each_model_loads_with_the_dtype_its_run_asked_for_not_the_identitys_description(placed, services, loader):
    """An int8 ONNX subject's identity states dtype `float32+int8` (its graph's dtypes); the audit asked the onnx
    loader for that, which it refuses (E104 'use --dtype float32', an option verify does not have), so no ONNX
    certificate could be audited."""
    assert placed.provenance.config["subject"]["dtype"] == "float32"
    subject = msgspec.structs.replace(placed.subject, dtype="float32+int8")
    cert = msgspec.structs.replace(placed, subject=subject)
    loads = _audit_loads_unchecked(cert, services, loader)
    assert [o.dtype for o in loads] == ["float32", "float32"]


def _audit_loads_unchecked(cert: c.Certificate, services: Any, loader: FakeLoader) -> list[LoadOptions]:
    start = len(loader.options)
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=2, sample_seed=5)
    reexecute_certificate(cert, request, _deps(services))
    return loader.options[start:]
