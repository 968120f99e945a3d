"""A config that leaves `eval.sequential` unset (scoring_mode.py): the run holds one model at a time when nothing
needs both and the loader tells each model may be held alone, and records `sequential: true`; otherwise it holds
both and records nothing. The same certificate either way; a stated `true`/`false` is run as stated."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit, resume_run
from invarlock.application.certification.scoring_mode import both_held_because
from invarlock.application.config import EvalConfig, MetricConfig, ModelConfig, SecondaryConfig
from invarlock.application.config_execution import ExecutionConfig
from invarlock.application.services import Services
from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError

from tests.cert_compare import comparable
from tests.fakes.killing_store import KillingStore
from tests.fakes.loaders import HoldingLoader
from tests.unit.conftest import small_config


def _request(*, subject: str = "int8ish", sequential: bool | None = None, kl: bool = True) -> CertifyRequest:
    cfg = small_config()
    cfg = msgspec.structs.replace(cfg, eval=EvalConfig(secondary=SecondaryConfig(measure=kl), sequential=sequential))
    return CertifyRequest("certify", cfg, ModelConfig(id=subject), "balanced", "dev")


@pytest.fixture
def holding(services: Services) -> HoldingLoader:
    return HoldingLoader(models=services.loader.models)  # type: ignore[attr-defined]


def _on(services: Services, loader: HoldingLoader) -> Services:
    return dataclasses.replace(services, loader=loader)


def _recorded_eval(services: Services, run_id: str) -> dict:
    first = services.store.read(run_id)[0]
    started = ev.decode_event(first.type, first.version, first.payload)
    assert isinstance(started, ev.RunStarted)
    return started.config["eval"]


def test_unset_holds_one_model_at_a_time_when_each_may_be_held_alone_and_records_it(
    services: Services, holding: HoldingLoader
) -> None:
    one = certify_edit(_request(), _on(services, holding))
    assert _recorded_eval(services, one.run_id)["sequential"] is True
    assert one.certificate.provenance.config["eval"]["sequential"] is True
    # asked twice: whether each may be held alone, then, by the input checks, whether anything stops it
    assert [(ref, tokens) for ref, _, tokens in holding.asked] == [("base", 32), ("int8ish", 32)] * 2
    both = certify_edit(_request(sequential=False), _on(services, holding))
    assert _recorded_eval(services, both.run_id)["sequential"] is False
    assert comparable(msgspec.to_builtins(one.certificate)) == comparable(msgspec.to_builtins(both.certificate))
    assert len(holding.asked) == 4, "a stated false asks nothing"
    one_base, _, both_base, _ = holding.instances
    assert one_base.references and one_base.paired == [], "held alone: the subject paired with its kept side"
    assert both_base.references == [] and both_base.paired, "held together: lockstep"


def test_an_obstacle_of_either_model_holds_both_and_records_nothing(services: Services, holding: HoldingLoader) -> None:
    holding.obstacles["int8ish"] = "model type gemma2 does not split its LM head off its body"
    run = certify_edit(_request(), _on(services, holding))
    assert "sequential" not in _recorded_eval(services, run.run_id)
    assert both_held_because(_request(), holding) == (
        "int8ish: model type gemma2 does not split its LM head off its body"
    )


def test_a_stated_true_stops_before_any_weights_load_where_the_baseline_side_of_kl_cannot_be_kept(
    services: Services, holding: HoldingLoader
) -> None:
    """It stopped with this E104 once the baseline was loaded and fingerprinted."""
    holding.stops["int8ish"] = "windows of 16 tokens are too short to keep"
    with pytest.raises(UsageError) as caught:
        certify_edit(_request(sequential=True), _on(services, holding))
    assert caught.value.code == "E104" and holding.loaded == []
    assert caught.value.message == "eval.sequential: true, but int8ish: windows of 16 tokens are too short to keep"


def test_a_stated_true_runs_one_model_at_a_time_where_only_the_default_would_hold_both(
    services: Services, holding: HoldingLoader
) -> None:
    """An obstacle that is the default's caution (a device never measured holding one model) is no stop."""
    holding.obstacles["base"] = "one model at a time was not yet measured on cuda"
    run = certify_edit(_request(sequential=True), _on(services, holding))
    assert _recorded_eval(services, run.run_id)["sequential"] is True
    assert holding.loaded == ["base", "int8ish"]


def test_without_paired_measures_the_windows_length_is_not_asked(services: Services, holding: HoldingLoader) -> None:
    certify_edit(_request(kl=False), _on(services, holding))
    assert {tokens for _, _, tokens in holding.asked} == {None}


CONFIG_NEEDS_BOTH = {
    "a kind comparing outputs": dict(metric=MetricConfig(kind="embedding_cosine")),
    "Ray actors": dict(execution=ExecutionConfig(backend="ray")),
}


@pytest.mark.parametrize("change", CONFIG_NEEDS_BOTH.values(), ids=CONFIG_NEEDS_BOTH.keys())
def test_a_config_needing_both_models_is_held_together_without_asking_the_loader(
    holding: HoldingLoader, change: dict
) -> None:
    req = _request()
    evals = {k: v for k, v in change.items() if k != "execution"}
    cfg = msgspec.structs.replace(req.config, eval=msgspec.structs.replace(req.config.eval, **evals))
    if "execution" in change:
        cfg = msgspec.structs.replace(cfg, execution=change["execution"])
    why = both_held_because(dataclasses.replace(req, config=cfg), holding)
    assert why is not None and ("compares both models' outputs" in why or "ray" in why)
    assert holding.asked == []


def test_a_loader_that_does_not_tell_holds_both(services: Services) -> None:
    run = certify_edit(_request(), services)  # the plain FakeLoader has no sequential_obstacle
    assert "sequential" not in _recorded_eval(services, run.run_id)
    assert both_held_because(_request(), services.loader) == (
        "the model loader does not tell whether a model may be held alone"
    )


def test_a_missing_model_is_left_to_the_runs_own_check(services: Services, holding: HoldingLoader) -> None:
    with pytest.raises(UsageError) as caught:
        certify_edit(_request(subject="nowhere"), _on(services, holding))
    assert caught.value.code == "E101" and "nowhere" in caught.value.message


def test_a_resumed_run_holds_its_models_as_recorded(services: Services, holding: HoldingLoader) -> None:
    """The choice is in the recorded config: a resume by a loader that would now say otherwise keeps it."""
    svc = _on(services, holding)
    finals = KillingStore(services.store, lambda events: any(isinstance(e, ev.WindowsCompared) for e in events))
    with pytest.raises(KeyboardInterrupt):
        certify_edit(_request(), dataclasses.replace(svc, store=finals))  # type: ignore[arg-type]
    holding.obstacles["base"] = "changed its mind"
    loaded_before = len(holding.instances)
    resumed = resume_run(finals.killed[0], svc)
    assert _recorded_eval(services, resumed.run_id)["sequential"] is True
    baseline = holding.instances[loaded_before]
    assert baseline.ref == "base" and baseline.references, "the resumed run kept the baseline's side of KL"
    whole = certify_edit(_request(sequential=False), svc)
    assert comparable(msgspec.to_builtins(resumed.certificate)) == comparable(msgspec.to_builtins(whole.certificate))
