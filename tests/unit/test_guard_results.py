"""guard_evaluated.v2 holds a typed result tagged by guard; v1 payloads upcast to the same v2 event."""

from __future__ import annotations

from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain import events as ev
from invarlock.domain.canonical import canonical_bytes
from invarlock.domain.errors import IntegrityError
from invarlock.domain.guards import chain, invariants, rmt, spectral, spectrum
from invarlock.domain.guards.results import InvariantsResult, RmtResult, SpectralResult, result_of
from invarlock.domain.guards.rmt_records import RmtMeasurements
from invarlock.domain.guards.spectral_records import SpectralMatrix, SpectralMeasurements, SpectralScore
from invarlock.domain.guards.variance_records import ABPass
from invarlock.domain.model import TensorCensus
from invarlock.domain.policy import resolve_policy

POLICY = resolve_policy("balanced", "ci")


def _measures() -> list[tuple[str, str, spectrum.MatrixMeasure, spectrum.MatrixMeasure]]:
    rng = np.random.default_rng(5)
    out = []
    for i in range(5):
        w = rng.standard_normal((64, 48)).astype(np.float32)
        scale = 3.0 if i == 2 else 1.0
        out.append((f"attn.{i}", "attn", spectrum.measure(w), spectrum.measure(scale * w)))
    return out


def _spectral_event() -> ev.GuardEvaluated:
    measured = SpectralMeasurements(matrices=[spectral.measurement(*m) for m in _measures()])
    outcome = chain.derive(measured, POLICY, seed=1, plan_digest="p")
    return ev.GuardEvaluated(phase="compare", mode="monitor", seconds=0.25, result=result_of(measured, outcome))


def _v1_payload(event: ev.GuardEvaluated) -> bytes:
    result: Any = msgspec.to_builtins(event.result)
    payload = {
        "type": "guard_evaluated.v1",
        "guard": result.pop("guard"),
        "phase": event.phase,
        "mode": event.mode,
        "verdict": event.verdict,
        "checks": result.pop("checks", []),
        "seconds": event.seconds,
        "measurements": result.pop("measurements", {}),
        "outcome": result.pop("outcome", {}),
    }
    return canonical_bytes(payload)


def test_a_v1_spectral_payload_upcasts_to_the_v2_event() -> None:
    event = _spectral_event()
    assert event.verdict == "fail" and event.result.repairs == {}
    assert ev.decode_event("guard_evaluated", 1, _v1_payload(event)) == event


def test_a_v1_invariants_payload_upcasts_to_the_v2_event() -> None:
    census = TensorCensus(tensors=(), tied_groups=(), config_sha256="c", tokenizer_sha256="t")
    checks = invariants.health_checks(census, "baseline", limit=20)
    result = InvariantsResult(checks=checks, verdict=invariants.verdict_of(checks))
    event = ev.GuardEvaluated(phase="pre", mode="gate", seconds=0.1, result=result)
    assert event.verdict == "fail" and event.guard == "invariants"
    assert ev.decode_event("guard_evaluated", 1, _v1_payload(event)) == event


def test_the_v2_event_round_trips_through_the_codec() -> None:
    event = _spectral_event()
    name, version, payload = ev.encode_event(event)
    assert (name, version) == ("guard_evaluated", 2)
    assert ev.decode_event(name, version, payload) == event
    assert msgspec.json.decode(payload)["result"]["guard"] == "spectral"


def test_an_unknown_guard_tag_does_not_decode() -> None:
    payload: Any = msgspec.to_builtins(_spectral_event())
    payload["result"]["guard"] = "sparsity"
    with pytest.raises(IntegrityError) as err:
        ev.decode_event("guard_evaluated", 2, canonical_bytes(payload))
    assert err.value.code == "E604"


def test_a_v1_payload_whose_outcome_lacks_a_field_does_not_upcast() -> None:
    data = msgspec.json.decode(_v1_payload(_spectral_event()))
    del data["outcome"]["top"]
    with pytest.raises(IntegrityError, match="does not upcast") as err:
        ev.decode_event("guard_evaluated", 1, canonical_bytes(data))
    assert err.value.code == "E604"


def test_measurements_pair_only_with_their_own_outcome() -> None:
    measures = _measures()
    spectral_m = SpectralMeasurements(matrices=[spectral.measurement(*m) for m in measures])
    rmt_m = RmtMeasurements(matrices=[rmt.measurement(*m) for m in measures])
    rmt_outcome = chain.derive(rmt_m, POLICY, seed=1, plan_digest="p")
    assert isinstance(result_of(rmt_m, rmt_outcome), RmtResult)
    assert isinstance(result_of(spectral_m, chain.derive(spectral_m, POLICY, seed=1, plan_digest="p")), SpectralResult)
    with pytest.raises(TypeError):
        result_of(spectral_m, rmt_outcome)


def test_records_validate_on_construction() -> None:
    with pytest.raises(ValueError, match="negative"):
        SpectralMatrix(
            name="w",
            family="ffn",
            sigma_baseline=-1.0,
            sigma_subject=1.0,
            method=("power", "power"),
            iterations=(1, 1),
            residual=(0.0, 0.0),
        )
    with pytest.raises(ValueError, match="length"):
        ABPass(window_ids=[1, 2], tokens=[10], nll_without=[1.0], nll_with=[1.0])
    with pytest.raises(msgspec.ValidationError, match="reason"):
        msgspec.convert({"name": "w", "family": "ffn", "r": 0.1, "z": None, "reason": "vibes"}, type=SpectralScore)


_SIGMA = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)


@given(st.lists(st.tuples(st.sampled_from(["attn", "ffn", "embed", "other"]), _SIGMA, _SIGMA), max_size=12))
@settings(max_examples=60, deadline=None, derandomize=True)
def test_any_spectral_evaluation_round_trips_through_the_event_codec(rows: list[tuple[str, float, float]]) -> None:
    matrices = [
        SpectralMatrix(
            name=f"{family}.{i}",
            family=family,
            sigma_baseline=b,
            sigma_subject=s,
            method=("power", "exact"),
            iterations=(3, 0),
            residual=(1e-7, 0.0),
        )
        for i, (family, b, s) in enumerate(rows)
    ]
    measured = SpectralMeasurements(matrices=matrices)
    outcome = chain.derive(measured, POLICY, seed=1, plan_digest="p")
    event = ev.GuardEvaluated(phase="compare", mode="monitor", seconds=0.0, result=result_of(measured, outcome))
    assert ev.decode_event(*ev.encode_event(event)) == event
    assert ev.decode_event("guard_evaluated", 1, _v1_payload(event)) == event
    assert (
        outcome.summary.caps_applied == len(outcome.violations) == sum(f.violations for f in outcome.families.values())
    )
