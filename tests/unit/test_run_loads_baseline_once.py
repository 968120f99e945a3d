"""`invarlock run` edits a copy of the loaded baseline: the checkpoint is read once, and the run records the
same fingerprints, edit and evidence as when the subject was loaded a second time."""

from __future__ import annotations

import dataclasses

import msgspec
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig

from tests.fakes.models import FakeLoader, FakeModel
from tests.unit.conftest import small_config


def _run_request() -> CertifyRequest:
    edit = EditConfig(name="fake_weight", plan={"weight": "w", "factor": 0.9})
    return CertifyRequest(command="run", config=small_config(edit), subject=None, tier="balanced", profile="dev")


def test_run_reads_the_baseline_checkpoint_once_and_edits_a_copy(services, loader) -> None:
    out = certify_edit(_run_request(), services)
    assert loader.loaded == ["base"] and loader.duplicated == ["base"]
    baseline, subject = loader.instances
    assert subject.weights["w"] is not baseline.weights["w"], "the edit must not write into the baseline"
    assert out.certificate.baseline.weights_sha256 == FakeModel(ref="base").identity().weights_sha256
    assert out.certificate.subject.weights_sha256 != out.certificate.baseline.weights_sha256


def test_certifying_the_baseline_against_itself_reads_its_checkpoint_once(services, loader) -> None:
    config = small_config()
    request = CertifyRequest(command="certify", config=config, subject=config.model, tier="balanced", profile="dev")
    cert = certify_edit(request, services).certificate
    assert loader.loaded == ["base"] and loader.duplicated == ["base"]
    assert cert.subject == cert.baseline and cert.primary_metric.ratio_vs_baseline == 1.0


class _LoadTwice(FakeModel):
    """A model whose adapter cannot duplicate it (a plugin's, say): `run` loads its checkpoint again."""

    duplicate = None  # type: ignore[assignment]


def test_a_model_without_duplicate_is_loaded_again_with_the_same_certificate(services, loader) -> None:
    copied = certify_edit(_run_request(), services).certificate
    twice = FakeLoader(models={"base": _LoadTwice(ref="base")})
    loaded = certify_edit(_run_request(), dataclasses.replace(services, loader=twice)).certificate
    assert twice.loaded == ["base", "base"] and twice.duplicated == []
    same = ("baseline", "subject", "edit", "dataset", "primary_metric", "evidence", "validation", "verdict")
    assert all(_json(getattr(loaded, k)) == _json(getattr(copied, k)) for k in same)  # guards differ in seconds only


def _json(section: object) -> bytes:
    return msgspec.json.encode(section)  # NaN fields compare equal as JSON, not as floats
