"""Forgeries that used to verify with exit 0: each edits a certificate, reseals it with the project's own
functions, and expects the stated exit code (issue: close the verify loopholes)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import (
    DatasetConfig,
    EditConfig,
    EvalConfig,
    GuardsConfig,
    MetricConfig,
    ModelConfig,
    RunConfig,
)
from invarlock.application.report import render_report
from invarlock.application.verification.verify import verify_certificate
from invarlock.cli.bootstrap import report_renderer
from invarlock.domain import certificate as c
from invarlock.domain import gates
from invarlock.domain.policy import EvidencePolicy, policy_digest, policy_from_dict, resolve_policy

from tests.fakes.corpora import FakeCorpora, labelled_words, words
from tests.fakes.models import FakeModel
from tests.unit.conftest import small_config

Doc = dict[str, Any]


def _issue(services, subject: str | None = "int8ish", tier: str = "balanced", **cfg: Any) -> Doc:  # type: ignore[no-untyped-def]
    config = msgspec.structs.replace(small_config(), **cfg)
    req = CertifyRequest("certify", config, ModelConfig(id=subject) if subject else None, tier=tier, profile="dev")
    return json.loads(c.to_bytes(certify_edit(req, services).certificate))


def _reseal(doc: Doc) -> c.Certificate:
    return c.seal(c.from_bytes(json.dumps(doc).encode()))


def _failed(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [ch.name for ch in report.checks if not ch.ok]


def _forged(doc: Doc, check: str) -> None:
    report = verify_certificate(_reseal(doc))
    assert check in _failed(report), _failed(report)
    assert report.exit_code == 3


def test_a_chain_without_the_guards_the_tier_gates_fails_at_certify_and_at_verify(services) -> None:  # type: ignore[no-untyped-def]
    doc = _issue(services, tier="conservative", guards=GuardsConfig(order=["invariants", "invariants"]))
    assert doc["verdict"]["status"] == "FAIL"
    reasons = {f["flag"]: f["reason"] for f in doc["verdict"]["failed"]}
    for flag, guard in (("spectral_stable", "spectral"), ("rmt_stable", "rmt"), ("variance_ok", "variance")):
        assert doc["validation"][flag] is False
        assert f"guard {guard} is gated at tier conservative but did not run" in reasons[flag]
    assert doc["policy"]["resolved"]["guard_order"] == ["invariants", "invariants"]
    assert doc["policy"]["resolved"]["overrides"] == {"guard_order": ["invariants", "invariants"]}
    cert = c.from_bytes(json.dumps(doc).encode())
    report = verify_certificate(cert)
    assert _failed(report) == [] and report.exit_code == 1
    page = render_report(cert, report_renderer("md"))
    assert "**Overrides of the tier table**" in page and "| guard\\_order | invariants, invariants |" in page, page


def test_a_dropped_guard_section_is_an_integrity_failure(issued: Doc) -> None:
    del issued["guards"]["spectral"]
    report = verify_certificate(_reseal(issued))
    assert {"guard_order", "validation"} <= set(_failed(report)) and report.exit_code == 3


def _drop_spectral_consistently(doc: Doc) -> Doc:
    """The strongest forgery of a dropped guard: order, policy, digest, flags and verdict all rewritten."""
    order = ["invariants", "rmt", "variance", "invariants"]
    del doc["guards"]["spectral"]
    doc["provenance"]["config"]["guards"]["order"] = order
    policy = resolve_policy("balanced", "dev", guard_order=order)
    doc["policy"] = {"resolved": msgspec.to_builtins(policy), "digest": policy_digest(policy)}
    cert = c.from_bytes(json.dumps(doc).encode())
    flags, verdict = gates.of_certificate(cert, policy)  # no repair: no guard overhead
    doc["validation"], doc["verdict"] = flags, msgspec.to_builtins(verdict)
    return doc


def test_a_consistently_dropped_guard_fails_a_recipient_tier_that_gates_it(issued: Doc) -> None:
    cert = _reseal(_drop_spectral_consistently(issued))
    assert verify_certificate(cert).exit_code == 0  # self-consistent: the issuer's own policy did not gate it
    report = verify_certificate(cert, recipient=resolve_policy("conservative", "dev"))
    [check] = [ch for ch in report.checks if ch.name == "recipient_policy"]
    assert "guard spectral is gated at tier conservative but did not run" in check.detail
    assert report.exit_code == 1


@pytest.fixture
def issued(services) -> Doc:  # type: ignore[no-untyped-def]
    return _issue(services)


@pytest.fixture
def rollback(services) -> Doc:  # type: ignore[no-untyped-def]
    doc = _issue(services, subject="broken")
    assert doc["status"] == "rollback" and doc["evidence"]["final"] is None
    return doc


def _shift(ids: list[int]) -> None:
    ids[:] = [i + 100_000 for i in ids]


def test_window_plan_is_recomputed_for_every_certificate(issued: Doc, rollback: Doc) -> None:
    for doc in (issued, rollback):
        report = verify_certificate(c.from_bytes(json.dumps(doc).encode()))
        [check] = [ch for ch in report.checks if ch.name == "window_plan"]
        assert check.ok and "not recomputable" not in check.detail and report.exit_code == (0 if doc is issued else 1)


def test_shifted_final_window_ids_are_caught(issued: Doc) -> None:
    _shift(issued["evidence"]["final"]["window_ids"])
    _forged(issued, "window_plan")


def test_shifted_window_ids_in_a_rollback_certificate_are_caught(rollback: Doc) -> None:
    _shift(rollback["evidence"]["preview"]["window_ids"])
    _forged(rollback, "window_plan")


def test_shifted_unscored_plan_rows_of_a_rollback_certificate_are_caught(rollback: Doc) -> None:
    for row in rollback["evidence"]["plan"]:
        if row["arm"] == "final":
            row["window_id"] += 100_000
    _forged(rollback, "window_plan")


def test_plan_counts_and_calibration_rows_must_match_the_plan(issued: Doc) -> None:
    issued["dataset"]["windows"]["calibration"] += 1
    _forged(issued, "window_plan")


def test_variance_calibration_rows_must_be_the_plans(issued: Doc) -> None:
    calibration = issued["guards"]["variance"]["measurements"]["calibration"]
    _shift(calibration["window_ids"])
    _forged(issued, "window_plan")


def test_status_must_agree_with_the_evidence(issued: Doc, rollback: Doc) -> None:
    issued["status"] = "rollback"
    _forged(issued, "status")
    rollback["status"] = "completed"
    _forged(rollback, "status")


def test_edit_plan_digest_must_be_the_digest_of_the_plan(services) -> None:  # type: ignore[no-untyped-def]
    doc = _issue(services, subject=None, edit=EditConfig(name="fake_scale", plan={"factor": 1.001}))
    assert verify_certificate(c.from_bytes(json.dumps(doc).encode())).exit_code == 0
    doc["edit"]["plan"]["factor"] = 1.0
    _forged(doc, "edit_plan")


def test_tokens_scored_must_be_seq_len_minus_one(issued: Doc) -> None:
    final = issued["evidence"]["final"]
    final["tokens_scored"] = [t * 100 for t in final["tokens_scored"]]
    _forged(issued, "tokens_scored")


def test_bootstrap_seed_must_be_the_run_seed(issued: Doc) -> None:
    issued["bootstrap"]["seed"] += 1
    _forged(issued, "bootstrap_seed")


@pytest.mark.parametrize("where", ["dataset", "baseline", "subject"])
def test_the_tokenizer_digest_must_be_the_same_everywhere(issued: Doc, where: str) -> None:
    issued[where]["tokenizer_sha256"] = "0" * 64
    _forged(issued, "tokenizer")


def test_a_loosened_policy_is_not_its_tier(issued: Doc) -> None:
    issued["policy"]["resolved"]["gates"]["ratio_limit"] = 100
    issued["policy"]["digest"] = policy_digest(policy_from_dict(issued["policy"]["resolved"]))
    _forged(issued, "policy_resolved")


@pytest.mark.parametrize(
    ("forged_policy", "named"),
    [
        # A numeric gate override: only a recipient gives one (verify --policy), no run records one.
        (lambda: resolve_policy("balanced", "dev", {"ratio_limit": 1.5}), "ratio_limit"),
        (lambda: resolve_policy("balanced", "dev", {"catastrophe_ratio": 1000.0}), "catastrophe_ratio"),
        # A guard setting listed as an override that the run's config does not give.
        (lambda: resolve_policy("balanced", "dev", guard_overrides={"spectral": {"mode": "gate"}}), "guards"),
        # An evidence requirement is the recipient's too.
        (lambda: resolve_policy("balanced", "dev", evidence=EvidencePolicy(require_dtype="float32")), "evidence"),
    ],
)
def test_a_listed_override_no_run_records_is_refused_though_the_policy_is_its_tier_plus_it(
    issued: Doc, forged_policy: Any, named: str
) -> None:
    policy = forged_policy()
    issued["policy"] = {"resolved": msgspec.to_builtins(policy), "digest": policy_digest(policy)}
    report = verify_certificate(_reseal(issued))
    [check] = [ch for ch in report.checks if ch.name == "policy_resolved"]
    assert not check.ok and named in check.detail, check.detail
    assert report.exit_code == 3


def test_floors_are_validation_flags_under_ci(services) -> None:  # type: ignore[no-untyped-def]
    dataset = msgspec.structs.replace(small_config().dataset, seq_len=8, preview_n=180, final_n=180)
    config = msgspec.structs.replace(small_config(), dataset=dataset)
    req = CertifyRequest("certify", config, ModelConfig(id="int8ish"), tier="balanced", profile="ci")
    cert = certify_edit(req, services).certificate
    assert cert.validation["window_floor_met"] is True and cert.validation["ci_not_approximate"] is True
    assert cert.validation["token_floor_met"] is False  # 180 windows x 7 tokens < 50,000
    assert [f.flag for f in cert.verdict.failed] == ["token_floor_met"]
    report = verify_certificate(cert)
    assert _failed(report) == [] and report.exit_code == 1
    doc = json.loads(c.to_bytes(cert))
    doc["validation"]["token_floor_met"] = True
    doc["verdict"] = {"status": "PASS", "failed": []}
    _forged(doc, "validation")


@pytest.mark.parametrize("where", ["resolved", "gates"])
def test_a_key_the_policy_does_not_have_is_refused_not_dropped_from_the_digest(issued: Doc, where: str) -> None:
    """Decoding drops an unknown key, so the digest never covered it, while the report would show it as a row."""
    section = issued["policy"]["resolved"] if where == "resolved" else issued["policy"]["resolved"]["gates"]
    section["ratio_limit_applied_by_verifier"] = 1.5
    report = verify_certificate(_reseal(issued))
    [check] = [ch for ch in report.checks if ch.name == "policy_digest"]
    assert not check.ok and check.detail.endswith("ratio_limit_applied_by_verifier is not a policy key")
    assert report.exit_code == 3


def test_a_null_policy_section_is_said_to_be_null_not_an_unknown_key(issued: Doc) -> None:
    issued["policy"]["resolved"]["secondary"] = None  # "policy.resolved.secondary is not a policy key" (kinds hunt)
    report = verify_certificate(_reseal(issued))
    [check] = [ch for ch in report.checks if ch.name == "policy_digest"]
    said = "policy.resolved.secondary is null: a policy without that section leaves the key out"
    assert (check.ok, check.detail, report.exit_code) == (False, said, 3)


@pytest.mark.parametrize("config_stride", [None, 2])
def test_stride_zero_which_marks_labelled_examples_is_refused_for_windows_cut_from_a_stream(
    issued: Doc, config_stride: int | None
) -> None:
    # Stride 0 exempted the plan from the overlap and config-stride checks: a stream's windows 2 tokens apart
    # would otherwise pass as non-overlapping.
    assert issued["primary_metric"]["kind"] != "accuracy"
    if config_stride is not None:
        issued["provenance"]["config"]["dataset"]["stride"] = config_stride
    issued["dataset"]["stride"] = 0
    _forged(issued, "provenance")


@pytest.mark.parametrize("available", ["another digest", 2**62])
def test_arms_not_dealt_from_the_recorded_windows_available_are_refused(issued: Doc, available: object) -> None:
    # The genuine arms: the plan's ids are what the seed and dataset digest deal from windows_available.
    assert "arm_assignment" not in _failed(verify_certificate(_reseal(json.loads(json.dumps(issued)))))
    assert issued["dataset"]["duplicates_dropped"] == 0
    if available == "another digest":  # the same sizes dealt by another permutation
        issued["dataset"]["dataset_digest"] = "0" * 64
    else:
        issued["dataset"]["windows_available"] = available
    _forged(issued, "arm_assignment")  # never E999: 2**62 windows are not dealt again


def test_a_stride_other_than_seq_len_is_refused_when_the_run_config_left_it_out(issued: Doc) -> None:
    # The config's stride defaults to seq_len (effective_stride); only a config that named one was compared.
    assert issued["provenance"]["config"]["dataset"]["stride"] is None
    issued["dataset"]["stride"] = issued["dataset"]["seq_len"] + 1
    _forged(issued, "provenance")


def _swap_first_preview_and_final(doc: Doc) -> None:
    first = {arm: next(row for row in doc["evidence"]["plan"] if row["arm"] == arm) for arm in ("preview", "final")}
    first["preview"]["arm"], first["final"]["arm"] = "final", "preview"


@pytest.mark.parametrize("stream", ["as recorded", "longer by a window"])
def test_claiming_a_dropped_duplicate_no_longer_switches_off_the_window_id_check(issued: Doc, stream: str) -> None:
    # duplicates_dropped 1 once reduced arm_assignment to the arm sizes: windows could change arms freely.
    issued["dataset"]["duplicates_dropped"] = 1
    if stream == "longer by a window":  # the cut count agrees again: the ids must still follow the deal
        issued["dataset"]["stream_tokens"] += issued["dataset"]["stride"]
        assert "arm_assignment" not in _failed(verify_certificate(_reseal(json.loads(json.dumps(issued)))))
        _swap_first_preview_and_final(issued)
    _forged(issued, "arm_assignment")


def test_genuinely_dropped_duplicates_leave_ids_the_check_accepts() -> None:
    from types import SimpleNamespace

    import numpy as np
    from invarlock.application.verification.verify_arms import _ids_problem
    from invarlock.domain.arm_counts import ArmCounts
    from invarlock.domain.windows import plan_windows

    rng = np.random.default_rng(3)
    blocks = [rng.integers(0, 50_000, 16).astype(np.uint32) for _ in range(60)]
    stream = np.concatenate([blocks[i - 5] if i in (7, 20, 33, 52) else blocks[i] for i in range(60)])
    counts = ArmCounts(preview=20, final=20, calibration=8)
    plan, _ = plan_windows(
        stream, seq_len=16, stride=16, counts=counts, seed=5, dataset="d" * 64, tokenizer_sha256="t", allow_fewer=False
    )
    assert plan.duplicates_dropped == 4 and plan.windows_available == 56
    dataset = SimpleNamespace(windows_available=56, duplicates_dropped=4, dataset_digest="d" * 64)
    rows = [SimpleNamespace(window_id=w.window_id, arm=w.arm) for w in plan.windows]
    cert = SimpleNamespace(dataset=dataset, evidence=SimpleNamespace(plan=rows))
    assert _ids_problem(cert, counts, 5) is None  # type: ignore[arg-type]
    first = {arm: next(r for r in rows if r.arm == arm) for arm in ("preview", "final")}
    first["preview"].arm, first["final"].arm = "final", "preview"
    assert "windows are not the ones" in (_ids_problem(cert, counts, 5) or "")  # type: ignore[arg-type]


def _first_rmt_side(doc: Doc) -> Doc:
    side: Doc = doc["guards"]["rmt"]["measurements"]["matrices"][0]["subject"]
    return side


@pytest.mark.parametrize("field", ["outlier_threshold", "edge", "rows"])
def test_an_rmt_side_s_edge_and_threshold_follow_from_its_bulk_scale_and_shape(issued: Doc, field: str) -> None:
    # A forger could raise an outlier threshold (or shrink a matrix's shape) without touching any outcome.
    if field == "rows":
        issued["guards"]["rmt"]["measurements"]["matrices"][0]["rows"] += 1
    else:
        _first_rmt_side(issued)[field] *= 1.5
    _forged(issued, "guard:rmt")


@pytest.mark.parametrize(("rows", "cols"), [(-1, None), (None, -1), (None, 0), (2, None)])
def test_an_rmt_matrix_of_no_shape_is_refused_not_a_crash(issued: Doc, rows: int | None, cols: int | None) -> None:
    """Rows or cols below 1 (or cols above rows) reached a square root: ValueError, so E999 (a forger's sweep)."""
    matrix = issued["guards"]["rmt"]["measurements"]["matrices"][0]
    matrix["rows"] = matrix["rows"] if rows is None else rows
    matrix["cols"] = matrix["cols"] if cols is None else cols
    report = verify_certificate(_reseal(issued))
    [check] = [ch for ch in report.checks if ch.name == "guard:rmt"]
    assert report.exit_code == 3 and "is not the shape of a matrix with rows ≥ cols ≥ 1" in check.detail


@pytest.mark.parametrize("digest", ["a" * 64, "not hex"])
def test_a_repaired_weights_digest_without_an_a_b_pass_is_refused(issued: Doc, digest: str) -> None:
    measurements = issued["guards"]["variance"]["measurements"]
    assert measurements["ab"] is None and measurements["repaired_weights_sha256"] is None
    measurements["repaired_weights_sha256"] = digest
    _forged(issued, "guard:variance")


@pytest.fixture
def zero_shot(services, loader) -> Doc:  # type: ignore[no-untyped-def]
    """An accuracy run scored zero-shot: a prompt template and one label word per label."""
    loader.models["labels_subject"] = FakeModel(ref="labels_subject", quality=1.02)
    labelled = dataclasses.replace(services, corpora=FakeCorpora(words(10), labelled=labelled_words(120)))
    config = RunConfig(
        model=ModelConfig(id="base"),
        dataset=DatasetConfig(provider="labelled", seq_len=32, preview_n=40, final_n=60, calibration_n=0, seed=7),
        eval=EvalConfig(
            metric=MetricConfig(kind="accuracy", template="{text} Sentiment:", label_words=[" no", " yes"])
        ),
        guards=GuardsConfig(order=["invariants", "invariants"]),
    )
    request = CertifyRequest("certify", config, ModelConfig(id="labels_subject"), tier="balanced", profile="dev")
    doc: Doc = json.loads(c.to_bytes(certify_edit(request, labelled).certificate))
    assert "provenance" not in _failed(verify_certificate(_reseal(json.loads(json.dumps(doc)))))
    return doc


@pytest.mark.parametrize(
    ("key", "value"), [("label_words", [" yes"]), ("label_words", None), ("template", "{review} Sentiment:")]
)
def test_a_zero_shot_config_no_run_takes_is_refused(zero_shot: Doc, key: str, value: object) -> None:
    # The template and label words are stated, but only as a run takes them: both, two words or more, one {text}.
    zero_shot["provenance"]["config"]["eval"]["metric"][key] = value
    _forged(zero_shot, "provenance")


def test_a_prediction_with_no_label_word_is_refused(zero_shot: Doc) -> None:
    # The label words are the candidates a prediction picks from: a third class names no word of the run.
    words = zero_shot["provenance"]["config"]["eval"]["metric"]["label_words"]
    zero_shot["evidence"]["final"]["comparisons"][0]["subject_pred"] = len(words)
    _forged(zero_shot, "provenance")


def test_a_template_is_refused_for_a_kind_that_scores_no_prompts(issued: Doc) -> None:
    issued["provenance"]["config"]["eval"]["metric"] |= {"template": "{text}", "label_words": [" no", " yes"]}
    _forged(issued, "provenance")
