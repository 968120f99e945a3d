"""Forgeries of a guard section's rows that used to verify with exit 0 (stop 38's leaf-by-leaf audit of an unsigned
certificate): a dropped invariants check, a weight listed twice or in no known family, weight guards that list
different matrices, an A/B pass over other windows. A row dropped consistently from both weight guards cannot be
seen without the models: the re-execution audit names it. Each forgery is resealed with the project's own
functions, outcomes, flags and verdict re-derived, as a forger would."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, EditConfig, GuardsConfig, ModelConfig, RunConfig
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.application.verification.verify import verify_certificate
from invarlock.application.verification.verify_guards import rederived_sections
from invarlock.domain import certificate as c
from invarlock.domain import gates
from invarlock.domain.guards import invariants
from invarlock.domain.policy import policy_digest, policy_from_dict

from tests.fakes.models import FakeModel
from tests.unit.conftest import small_config
from tests.unit.test_reexecution_audit import _deps
from tests.unit.test_reexecution_audit import _failed as _audit_failed

Doc = dict[str, Any]
DOWN = "ffn.2.down"


def _certificate(services: Any, loader: Any, factor: float, **guards: Any) -> c.Certificate:
    """`run` of a fake edit that scales DOWN by `factor` (0.97: VE repairs it, and spectral in gate mode fails it)."""
    config = RunConfig(
        model=ModelConfig(id="ve_base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8),
        edit=EditConfig(name="fake_weight", plan={"weight": DOWN, "factor": factor}),
        guards=GuardsConfig(**guards),
    )
    request = CertifyRequest(command="run", config=config, subject=None, tier="balanced", profile="dev")
    return certify_edit(request, services).certificate


def _doc(cert: c.Certificate) -> Doc:
    return dict(json.loads(c.to_bytes(cert)))


def _resealed(doc: Doc) -> c.Certificate:
    """The forger's last step: policy digest, every guard outcome, the flags and the verdict re-derived."""
    doc["policy"]["digest"] = policy_digest(policy_from_dict(doc["policy"]["resolved"]))
    cert = c.from_bytes(json.dumps(doc).encode())
    policy = policy_from_dict(cert.policy.resolved)
    cert = msgspec.structs.replace(cert, guards=rederived_sections(cert, policy))
    flags, verdict = gates.of_certificate(cert, policy)
    return c.seal(msgspec.structs.replace(cert, validation=flags, verdict=verdict))


def _rederive_invariants(doc: Doc) -> None:
    section = doc["guards"]["invariants"]
    for phase in section["phases"].values():
        phase["verdict"] = "fail" if any(ch["status"] == "fail" for ch in phase["checks"]) else "pass"
    section["verdict"] = "fail" if any(p["verdict"] == "fail" for p in section["phases"].values()) else "pass"


def _failed(cert: c.Certificate) -> dict[str, str]:
    report = verify_certificate(cert)
    assert report.exit_code in (0, 3)
    return {ch.name: ch.detail for ch in report.checks if not ch.ok}


@pytest.fixture
def failing(services: Any, loader: Any) -> c.Certificate:
    cert = _certificate(services, loader, 0.97, spectral={"mode": "gate"})
    assert cert.verdict.status == "FAIL" and "spectral_stable" in {f.flag for f in cert.verdict.failed}
    return cert


def _drop_down(doc: Doc, *guards: str) -> Doc:
    for guard in guards:
        rows = doc["guards"][guard]["measurements"]["matrices"]
        rows[:] = [row for row in rows if row["name"] != DOWN]
    return doc


def test_a_matrix_dropped_from_both_weight_guards_passes_verify_and_fails_the_audit(
    services: Any, loader: Any, failing: c.Certificate
) -> None:
    forged = _resealed(_drop_down(_doc(failing), "spectral", "rmt"))
    assert forged.verdict.status == "PASS" and _failed(forged) == {}  # consistent: no model, nothing to see
    request = ReexecutionRequest(baseline="ve_base", subject=None, sample=None, sample_seed=3)  # the edit re-applied
    failed = _audit_failed(reexecute_certificate(forged, request, _deps(services)))
    assert set(failed) == {"reexec:guard:spectral", "reexec:guard:rmt"}
    assert f"{DOWN}: the models have this matrix and the certificate does not list it" in failed["reexec:guard:rmt"]
    request = dataclasses.replace(request, sample=1)  # a sampled audit still checks the whole list
    assert set(_audit_failed(reexecute_certificate(forged, request, _deps(services)))) == set(failed)


def _listed_twice(doc: Doc) -> None:
    for guard in ("spectral", "rmt"):
        rows = doc["guards"][guard]["measurements"]["matrices"]
        rows.append(rows[0])


def _unknown_family(doc: Doc) -> None:
    for row in doc["guards"]["spectral"]["measurements"]["matrices"]:  # RMT's ε is per family: no outcome for zz
        row["family"] = "zz" if row["name"] == DOWN else row["family"]


def _other_ab_windows(doc: Doc) -> None:
    ab = doc["guards"]["variance"]["measurements"]["ab"]
    ab["window_ids"] = [-1 - i for i in ab["window_ids"]]


