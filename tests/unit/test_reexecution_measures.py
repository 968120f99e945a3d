"""The re-execution audit re-measures the paired measures (KL, top-1/top-5) of its sampled windows: a
certificate rebuilt from forged comparisons passes plain verify but fails the audit, naming the measure."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import DatasetConfig, ModelConfig, RunConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import build_certificate
from invarlock.domain.run import replay

from tests.unit.test_reexecution_audit import _audit, _failed


@pytest.fixture
def issued(services: Any) -> Any:
    config = RunConfig(
        model=ModelConfig(id="base"), dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12)
    )
    request = CertifyRequest("certify", config, ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    return certify_edit(request, services)


def _forged_agreement(store: Any, run_id: str, issued_at: str) -> c.Certificate:
    """Every window of the final arm claims one more disagreeing position: consistent, rebuilt and sealed."""
    forged: list[ev.Event] = []
    for e in (ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)):
        if isinstance(e, ev.CertificateIssued):
            break
        if isinstance(e, ev.WindowsCompared) and e.arm == "final":
            rows = [
                msgspec.structs.replace(
                    r, comparison=msgspec.structs.replace(r.comparison, top1_agree=r.comparison.top1_agree - 1)
                )
                for r in e.rows
            ]
            e = msgspec.structs.replace(e, rows=rows)
        forged.append(e)
    log = c.EventLogRef(run_id=run_id, head_hash="0" * 64, event_count=len(forged))
    return build_certificate(replay(forged), issued_at=issued_at, event_log=log)


def test_a_genuine_certificate_re_measures_its_kl_and_agreement_bit_for_bit(services: Any, issued: Any) -> None:
    outcome = _audit(issued.certificate, services)
    assert outcome.ok, _failed(outcome)


def test_forged_agreements_pass_plain_verify_but_fail_the_audit_naming_the_measure(
    services: Any, store: Any, issued: Any
) -> None:
    forged = _forged_agreement(store, issued.run_id, issued.certificate.issued_at)
    assert forged.secondary_metrics != issued.certificate.secondary_metrics
    assert verify_certificate(forged).exit_code == 0
    failed = _failed(_audit(forged, services, sample=3))
    assert set(failed) == {"reexec:scores:final"}
    assert (
        "top1_agree" in failed["reexec:scores:final"]
        and "3 of 3 re-scored windows differ" in failed["reexec:scores:final"]
    )
