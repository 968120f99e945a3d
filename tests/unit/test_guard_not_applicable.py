"""A matrix an adapter cannot map (issue 12 §1): each weight guard records it as one not_applicable row with
the side and the reason, measures the others, and verify re-derives the rows from the models' identities, so
a forged row (a mapped matrix claimed unmapped) or a removed one fails verify even after resealing."""

from __future__ import annotations

import json

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, GuardsConfig, ModelConfig, RunConfig
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.application.verification.verify import verify_certificate
from invarlock.application.verification.verify_guards import rederived_sections
from invarlock.domain import certificate as c
from invarlock.domain.guards.applicability import NotApplicable, not_applicable
from invarlock.domain.policy import policy_from_dict

from tests.fakes.models import FakeModel
from tests.fakes.reexecution import audit_deps

WHY = "initializer onnx::MatMul_9: no MatMul/Gemm/Gather pattern maps it to a model weight"
NAMES = ("attn.0", "attn.1", "ffn.0.down", "ffn.1.down", "ffn.2.down")
GUARDS = ("spectral", "rmt", "variance")


def _model(ref: str, unmapped: dict[str, str], scale: float = 1.0) -> FakeModel:
    weights = {n: np.full((4, 4), scale if n == "ffn.0.down" else 1.0, np.float32) for n in NAMES}
    return FakeModel(ref=ref, weights=weights, unmapped_weights=unmapped)


