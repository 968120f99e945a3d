"""Weights and activation statistics a third-party model hands the guards outside its port (matrices that are no
2-D float arrays of a known family, no census, no taps, statistics missing a tap or scores short or negated) fail
the run with one InvarLock error naming its plugin, recorded so replay accepts it; the re-execution audit checks
the taps it compares as certify checks them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import GuardsConfig, ModelConfig
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.run import replay

from tests.fakes.models import FakeModel
from tests.fakes.plugin_dist import PLUGIN
from tests.fakes.plugin_dist import certify_request as _request
from tests.fakes.plugin_dist import stored_events as _events
from tests.fakes.reexecution import audit_deps
from tests.unit.conftest import small_config


def _weights_bent(**methods: Callable[..., object]) -> type[FakeModel]:
    return type("Bent", (FakeModel,), methods)


def _matrices(bend: Callable[[Any], object]) -> Callable[[FakeModel], Iterator[object]]:
    return lambda self: iter([bend(m) for m in FakeModel.matrices(self)])


ODD_WEIGHTS = {
    "None for a matrix": ({"matrices": _matrices(lambda m: None)}, "E223", "matrices() yielded NoneType"),
    "a 1-D array": (
        {"matrices": _matrices(lambda m: dataclasses.replace(m, array=m.array[0]))},
        "E223",
        "matrices() yielded w as ndarray (4,) of float32",
    ),
    "an object array": (
        {"matrices": _matrices(lambda m: dataclasses.replace(m, array=m.array.astype(object)))},
        "E223",
        "(4, 4) of object",
    ),
    "an unknown family": (
        {"matrices": _matrices(lambda m: dataclasses.replace(m, family="banana"))},
        "E223",
        "yielded w of family 'banana'",
    ),
    "NaN weights its census does not state": (
        {"matrices": _matrices(lambda m: dataclasses.replace(m, array=m.array * np.nan))},
        "E402",
        "non-finite weights in w (baseline)",
    ),
    "no census": ({"census": lambda self: None}, "E223", "census() returned NoneType"),
    "no unmapped mapping": ({"unmapped": lambda self: None}, "E223", "unmapped() returned None"),
    "no taps": (
        {"variance_taps": lambda self: None, "_scale_penalty": lambda self: 0.0},
        "E223",
        "taps() returned None",
    ),
}


@pytest.mark.parametrize("case", ODD_WEIGHTS)
def test_weights_a_model_hands_the_guards_outside_its_port_fail_the_run(case, services, store, loader) -> None:
    """Each ended in E999 (AttributeError, IndexError, ValueError 'unknown weight family', LinAlgError, a
    TypeError) with the run left incomplete; an object array was measured as if it were floats."""
    methods, code, words = ODD_WEIGHTS[case]
    bent = _weights_bent(**methods)
    loader.models["base"], loader.models["int8ish"] = bent(ref="base"), bent(ref="int8ish", quality=1.002)
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    with pytest.raises(InvarlockError) as refused:
        certify_edit(_request("int8ish"), svc)
    assert refused.value.code == code and words in refused.value.message
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == code and state.issued is None


def _stats_bent(bend: Callable[[tuple[dict, list]], object]) -> type[FakeModel]:
    class Bent(FakeModel):
        def activation_stats(self, windows, weights, progress=None):  # type: ignore[no-untyped-def]
            return bend(super().activation_stats(windows, weights, progress))

    return Bent


ODD_STATS = {
    "None": (lambda found: None, "activation_stats() returned NoneType"),
    "no statistics of a tap": (lambda found: ({}, found[1]), "returned no ActivationStats for ffn.0.down"),
    "one score short": (lambda found: (found[0], found[1][:-1]), "activation_stats() yielded 7 scores for 8 windows"),
    "negated scores": (
        lambda found: (found[0], [msgspec.structs.replace(s, nll_sum=-s.nll_sum) for s in found[1]]),
        "activation_stats() scored a negative NLL sum",
    ),
}


@pytest.mark.parametrize("case", ODD_STATS)
def test_activation_statistics_outside_their_port_fail_the_variance_guard(case, services, store, loader) -> None:
    """None or a missing tap ended in E999 (a TypeError, a KeyError); the A/B pass's scores, which decide
    whether the variance guard repairs the subject, were recorded unchecked."""
    bend, words = ODD_STATS[case]
    weights = {n: np.ones((4, 4), np.float32) for n in ("attn.0", "ffn.0.down", "ffn.1.down")}
    changed = {**weights, "ffn.0.down": weights["ffn.0.down"] * np.float32(1.01)}  # in VE's deadband: no A/B pass
    bent = _stats_bent(bend)
    loader.models["base"], loader.models["odd"] = bent(ref="base", weights=weights), bent(ref="odd", weights=changed)
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    cfg = msgspec.structs.replace(small_config(), guards=GuardsConfig(order=["invariants", "variance", "invariants"]))
    request = CertifyRequest("certify", cfg, ModelConfig(id="odd"), tier="balanced", profile="dev")
    with pytest.raises(UsageError) as refused:
        certify_edit(request, svc)
    assert refused.value.code == "E223" and words in refused.value.message
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223"


def _untapped(bend: Callable[[tuple[dict, list]], object]) -> type[FakeModel]:
    """A model without activation_taps (a caller reading only statistics falls back to activation_stats), whose
    activation_stats answer `bend` bends."""
    return type("Untapped", (_stats_bent(bend),), {"activation_taps": None})


UNTAPPED = {
    "None": (lambda found: None, "activation statistics returned no mapping"),
    "the statistics alone": (lambda found: found[0], "activation statistics returned no mapping"),
}


@pytest.mark.parametrize("case", UNTAPPED)
def test_a_model_without_taps_only_has_its_baseline_statistics_checked(case, services, store, loader) -> None:
    """The baseline's statistics (the A/B pass reads no baseline scores) come from activation_stats when its model
    has no activation_taps: None ended in E999 (a TypeError indexing it), the statistics alone too (a KeyError)."""
    bend, words = UNTAPPED[case]
    weights = {n: np.ones((4, 4), np.float32) for n in ("attn.0", "ffn.0.down", "ffn.1.down")}
    changed = {**weights, "ffn.0.down": weights["ffn.0.down"] * np.float32(1.01)}  # in VE's deadband: no A/B pass
    bent = _untapped(bend)
    loader.models["base"], loader.models["odd"] = bent(ref="base", weights=weights), bent(ref="odd", weights=changed)
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    cfg = msgspec.structs.replace(small_config(), guards=GuardsConfig(order=["invariants", "variance", "invariants"]))
    request = CertifyRequest("certify", cfg, ModelConfig(id="odd"), tier="balanced", profile="dev")
    with pytest.raises(UsageError) as refused:
        certify_edit(request, svc)
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("adapter plugin 'auto' (badplug 1.0): its model's activation statistics")
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223"


def _taps_bent(bend: Callable[[dict], object]) -> type[FakeModel]:
    class Bent(FakeModel):
        def activation_taps(self, windows, weights, progress=None):  # type: ignore[no-untyped-def]
            return bend(super().activation_taps(windows, weights, progress))

    return Bent


ODD_TAPS = {
    "None": (_taps_bent(lambda found: None), "activation statistics returned no mapping"),
    "no statistics of a tap": (
        _taps_bent(lambda found: {}),
        "activation statistics returned no ActivationStats for ffn.0.down",
    ),
    "a dict for a tap": (
        _taps_bent(lambda found: {w: msgspec.structs.asdict(s) for w, s in found.items()}),
        "returned no ActivationStats for ffn.0.down",
    ),
    "None from a model without activation_taps": (_untapped(lambda found: None), "statistics returned no mapping"),
}


@pytest.mark.parametrize("case", ODD_TAPS)
def test_the_re_execution_audit_checks_the_variance_taps_it_compares(case, services, loader) -> None:
    """The audit re-taps the variance guard's weights with the adapter's models: None ended in E999 (a TypeError),
    a missing tap too (a KeyError), and a dict for a tap was compared as if it were the statistics; each is
    refused as certify refuses it, from activation_stats too when the model has no activation_taps."""
    from invarlock.application.verification.reexecute import reexecute_certificate
    from invarlock.application.verification.reexecute_request import ReexecutionRequest

    model, words = ODD_TAPS[case]
    weights = {n: np.ones((4, 4), np.float32) for n in ("attn.0", "ffn.0.down", "ffn.1.down")}
    changed = {**weights, "ffn.0.down": weights["ffn.0.down"] * np.float32(1.01)}  # in VE's deadband: no A/B pass
    loader.models["base"], loader.models["odd"] = (
        FakeModel(ref="base", weights=weights),
        FakeModel(ref="odd", weights=changed),
    )
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    cfg = msgspec.structs.replace(small_config(), guards=GuardsConfig(order=["invariants", "variance", "invariants"]))
    cert = certify_edit(CertifyRequest("certify", cfg, ModelConfig(id="odd"), "balanced", "dev"), svc).certificate
    assert cert.guards.variance is not None and cert.guards.variance.measurements.taps
    assert cert.guards.variance.measurements.ab is None  # the audit taps the subject as certify did: taps alone
    loader.models["odd"] = model(ref="odd", weights=changed)
    deps = audit_deps(loader, services.corpora, services.edits)
    request = ReexecutionRequest(baseline="base", subject="odd", sample=None, sample_seed=11)
    with pytest.raises(UsageError) as refused:
        reexecute_certificate(cert, request, deps)
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("adapter plugin 'auto' (badplug 1.0): its model's activation statistics")
