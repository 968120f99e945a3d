"""A third-party model's identity that is no fingerprint (None, a dict, a digest that is no sha256, a negative or
string parameter count) is refused before it is recorded, naming its plugin; numpy counts are their numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import certify_edit
from invarlock.domain.errors import UsageError
from invarlock.domain.run import replay

from tests.fakes.models import FakeModel
from tests.fakes.plugin_dist import PLUGIN
from tests.fakes.plugin_dist import certify_request as _request
from tests.fakes.plugin_dist import stored_events as _events


def _identity_bent(bend: Callable[[Any], object]) -> type[FakeModel]:
    class Bent(FakeModel):
        def identity(self) -> Any:
            return bend(super().identity())

    return Bent


ODD_IDENTITIES = {
    "None": (lambda i: None, "identity() returned NoneType, not a ModelIdentity"),
    "a dict": (msgspec.structs.asdict, "identity() returned dict, not a ModelIdentity"),
    "a digest that is none": (
        lambda i: msgspec.structs.replace(i, weights_sha256="xyz"),
        "weights_sha256 = 'xyz', not a sha256",
    ),
    "a graph digest that is none": (
        lambda i: msgspec.structs.replace(i, graph_sha256="ABC"),
        "graph_sha256 = 'ABC', not a sha256",
    ),
    "no parameters": (lambda i: msgspec.structs.replace(i, param_count=-1), "param_count = -1"),
    "a string count": (lambda i: msgspec.structs.replace(i, param_count="16"), "Expected `int`, got `str`"),
    "an array count": (lambda i: msgspec.structs.replace(i, param_count=np.array([16, 17])), "ndarray is not a JSON"),
    "a one-value array count": (lambda i: msgspec.structs.replace(i, param_count=np.array([16])), "ndarray is not"),
}


@pytest.mark.parametrize("case", ODD_IDENTITIES)
def test_a_model_identity_that_is_no_fingerprint_is_refused_before_it_is_recorded(case, services, store, loader):
    """None or a dict ended in E999 with the run incomplete; a digest that is no sha256 was certified and verified
    (verify trusts the digests); a negative parameter count gave a PASS certificate verify voided."""
    bend, words = ODD_IDENTITIES[case]
    loader.models["odd"] = _identity_bent(bend)(ref="odd", quality=1.002)
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    with pytest.raises(UsageError) as refused:
        certify_edit(_request("odd"), svc)
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("adapter plugin 'auto' (badplug 1.0): its model's identity() returned")
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223" and "subject" not in state.models


def test_a_model_identity_of_numpy_numbers_is_recorded_as_their_numbers(services, loader) -> None:
    numpy_count = _identity_bent(lambda i: msgspec.structs.replace(i, param_count=np.int64(16)))
    loader.models["numpy"] = numpy_count(ref="numpy", quality=1.002)
    cert = certify_edit(_request("numpy"), services).certificate
    assert type(cert.subject.param_count) is int and cert.subject.param_count == 16
