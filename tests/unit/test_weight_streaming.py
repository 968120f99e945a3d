"""Issue 13 §3 without a model. The guard chain reads the models' matrices one at a time: a WeightSource
fake counts how many of the matrices it handed out are alive at once while a whole certification runs. The
preflight checks a device map before anything loads."""

from __future__ import annotations

import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.certification.preflight_notes import device_findings
from invarlock.application.config import (
    DatasetConfig,
    EditConfig,
    GuardsConfig,
    ModelConfig,
    RunConfig,
    config_to_dict,
    parse_config,
)
from invarlock.domain.errors import UsageError
from invarlock.domain.system_facts import DeviceSupport

from tests.fakes.streaming import AliveMatrices, blocks_of_weights, counting_model_class

BLOCKS = 6  # 24 matrices per model: holding every matrix of one model would peak at 24


def _request(edit: EditConfig | None, subject: ModelConfig | None) -> CertifyRequest:
    config = RunConfig(
        model=ModelConfig(id="wide"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8, seed=7),
        edit=edit,
        guards=GuardsConfig(variance={"targets": "all_ffn"}),
    )
    return CertifyRequest(
        command="run" if edit else "certify", config=config, subject=subject, tier="balanced", profile="dev"
    )


def _certify_counting(services, loader, request: CertifyRequest) -> AliveMatrices:  # type: ignore[no-untyped-def]
    tracker = AliveMatrices()
    loader.models["wide"] = counting_model_class(tracker)(ref="wide", weights=blocks_of_weights(BLOCKS))
    certify_edit(request, services)
    return tracker


def test_guard_chain_holds_at_most_two_matrices_per_model_at_once(services, loader):
    edit = EditConfig(name="fake_weight", plan={"weight": "ffn.3.down", "factor": 0.8})
    tracker = _certify_counting(services, loader, _request(edit, None))
    per_model = 4 * BLOCKS
    assert tracker.handed >= 2 * per_model, "spectral and rmt read every matrix of both models"
    # the pair being measured and the pair the next step of the zip reads: never a model's worth of copies
    assert tracker.peak <= 4 < per_model
    assert tracker.alive == 0, "no matrix outlives the run's guard chain"


def test_identical_subject_streams_too(services, loader):
    tracker = _certify_counting(services, loader, _request(None, ModelConfig(id="wide")))
    assert tracker.handed >= 8 * BLOCKS and tracker.peak <= 4


SUPPORT = DeviceSupport(known=("auto", "cpu", "cuda", "mps"), dtypes=("float32",), available=("cpu",))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (ModelConfig(device_map="balanced"), "unknown model.device_map 'balanced'"),
        (ModelConfig(device_map="auto", device="cpu"), "model.device 'cpu' and model.device_map both place"),
    ],
)
def test_preflight_refuses_a_device_map_it_cannot_honour_before_loading(model, message):
    with pytest.raises(UsageError) as caught:
        device_findings(model, SUPPORT)
    assert caught.value.code == "E104" and message in caught.value.message
    assert caught.value.hint in ("use auto", "leave device at auto")  # was "use one of auto"


def test_preflight_notes_the_device_map_and_config_records_it_only_when_set():
    placed = ModelConfig(device_map="auto", max_memory={"cpu": "8GiB"})
    assert "device_map auto, max_memory {'cpu': '8GiB'}" in device_findings(placed, SUPPORT)[0].message
    assert config_to_dict(RunConfig(model=placed))["model"]["max_memory"] == {"cpu": "8GiB"}
    assert not {"device_map", "max_memory"} & config_to_dict(RunConfig())["model"].keys()
    with pytest.raises(UsageError) as caught:
        parse_config({"model": {"max_memory": {"cpu": "8GiB"}}}, source="c.yaml")
    assert caught.value.code == "E201" and "needs model.device_map" in caught.value.message
