"""A third-party guard answering outside its port (measurements or decisions that are no mappings of numbers or
reasons) fails the certify run naming its plugin, and verify refuses a decision it cannot read (E604)."""

from __future__ import annotations

import json

import pytest
from invarlock.domain.errors import IntegrityError, InvarlockError
from invarlock.domain.run import replay

from tests.fakes.plugin_dist import CONFIG
from tests.fakes.plugin_dist import stored_events as _events


class _Named:
    """A key that str() writes as another key does (the formats hunt: both rows were recorded under one name)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return self.name


ODD_GUARDS = {
    "a list": ({"measured": [1.0]}, "E223", "its measure() returned list, not {matrix name: {value name: number}}"),
    "None for a value": ({"measured": {"w": {"peak": None}}}, "E223", "returned w.peak = None"),
    "a string for a value": ({"measured": {"w": {"peak": "1.5"}}}, "E223", "returned w.peak = '1.5'"),
    "a bool for a value": ({"measured": {"w": {"peak": True}}}, "E223", "returned w.peak = True"),
    "no value for a matrix": ({"measured": {"w": {}}}, "E402", "measured no value for w"),
    # the formats hunt: E999 (OverflowError), and PASS for a guard that measured no matrix of either model
    "an integer no float holds": ({"measured": {"w": {"peak": 10**400}}}, "E223", "w.peak = an integer beyond"),
    "a matrix neither model has": ({"measured": {"x.weight": {"v": 1.0}}}, "E223", "'x.weight', which neither"),
    "a matrix twice once named": ({"measured": {"w": {"v": 1.0}, _Named("w"): {"v": 9.0}}}, "E223", "matrix w, twice"),
    "a list for a decision": ({"decided": ["w"]}, "E223", "decided list, not {matrix name: reason}"),
    "a reason that is no string": ({"decided": {"w": 5}}, "E223", "failed matrix 'w' with a reason that is no string"),
}


@pytest.mark.usefixtures("raising_plugin")
@pytest.mark.parametrize("case", ODD_GUARDS)
def test_a_plugin_guard_answering_outside_its_port_fails_the_run_naming_it(case, tmp_path, monkeypatch) -> None:
    """A list, None or a matrix of no value from measure, or a decision that is no mapping, ended in E999 (an
    AttributeError or TypeError in InvarLock's code) with the run left incomplete; a string or a bool was
    recorded as a number; a matrix measured with no value passed whatever the plugin decided; a decision's
    non-string reason was E604 'failed an unmeasured matrix' (exit 3, as for an altered event stream)."""
    import invarlock
    import raising_plugin  # type: ignore[import-not-found]
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    answers, code, words = ODD_GUARDS[case]
    for attribute, value in answers.items():
        monkeypatch.setattr(raising_plugin.OddGuard, attribute, value)
    guards = {"order": ["invariants", "odd_guard", "invariants"], "odd_guard": {"limit": 5.0}}
    events = tmp_path / "ev.duckdb"
    with pytest.raises(InvarlockError) as refused:
        invarlock.certify("base", "subject", config={**CONFIG, "guards": guards}, events=events)
    assert refused.value.code == code and words in refused.value.message
    if code == "E223":
        assert refused.value.message.startswith("guard plugin 'odd_guard' (raising 1.0): ")
    store = DuckDBEventStore(events, read_only=True)
    [run_id] = store.run_ids()
    state = replay(_events(store, run_id))  # type: ignore[arg-type]
    assert state.failed is not None and state.failed.code == code


@pytest.mark.parametrize(
    ("decided", "words"),
    [(None, "decided NoneType"), (["w"], "decided list"), ({"w": 5}, "a reason that is no string (5)")],
)
def test_verify_refuses_a_plugin_decision_that_is_no_mapping_of_reasons(decided: object, words: str) -> None:
    """verify re-decides recorded measurements with the installed plugin: a decision it cannot read is E604
    (the stated verdict cannot be re-derived), where None or a list ended in an unexpected TypeError."""
    from invarlock.domain.guards.plugin import decide
    from invarlock.domain.guards.plugin_records import PluginGuardSettings, PluginMatrix, PluginMeasurements

    class Guard:
        name, settings = "odd_guard", ("limit",)

        def decide(self, measurements: object, settings: object) -> object:
            return decided

    measured = PluginMeasurements(matrices=[PluginMatrix(name="w", values={"peak": 1.0})])
    with pytest.raises(IntegrityError) as refused:
        decide(Guard(), measured, PluginGuardSettings(mode="gate", settings={"limit": 5.0}))  # type: ignore[arg-type]
    assert refused.value.code == "E604" and words in refused.value.message
    empty = PluginMeasurements(matrices=[PluginMatrix(name="w", values={})])
    with pytest.raises(IntegrityError, match="w \\(no value\\) is not finite"):
        decide(Guard(), empty, PluginGuardSettings(mode="gate", settings={"limit": 5.0}))  # type: ignore[arg-type]


@pytest.mark.usefixtures("raising_plugin")
def test_what_a_plugin_guard_prints_goes_to_stderr_so_json_stays_one_line(tmp_path, monkeypatch) -> None:
    import raising_plugin  # type: ignore[import-not-found]

    from tests.fakes.cli import run_cli
    from tests.fakes.models import FakeModel

    measure = raising_plugin.OddGuard.measure

    def noisy(self, baseline, subject):  # type: ignore[no-untyped-def]
        print("PLUGIN NOISE")
        return measure(self, baseline, subject)

    def noisy_decision(self, measurements, settings):  # type: ignore[no-untyped-def]
        print("DECISION NOISE")  # decide runs in certify and again in verify
        return {}

    monkeypatch.setattr(raising_plugin.OddGuard, "measure", noisy)
    monkeypatch.setattr(raising_plugin.OddGuard, "decide", noisy_decision)
    monkeypatch.setattr(raising_plugin.Raising, "score_pair", FakeModel.score_pair)  # it scores, for once
    config = tmp_path / "c.yaml"
    guards = {"order": ["invariants", "odd_guard", "invariants"], "odd_guard": {"limit": 5.0}}
    config.write_text(json.dumps({**CONFIG, "guards": guards}), encoding="utf-8")
    flags = ["--adapter", "fake", "--preset", config, "--json", "--events", tmp_path / "ev.duckdb"]
    code, out, err = run_cli("certify", "--baseline", "base", "--subject", "subject", *flags, "--cert-out", tmp_path)
    assert code == 0 and "PLUGIN NOISE" in err, err
    assert json.loads(out)["verdict"] == "PASS" and out.count("\n") == 1 and "DECISION NOISE" in err, out
    code, out, err = run_cli("verify", json.loads(out)["certificate"], "--json")
    assert code == 0 and "DECISION NOISE" in err and json.loads(out)["ok"] is True, out
