"""The plugin guard's records: its tagged result round-trips through the event codec, and the domain's `decide`
turns a plugin's decision into an outcome, refusing non-finite measurements and decisions about matrices that
were not measured (never a pass)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.guards.plugin import decide
from invarlock.domain.guards.plugin_records import (
    PluginGuardSettings,
    PluginMatrix,
    PluginMeasurements,
    settings_of,
)
from invarlock.domain.guards.results import PluginResult


class Ceiling:
    """Fails every matrix whose `value` exceeds `limit`."""

    name = "ceiling"
    settings = ("limit",)

    def decide(self, measurements: Mapping[str, Mapping[str, float]], settings: Mapping[str, float]) -> dict[str, str]:
        return {
            k: f"{v['value']} > {settings['limit']}" for k, v in measurements.items() if v["value"] > settings["limit"]
        }


values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
rows = st.dictionaries(st.text("abc.", min_size=1, max_size=6), values, min_size=1, max_size=4)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=5), rows, min_size=1, max_size=5), values)
def test_a_plugin_result_round_trips_through_the_event_codec(
    measured: dict[str, dict[str, float]], limit: float
) -> None:
    matrices = [PluginMatrix(name=k, values={"value": limit, **v}) for k, v in measured.items()]
    measurements = PluginMeasurements(matrices=matrices)
    outcome = decide(Ceiling(), measurements, PluginGuardSettings(mode="gate", settings={"limit": limit}))
    assert outcome.verdict == ("fail" if outcome.violations else "pass")
    result = PluginResult(name="ceiling", distribution="d", version="1", measurements=measurements, outcome=outcome)
    event = ev.GuardEvaluated(phase="compare", mode="gate", seconds=0.5, result=result)
    assert ev.decode_event(*ev.encode_event(event)) == event and event.guard == "ceiling"


def test_decide_refuses_a_non_finite_measurement_and_a_matrix_it_did_not_measure() -> None:
    gate = PluginGuardSettings(mode="gate", settings={"limit": 1.0})
    nan = PluginMeasurements(matrices=[PluginMatrix(name="w", values={"value": float("nan")})])
    with pytest.raises(IntegrityError, match=r"w\.value = nan is not finite"):
        decide(Ceiling(), nan, gate)

    class Liar(Ceiling):
        def decide(
            self, measurements: Mapping[str, Mapping[str, float]], settings: Mapping[str, float]
        ) -> dict[str, str]:
            return {"elsewhere": "made up"}

    ok = PluginMeasurements(matrices=[PluginMatrix(name="w", values={"value": 0.5})])
    with pytest.raises(IntegrityError, match="unmeasured matrix 'elsewhere'"):
        decide(Liar(), ok, gate)


@pytest.mark.parametrize(
    ("given", "why"),
    [({}, "needs guards.ceiling.limit"), ({"limit": 1, "cap": 2}, "has no setting guards.ceiling.cap"),
     ({"limit": float("inf")}, "is inf"), ({"limit": 1, "mode": "loud"}, "Invalid enum value 'loud'")],
)  # fmt: skip
def test_a_plugin_guards_settings_are_exactly_its_finite_thresholds(given: dict[str, object], why: str) -> None:
    with pytest.raises(UsageError, match=why) as caught:
        settings_of("ceiling", given, ("limit",))
    assert caught.value.code == "E202"
    assert settings_of("ceiling", {"limit": 2}, ("limit",)) == PluginGuardSettings(mode="gate", settings={"limit": 2.0})
