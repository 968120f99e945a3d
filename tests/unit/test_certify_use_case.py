"""certify_edit on recorded-state fakes: the event stream, the certificate, rollback and failures."""

from __future__ import annotations

import dataclasses
import math

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig, ModelConfig
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain.errors import AbortError, UsageError

from tests.fakes.models import FakeModel
from tests.unit.conftest import small_config


def _request(subject: str | None, edit: EditConfig | None = None, tier: str = "balanced") -> CertifyRequest:
    return CertifyRequest(
        command="certify" if subject else "run",
        config=small_config(edit),
        subject=ModelConfig(id=subject) if subject else None,
        tier=tier,
        profile="dev",
    )


def _types(store, run_id: str) -> list[str]:
    return [r.type for r in store.read(run_id)]


def test_identical_subject_gives_ratio_exactly_one_and_pass(services, store):
    out = certify_edit(_request("same"), services)
    pm = out.certificate.primary_metric
    assert pm.ratio_vs_baseline == 1.0
    assert pm.display_ci == (1.0, 1.0)
    assert out.certificate.bootstrap.method == "degenerate"
    assert out.certificate.verdict.status == "PASS"
    assert _types(store, out.run_id)[-2:] == ["certificate_issued", "run_completed"]


def test_small_degradation_passes_balanced_with_ratio_from_scaled_nll(services):
    cert = certify_edit(_request("int8ish"), services).certificate
    final = cert.primary_metric.final
    assert final is not None
    # every NLL is scaled by 1.002, so Δ̄ = 0.002 · logNLL_b exactly
    assert cert.primary_metric.ratio_vs_baseline == pytest.approx(math.exp(0.002 * math.log(final.baseline_ppl)))
    assert cert.verdict.status == "PASS"
    assert cert.validation["primary_metric_acceptable"] is True


def test_catastrophic_preview_rolls_back_before_the_final_arm(services, store, loader):
    out = certify_edit(_request("broken"), services)
    cert = out.certificate
    assert cert.status == "rollback"
    assert cert.evidence.final is None
    assert cert.validation["catastrophe"] is True
    assert cert.verdict.status == "FAIL"
    types = _types(store, out.run_id)
    assert "rollback_performed" in types
    scored_arms = [msgspec.json.decode(r.payload)["arm"] for r in store.read(out.run_id) if r.type == "windows_scored"]
    assert set(scored_arms) == {"preview"}


def test_built_in_edit_is_recorded_and_applied_to_the_subject_only(services, store):
    out = certify_edit(_request(None, EditConfig(name="fake_scale", plan={"factor": 1.5})), services)
    assert "edit_applied" in _types(store, out.run_id)
    assert out.certificate.edit.name == "fake_scale"
    preview = out.certificate.primary_metric.preview
    assert math.log(preview.subject_ppl) == pytest.approx(1.5 * math.log(preview.baseline_ppl))


def test_replay_rebuilds_byte_identical_certificate(services, store):
    out = certify_edit(_request("int8ish"), services)
    replayed = replay_certificate(store, out.run_id)
    assert c.to_bytes(replayed) == c.to_bytes(out.certificate)


def test_verify_passes_a_fresh_certificate_with_events(services, store):
    out = certify_edit(_request("int8ish"), services)
    report = verify_certificate(c.from_bytes(c.to_bytes(out.certificate)), store=store)
    assert [ch.name for ch in report.checks if not ch.ok] == []
    assert report.exit_code == 0


def test_different_tokenizers_abort_with_e002_and_record_run_failed(services, store):
    with pytest.raises(AbortError) as err:
        certify_edit(_request("other_tok"), services)
    assert err.value.code == "E002"
    run_id = store.run_ids()[0]
    types = _types(store, run_id)
    assert types[-1] == "run_failed"
    assert "windows_scored" not in types