ROW_FORGERIES = {
    "dropped from spectral only": (lambda d: _drop_down(d, "spectral"), "guard:spectral", "spectral and rmt list"),
    "listed twice": (_listed_twice, "guard:spectral", "is listed twice"),
    "in an unknown family": (_unknown_family, "guard:spectral", "is in family 'zz', not one of"),
    "A/B pass on other windows": (_other_ab_windows, "guard:variance", "did not score the calibration windows"),
}


@pytest.mark.parametrize("case", sorted(ROW_FORGERIES))
def test_inconsistent_guard_rows_are_an_integrity_failure(services: Any, loader: Any, case: str) -> None:
    honest = _certificate(services, loader, 0.97)  # VE repairs it: an A/B pass is recorded
    assert honest.guards.variance is not None and honest.guards.variance.measurements.ab is not None
    forge, check, detail = ROW_FORGERIES[case]
    doc = _doc(honest)
    forge(doc)
    failed = _failed(_resealed(doc))
    assert detail in failed.get(check, ""), failed


def test_a_dropped_failing_invariants_check_is_an_integrity_failure(services: Any, loader: Any) -> None:
    loader.models["zeroed"] = FakeModel(ref="zeroed", weights={"w": np.zeros((4, 4), np.float32)})
    request = CertifyRequest("certify", small_config(), ModelConfig(id="zeroed"), tier="balanced", profile="dev")
    honest = certify_edit(request, services).certificate
    assert "invariants_pass" in {f.flag for f in honest.verdict.failed}
    doc = _doc(honest)
    post = doc["guards"]["invariants"]["phases"]["post"]
    post["checks"] = [ch for ch in post["checks"] if ch["name"] != "no_matrix_zeroed"]
    _rederive_invariants(doc)
    forged = _resealed(doc)
    assert "invariants_pass" not in {f.flag for f in forged.verdict.failed}
    assert "phase post lacks check no_matrix_zeroed" in _failed(forged)["guard:invariants"]
    request = ReexecutionRequest(baseline="base", subject="zeroed", sample=1, sample_seed=3)
    failed = _audit_failed(reexecute_certificate(forged, request, _deps(services)))
    assert "post.no_matrix_zeroed: the certificate does not list this check" in failed["reexec:guard:invariants"]


def test_the_audit_runs_the_invariants_checks_again(services: Any, loader: Any) -> None:
    cert = _certificate(services, loader, 0.97)
    request = ReexecutionRequest(baseline="ve_base", subject=None, sample=1, sample_seed=3)
    outcome = reexecute_certificate(cert, request, _deps(services))
    found = {name: (ok, detail) for name, ok, detail in outcome.findings}
    count = len(invariants.PRE_CHECKS) + len(invariants.POST_CHECKS)
    assert outcome.ok and found["reexec:guard:invariants"] == (True, f"{count} checks run again, all as recorded")


@pytest.mark.parametrize(
    ("status", "count", "offenders", "detail"),
    [("pass", 1, ["w"], "says pass"), ("fail", 2, ["w"], "lists 1 offenders of 2"), ("fail", 1, ["w", "w"], "lists")],
)
def test_a_check_whose_status_offenders_and_count_disagree_is_refused(
    issued_doc: Doc, status: str, count: int, offenders: list[str], detail: str
) -> None:
    check = issued_doc["guards"]["invariants"]["phases"]["post"]["checks"][0]
    check.update(status=status, offender_count=count, offenders=offenders, detail="x" if status == "fail" else "ok")
    _rederive_invariants(issued_doc)
    assert detail in _failed(_resealed(issued_doc))["guard:invariants"]


@pytest.fixture
def issued_doc(services: Any, loader: Any) -> Doc:
    return _doc(_certificate(services, loader, 0.97))


def test_an_invariants_section_in_another_mode_than_the_policys_is_refused(issued_doc: Doc) -> None:
    assert issued_doc["guards"]["invariants"]["mode"] == "gate"
    issued_doc["guards"]["invariants"]["mode"] = "monitor"
    assert "mode monitor is not the policy's gate" in _failed(_resealed(issued_doc))["guard:invariants"]


@pytest.mark.parametrize(
    ("order", "detail"),
    [
        (["invariants", "spectral", "rmt", "variance"], "must start and end with invariants"),
        (["invariants", "spectral", "rmt", "variance", "rmt", "invariants"], "names rmt twice"),
    ],
    ids=["no closing invariants", "a guard twice"],
)
def test_a_guard_order_no_run_takes_is_refused(issued_doc: Doc, order: list[str], detail: str) -> None:
    """A run refuses these orders (E201); stated by a certificate with the post phase dropped, they verified."""
    issued_doc["provenance"]["config"]["guards"]["order"] = order
    issued_doc["policy"]["resolved"]["guard_order"] = order
    issued_doc["policy"]["resolved"]["overrides"]["guard_order"] = order
    if order[-1] != "invariants":
        del issued_doc["guards"]["invariants"]["phases"]["post"]
        _rederive_invariants(issued_doc)
    assert detail in _failed(_resealed(issued_doc))["guard_order"]