def _certify(services, loader, *, baseline: dict[str, str], subject: dict[str, str]) -> c.Certificate:
    loader.models["na_base"] = _model("na_base", baseline)
    loader.models["na_subj"] = _model("na_subj", subject, scale=0.9)
    config = RunConfig(
        model=ModelConfig(id="na_base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8),
        guards=GuardsConfig(variance={"targets": "all_ffn"}),
    )
    request = CertifyRequest(
        command="certify", config=config, subject=ModelConfig(id="na_subj"), tier="balanced", profile="dev"
    )
    return certify_edit(request, services).certificate


def _doc(cert: c.Certificate) -> dict:
    return json.loads(c.to_bytes(cert))


def _measured(doc: dict, guard: str) -> list[str]:
    m = doc["guards"][guard]["measurements"]
    return [t["weight"] for t in m["taps"]] if guard == "variance" else [x["name"] for x in m["matrices"]]


def test_a_matrix_the_subject_cannot_map_is_one_not_applicable_row_in_every_weight_guard(services, loader, store):
    cert = _certify(services, loader, baseline={}, subject={"ffn.1.down": WHY})
    doc = _doc(cert)
    for guard in GUARDS:
        rows = doc["guards"][guard]["measurements"]["not_applicable"]
        assert rows == [{"name": "ffn.1.down", "reason": f"subject: {WHY}"}], guard
        assert "ffn.1.down" not in _measured(doc, guard)
    assert set(_measured(doc, "spectral")) == set(NAMES) - {"ffn.1.down"}
    assert set(_measured(doc, "variance")) == {"ffn.0.down", "ffn.2.down"}
    assert doc["subject"]["unmapped"] == {"ffn.1.down": WHY} and "unmapped" not in doc["baseline"]
    assert doc["schema_version"] == "v2"
    assert doc["guards"]["invariants"]["verdict"] == "pass"  # the unmapped weight's layout is not compared
    report = verify_certificate(cert)
    assert report.ok, [(ch.name, ch.detail) for ch in report.checks if not ch.ok]
    assert c.to_bytes(replay_certificate(store, cert.run_id)) == c.to_bytes(cert)


def test_a_matrix_mapped_on_one_side_only_cannot_be_compared_and_names_that_side(services, loader):
    cert = _certify(services, loader, baseline={"attn.1": "b-reason", "ffn.2.down": "b2"}, subject={"ffn.2.down": "s2"})
    rows = _doc(cert)["guards"]["rmt"]["measurements"]["not_applicable"]
    assert rows == [
        {"name": "attn.1", "reason": "baseline: b-reason"},
        {"name": "ffn.2.down", "reason": "baseline: b2; subject: s2"},
    ]
    assert verify_certificate(cert).ok


def test_models_that_map_every_matrix_write_no_not_applicable_key(services, loader):
    doc = _doc(_certify(services, loader, baseline={}, subject={}))
    assert "not_applicable" not in json.dumps(doc["guards"]) and "unmapped" not in doc["subject"]


def test_not_applicable_rows_are_derived_by_name_from_both_sides():
    rows = not_applicable({"b": "why b", "a": "why a"}, {"a": "why a too"})
    assert rows == [
        NotApplicable(name="a", reason="baseline: why a; subject: why a too"),
        NotApplicable(name="b", reason="baseline: why b"),
    ]
    assert not_applicable({}, {}) == []


def _forged(cert: c.Certificate, guard: str, **measurements: object) -> c.Certificate:
    """`cert` with one guard's measurements changed, its outcome re-derived to match and the digest resealed:
    only the rows' agreement with the identities can give the forgery away."""
    section = cert.guards.of(guard)
    assert section is not None
    changed = msgspec.structs.replace(
        section, measurements=msgspec.structs.replace(section.measurements, **measurements)
    )
    guards = msgspec.structs.replace(cert.guards, **{guard: changed})
    cert = msgspec.structs.replace(cert, guards=guards)
    policy = policy_from_dict(cert.policy.resolved)
    return c.seal(msgspec.structs.replace(cert, guards=rederived_sections(cert, policy)))


def _guard_failure(cert: c.Certificate, guard: str) -> str:
    report = verify_certificate(cert)
    failed = {ch.name: ch.detail for ch in report.checks if not ch.ok}
    assert f"guard:{guard}" in failed and report.exit_code == 3, failed
    return failed[f"guard:{guard}"]


@pytest.mark.parametrize("guard", ["spectral", "rmt"])
def test_a_mapped_matrix_claimed_unmapped_to_dodge_a_guard_fails_verify(services, loader, guard):
    cert = _certify(services, loader, baseline={}, subject={"ffn.1.down": WHY})
    m = cert.guards.of(guard).measurements
    dodged = [x for x in m.matrices if x.name == "ffn.0.down"]
    forged = _forged(
        cert,
        guard,
        matrices=[x for x in m.matrices if x.name != "ffn.0.down"],
        not_applicable=[NotApplicable(name="ffn.0.down", reason=f"subject: {WHY}"), *m.not_applicable],
    )
    assert dodged and "differ from the matrices" in _guard_failure(forged, guard)


def test_a_removed_not_applicable_row_fails_verify(services, loader):
    cert = _certify(services, loader, baseline={}, subject={"ffn.1.down": WHY})
    for guard in GUARDS:
        assert "differ from the matrices" in _guard_failure(_forged(cert, guard, not_applicable=[]), guard)


def test_a_matrix_measured_although_an_identity_lists_it_unmapped_fails_verify(services, loader):
    cert = _certify(services, loader, baseline={}, subject={"ffn.1.down": WHY})
    subject = msgspec.structs.replace(cert.subject, unmapped={"ffn.1.down": WHY, "attn.0": WHY})
    forged = c.seal(msgspec.structs.replace(cert, subject=subject))
    report = verify_certificate(forged)
    assert {"guard:spectral", "guard:rmt", "guard:variance"} <= {ch.name for ch in report.checks if not ch.ok}


def _reexecute(cert: c.Certificate, services) -> dict[str, str]:
    """The re-execution audit (`verify --baseline --subject`) on the fakes: its failed findings."""
    deps = audit_deps(services.loader, services.corpora)
    request = ReexecutionRequest(baseline="na_base", subject="na_subj", sample=None, sample_seed=11)
    return {name: detail for name, ok, detail in reexecute_certificate(cert, request, deps).findings if not ok}


def test_reexecution_pairs_the_mapped_matrices_and_rechecks_the_unmapped_list(services, loader):
    cert = _certify(services, loader, baseline={}, subject={"ffn.1.down": WHY})
    assert _reexecute(cert, services) == {}
    m = cert.guards.of("spectral").measurements
    claimed = {"ffn.1.down": WHY, "ffn.0.down": WHY}  # identity and rows forged together: consistent on paper
    forged = msgspec.structs.replace(cert, subject=msgspec.structs.replace(cert.subject, unmapped=claimed))
    rows = not_applicable({}, claimed)
    forged = _forged(
        forged, "spectral", matrices=[x for x in m.matrices if x.name != "ffn.0.down"], not_applicable=rows
    )
    assert "unmapped weights" in _reexecute(forged, services)["reexec:subject_model"]


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_the_report_lists_each_guards_not_applicable_rows(services, loader, fmt):
    from invarlock.application import report
    from invarlock.cli.bootstrap import report_renderer

    cert = _certify(services, loader, baseline={"attn.1": "b-reason"}, subject={"ffn.1.down": WHY})
    page = report.render_report(cert, report_renderer(fmt))
    for guard in GUARDS:
        assert f"{guard} · not applicable (matrices a model cannot map)" in page
    assert page.count("subject: initializer onnx::MatMul") == 3 and page.count("baseline: b-reason") == 3


def test_invariants_leave_an_unmapped_weights_stored_layout_out_of_the_per_name_checks():
    from invarlock.domain.guards.invariants import comparison_checks
    from invarlock.domain.model import TensorCensus, TensorInfo

    def census(shape: tuple[int, int], unmapped: tuple[str, ...]) -> TensorCensus:
        info = TensorInfo(name="down.weight", dtype="float32", shape=shape, finite=True, all_zero=False)
        return TensorCensus(tensors=(info,), tied_groups=(), config_sha256="c", tokenizer_sha256="t", unmapped=unmapped)

    def failed(subject: TensorCensus) -> list[str]:
        checks = comparison_checks(census((2, 3), ()), subject, dtype_change_declared=False, limit=20)
        return [ch.name for ch in checks if ch.status == "fail"]

    assert failed(census((3, 2), ())) == ["same_shapes"]  # stored (in, out) by an adapter that cannot map it
    assert failed(census((3, 2), ("down.weight",))) == []