def test_missing_subject_is_a_usage_error_recorded_as_run_failed(services, store):
    with pytest.raises(UsageError):
        certify_edit(_request("nope"), services)
    assert _types(store, store.run_ids()[0])[-1] == "run_failed"


def test_nan_weight_aborts_before_scoring(services, store, loader):
    import numpy as np

    loader.models["nan"] = loader.models["base"].__class__(
        ref="nan", weights={"w": np.full((4, 4), np.nan, np.float32)}
    )
    with pytest.raises(AbortError) as err:
        certify_edit(_request("nan"), services)
    assert err.value.code == "E402"
    assert "windows_scored" not in _types(store, store.run_ids()[0])


def test_a_nan_baseline_held_alone_aborts_naming_it_before_any_matrix_is_measured(services, store, loader):
    """The configs hunt: one model at a time, the baseline's matrices were measured before the invariants guard
    looked at them, and an eigensolver given a NaN raised LinAlgError (E999, the run left incomplete)."""
    import msgspec
    import numpy as np

    weights = dict(loader.models["base"].weights)
    weights["w"] = np.full_like(weights["w"], np.nan)
    loader.models["nanbase"] = loader.models["base"].__class__(ref="nanbase", weights=weights)
    config = small_config()
    r = msgspec.structs.replace
    config = r(config, model=r(config.model, id="nanbase"), eval=r(config.eval, sequential=True))
    request = CertifyRequest("certify", config, ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    with pytest.raises(AbortError) as err:
        certify_edit(request, services)
    assert err.value.code == "E402" and err.value.message.startswith("non-finite weights (baseline_weights_finite): w")
    types = _types(store, store.run_ids()[0])
    assert types[-1] == "run_failed" and "windows_scored" not in types


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # the fake edit's float32 of 1e308
def test_an_edit_that_overflows_the_weights_is_named_not_the_checkpoint(services) -> None:
    """scale_weight with factor 1e308 read "repair or re-export the checkpoint" (the fuzz hunt)."""
    edit = EditConfig(name="fake_weight", plan={"weight": "w", "factor": 1e308})
    request = CertifyRequest("run", small_config(edit), None, tier="balanced", profile="dev")
    with pytest.raises(AbortError) as err:
        certify_edit(request, services)
    assert err.value.message.startswith("non-finite weights (subject_weights_finite): w")
    assert err.value.hint == "check the edit fake_weight's edit.plan values (a factor too large?)"
    request = CertifyRequest("certify", small_config(edit), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    with pytest.raises(AbortError) as err:  # the subject checkpoint may have held them before the edit
        certify_edit(request, services)
    assert err.value.hint.endswith("(a factor too large?), or repair the subject checkpoint it was applied to")


def test_resume_skips_windows_already_scored(services, store, loader):
    from invarlock.application.certification.recorder import RunRecorder

    out = certify_edit(_request("int8ish"), services)
    records = store.read(out.run_id)
    recorder = RunRecorder(store, records)
    assert recorder.seq == len(records)
    assert recorder.head_hash == records[-1].hash


def test_unknown_tier_is_rejected_before_anything_is_written(services, store):
    with pytest.raises(UsageError) as err:
        certify_edit(_request("same", tier="lenient"), services)
    assert "unknown tier" in err.value.message
    assert store.run_ids() == []


def test_eval_batch_size_reaches_the_loader_for_both_models(services, loader):
    request = _request("same")
    config = msgspec.structs.replace(request.config, eval=msgspec.structs.replace(request.config.eval, batch_size=3))
    certify_edit(dataclasses.replace(request, config=config), services)
    assert loader.batch_sizes == [3, 3]


def test_eval_batch_size_below_one_is_refused_naming_the_key():
    from invarlock.application.config import parse_config

    with pytest.raises(UsageError) as err:
        parse_config({"eval": {"batch_size": 0}}, source="cfg.yaml")
    assert err.value.code == "E201" and "eval.batch_size" in err.value.one_line()


MATRIX_MISMATCHES = {  # a subject's weights against the fake baseline's one 4 x 4 matrix `w` -> the E002's words
    "an extra matrix": (
        {"w": np.ones((4, 4), np.float32), "x": np.ones((2, 4), np.float32)},
        "only the subject has x (2, 4)",
    ),
    "a missing matrix": ({}, "only the baseline has w (4, 4)"),
    "another shape": ({"w": np.ones((4, 2), np.float32)}, "baseline w (4, 4), subject w (4, 2)"),
}


@pytest.mark.parametrize(("subject_weights", "message"), MATRIX_MISMATCHES.values(), ids=MATRIX_MISMATCHES.keys())
def test_matrices_the_other_model_lacks_are_named_in_the_e002(services, loader, store, subject_weights, message):
    # An extra or missing matrix said only "the models have different numbers of matrices".
    loader.models["other_arch"] = FakeModel(ref="other_arch", weights=subject_weights)
    with pytest.raises(AbortError) as err:
        certify_edit(_request("other_arch"), services)
    assert err.value.code == "E002" and message in err.value.message
    assert _types(store, store.run_ids()[0])[-1] == "run_failed"


@pytest.mark.parametrize(("role", "ref"), [("baseline", "base"), ("subject", "int8ish")])
def test_a_kind_the_models_adapter_does_not_score_is_e104_before_any_load(services, loader, store, role, ref):
    # ppl_mlm on a causal LM stopped only once the preview arm was scored, blaming the adapter (E223, "report it").
    loader.kinds = {"base": ("fake", ("ppl_causal",)), "int8ish": ("fake", ("ppl_causal",))}
    certify_edit(_request("int8ish"), services)
    loaded = len(loader.loaded)
    loader.kinds[ref] = ("fake_mlm", ("ppl_mlm",))
    with pytest.raises(UsageError) as err:
        certify_edit(_request("int8ish"), services)
    assert err.value.code == "E104"
    assert err.value.message == (
        f"eval.metric.kind ppl_causal: the {role} {ref} runs on adapter fake_mlm, which scores ppl_mlm"
    )
    assert err.value.hint.startswith("set eval.metric.kind to ppl_mlm, or give a model whose adapter scores ppl_causal")
    assert len(loader.loaded) == loaded  # no weights were read
    assert _types(store, store.run_ids()[-1]) == ["run_started", "run_failed"]


def test_a_loader_that_does_not_tell_what_its_adapter_scores_is_not_asked_to(services, loader, store):
    loader.kinds = {"base": ("fake", ("ppl_causal",))}  # the subject's loader tells nothing: it is not refused
    outcome = certify_edit(_request("int8ish"), services)
    assert _types(store, outcome.run_id)[-1] == "run_completed"


@pytest.mark.parametrize(("role", "ref"), [("baseline", "base"), ("subject", "int8ish")])
def test_windows_longer_than_a_models_context_are_e201_before_anything_is_scored(services, loader, store, role, ref):
    # seq_len 32 (small_config): a model whose loader states 31 positions would have failed in its first forward
    # pass, after the guards; one of 32 takes it.
    loader.contexts = {"base": 32, "int8ish": 32}
    certify_edit(_request("int8ish"), services)
    loader.contexts[ref] = 31
    with pytest.raises(UsageError) as err:
        certify_edit(_request("int8ish"), services)
    assert err.value.code == "E201"
    assert err.value.message == f"dataset.seq_len 32 is longer than the {role} {ref}'s context of 31 positions"
    assert err.value.hint == "set dataset.seq_len to 31 or less"
    failed = store.run_ids()[-1]
    assert _types(store, failed) == ["run_started", "run_failed"]
    loader.contexts[ref] = 1  # no window of 2 tokens fits: the hint names the model's config, not a seq_len of 1
    with pytest.raises(UsageError) as err:
        certify_edit(_request("int8ish"), services)
    assert err.value.hint == f"no window fits: check {ref}'s config.json (max_position_embeddings)"
