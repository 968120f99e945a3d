"""Under `dev` a short corpus shrinks the arms proportionally, never below 2 windows each; when even that is
impossible the run stops at planning, before any window is scored."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, GuardsConfig, ModelConfig, RunConfig
from invarlock.domain.errors import AbortError

from tests.fakes.models import FakeCorpora

SEQ_LEN = 32


def _corpus(windows: int) -> FakeCorpora:
    # One document of distinct words: windows·SEQ_LEN tokens plus a few, so exactly `windows` full windows.
    return FakeCorpora([" ".join(f"t{i}" for i in range(windows * SEQ_LEN + 3))])


def _request(preview_n: int, final_n: int) -> CertifyRequest:
    config = RunConfig(
        model=ModelConfig(id="base"),
        dataset=DatasetConfig(
            provider="fake", seq_len=SEQ_LEN, preview_n=preview_n, final_n=final_n, calibration_n=0, seed=7
        ),
        guards=GuardsConfig(order=["invariants", "spectral", "rmt"]),
    )
    return CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )


def _payloads(store, run_id: str, kind: str) -> list[dict]:
    return [msgspec.json.decode(r.payload) for r in store.read(run_id) if r.type == kind]


def test_the_dev_plan_that_left_one_final_window_now_keeps_two_and_certifies(services, store) -> None:
    # preview 100, final 2, 5 windows available: the old rule planned preview 4 and final 1, then failed with
    # E403 after all the scoring.
    svc = dataclasses.replace(services, corpora=_corpus(5))
    out = certify_edit(_request(100, 2), svc)
    planned = _payloads(store, out.run_id, "windows_planned")[0]["plan"]
    assert planned["windows_available"] == 5 and planned["approximate_counts"] is True
    arms = [w["arm"] for w in planned["windows"]]
    assert [arms.count(a) for a in ("preview", "final")] == [3, 2]
    final = out.certificate.primary_metric.final
    assert final is not None and final.windows == 2


def test_a_corpus_too_small_for_two_windows_per_arm_stops_before_any_model_is_loaded(services, store, loader) -> None:
    svc = dataclasses.replace(services, corpora=_corpus(3))
    with pytest.raises(AbortError) as err:
        certify_edit(_request(100, 2), svc)
    assert err.value.code == "E303"
    assert "3 distinct windows" in err.value.message and "at least 4 (2 per arm)" in err.value.message
    (run_id,) = store.run_ids()
    assert [r.type for r in store.read(run_id)] == ["run_started", "run_failed"]
    # The preflight read both tokenizers (to compare them) and planned with the baseline's: no weights loaded.
    assert loader.tokenizers_loaded == ["base", "int8ish"] and loader.loaded == []


def test_the_windows_are_planned_with_the_baseline_tokenizer_before_the_models_load(services, store, loader) -> None:
    svc = dataclasses.replace(services, corpora=_corpus(6))
    out = certify_edit(_request(2, 2), svc)
    types = [r.type for r in store.read(out.run_id)]
    # The event stream keeps its order (fingerprints, then the plan); the plan was computed first.
    assert types.index("windows_planned") > types.index("model_fingerprinted")
    assert loader.tokenizers_loaded == ["base", "int8ish"] and loader.loaded == ["base", "int8ish"]
    planned = _payloads(store, out.run_id, "windows_planned")[0]
    assert planned["plan"]["tokenizer_sha256"] == out.certificate.baseline.tokenizer_sha256
