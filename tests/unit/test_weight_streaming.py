"""The guard chain reads the models' matrices one at a time (issue 13 §3): a WeightSource fake counts how
many of the matrices it handed out are alive at once while a whole certification runs."""

from __future__ import annotations

from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, EditConfig, GuardsConfig, ModelConfig, RunConfig

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
