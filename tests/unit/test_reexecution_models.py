"""The audit's model checks say when the model given for one role holds the other certified model's weights:
`--baseline S --subject B` (swapped), or the baseline given as the subject of an edit. The digests alone
('subject: weights_sha256 … != certified …') left the recipient to work that out. A model that does not load
names the option it was given with and the certificate's adapter and dtype it was loaded with."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError

from tests.fakes.models import FakeLoader, FakeModel
from tests.unit.conftest import small_config
from tests.unit.test_reexecution_audit import _deps, _failed


@pytest.fixture
def certified(services: Any, loader: FakeLoader) -> c.Certificate:
    """A baseline and a subject with other weights (the fakes' other models share the baseline's)."""
    loader.models["edited"] = FakeModel(ref="edited", quality=1.002, weights={"w": np.full((4, 4), 0.5, np.float32)})
    loader.models["unrelated"] = FakeModel(ref="unrelated", weights={"w": np.zeros((4, 4), np.float32)})
    config = small_config()
    subject = msgspec.structs.replace(config.model, id="edited")
    return certify_edit(CertifyRequest("certify", config, subject, "balanced", "dev"), services).certificate


def _model_failures(cert: c.Certificate, services: Any, baseline: str, subject: str) -> dict[str, str]:
    request = ReexecutionRequest(baseline=baseline, subject=subject, sample=2, sample_seed=1)
    return _failed(reexecute_certificate(cert, request, _deps(services)))


def test_swapped_models_are_said_to_be_swapped(services, certified) -> None:
    failed = _model_failures(certified, services, "edited", "base")
    assert failed["reexec:baseline_model"].endswith(
        "(these are the certified subject's weights: pass the certified baseline as --baseline)"
    )
    assert failed["reexec:subject_model"].endswith(
        "(these are the certified baseline's weights: pass the certified subject as --subject)"
    )


def test_the_baseline_given_as_the_subject_is_named_and_another_model_is_not(services, certified) -> None:
    same = _model_failures(certified, services, "base", "base")
    assert list(same) == ["reexec:subject_model"] and "the certified baseline's weights" in same["reexec:subject_model"]
    other = _model_failures(certified, services, "base", "unrelated")
    assert (
        other["reexec:subject_model"].startswith("subject: weights_sha256") and "(" not in other["reexec:subject_model"]
    )


@pytest.mark.parametrize(
    ("baseline", "subject", "named"), [("gone", "edited", "--baseline gone"), ("base", "gone", "--subject gone")]
)
def test_a_model_that_does_not_load_names_its_option_and_the_certified_load(
    services, certified, baseline, subject, named
):
    """'model path … does not exist' named neither the option nor that the adapter and dtype (an unknown
    one: 'unknown adapter acme') are the certificate's, which the recipient cannot pass."""
    request = ReexecutionRequest(baseline=baseline, subject=subject, sample=2, sample_seed=1)
    with pytest.raises(UsageError) as refused:
        reexecute_certificate(certified, request, _deps(services))
    assert refused.value.code == "E101" and refused.value.message.startswith(
        f"{named}: model path 'gone' does not exist"
    )
    assert refused.value.message.endswith("(loaded with adapter fake, dtype float32 as certified, on device cpu)")


def test_a_subject_other_than_the_certified_says_when_the_guards_repaired_it(services, certified) -> None:
    """A run's --export folder holds the repaired subject: the audit said only that the digests differ (the
    re-execution hunt)."""
    overhead = c.GuardOverhead(
        repaired_weights=["w"], bare_subject_nll=[1.0], bare_ppl=1.0, guarded_ppl=1.0, ratio=1.0, limit=1.01
    )
    repaired = msgspec.structs.replace(certified, guard_overhead=overhead)
    failed = _model_failures(repaired, services, "base", "unrelated")
    assert failed["reexec:subject_model"].endswith(
        "(if this is a folder --export wrote: it holds the subject after the guards repaired 1 weights; pass the "
        "subject checkpoint certify was given)"
    )
    same = _model_failures(repaired, services, "base", "base")  # the baseline given: that hint alone
    assert "--export" not in same["reexec:subject_model"] and "certified baseline's" in same["reexec:subject_model"]
    assert "repaired" not in _model_failures(certified, services, "base", "unrelated")["reexec:subject_model"]
