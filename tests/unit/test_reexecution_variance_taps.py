"""The variance guard's taps are checked as a whole, like the weight guards' matrices. The audit re-measured a
sample of the taps the certificate listed: a resealed certificate keeping 5 of its 30 taps passed it (the forger
hunt), so a tap that showed a violation could be dropped. It now derives the taps certify takes of the models
(every FFN tap, or those the subject changed) and fails a tap left out or added. A certificate whose variance
guard tapped `changed` under a policy asking `all_ffn` (a recipient's, or a forged one) fails `variance_ok`."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain.guards.sections import GuardSections
from invarlock.domain.policy import resolve_policy

from tests.unit.test_recipient_policy import _certificate as _passing_certificate
from tests.unit.test_reexecution_audit import DOWN, _deps, _failed, _ve_certificate


def _with_taps(cert: c.Certificate, edit: Any) -> c.Certificate:
    guards = msgspec.to_builtins(cert.guards)
    edit(guards["variance"]["measurements"]["taps"])
    return c.seal(msgspec.structs.replace(cert, guards=msgspec.convert(guards, GuardSections)))


def _audit_failures(cert: c.Certificate, services: Any) -> dict[str, str]:
    request = ReexecutionRequest(baseline="ve_base", subject="ve_shrunk", sample=None, sample_seed=3)
    return _failed(reexecute_certificate(cert, request, _deps(services)))


def test_a_tap_left_out_of_the_certificate_fails_the_audit_naming_it(services, loader) -> None:
    cert = _ve_certificate(services, loader)
    assert [t.weight for t in cert.guards.variance.measurements.taps] == [DOWN], "the edit changed one FFN weight"
    failed = _audit_failures(_with_taps(cert, lambda taps: taps.clear()), services)
    assert list(failed) == ["reexec:guard:variance"]
    assert f"{DOWN}: the models have this tap (changed) and it is not listed" in failed["reexec:guard:variance"]


def test_a_tap_of_an_unchanged_weight_added_to_the_certificate_fails_the_audit(services, loader) -> None:
    cert = _ve_certificate(services, loader)
    failed = _audit_failures(_with_taps(cert, lambda taps: taps.append({**taps[0], "weight": "ffn.0.down"})), services)
    assert "ffn.0.down: not a tap of the models under targets changed" in failed["reexec:guard:variance"]


def test_the_honest_certificate_lists_exactly_the_taps_the_audit_derives(services, loader) -> None:
    assert _audit_failures(_ve_certificate(services, loader), services) == {}


def test_a_policy_asking_every_ffn_tap_fails_a_guard_that_tapped_the_changed_ones(services) -> None:
    cert = _passing_certificate(services)
    assert cert.verdict.status == "PASS" and cert.guards.variance.measurements.targets == "changed"
    strict = resolve_policy("balanced", "dev", guard_overrides={"variance": {"targets": "all_ffn", "mode": "gate"}})
    report = verify_certificate(cert, recipient=strict)
    [check] = [ch for ch in report.checks if ch.name == "recipient_policy"]
    assert not check.ok and "guard variance tapped targets changed, the policy asks all_ffn" in check.detail
    assert verify_certificate(cert, recipient=resolve_policy("balanced", "dev")).exit_code == 0
