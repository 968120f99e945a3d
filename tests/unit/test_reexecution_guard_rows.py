"""The audit re-measures every guard row, whatever the window sample (the guard forgery hunt): one forged row
flipped a verdict and a sample of 16 of 211 matrices missed it 92 % of the time; VE's `repaired` taps, which
decide the variance verdict once VE is enabled, were never re-measured; a made-up matrix row was checked only
when the sample drew it."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.application.verification.reexecute import reexecute_certificate
from invarlock.application.verification.reexecute_request import ReexecutionRequest
from invarlock.domain import certificate as c
from invarlock.domain.guards.sections import GuardSections

from tests.unit.test_reexecution_audit import _deps, _failed, _ve_certificate


def _forged(cert: c.Certificate, edit: Any) -> c.Certificate:
    guards = msgspec.to_builtins(cert.guards)
    edit(guards)
    return c.seal(msgspec.structs.replace(cert, guards=msgspec.convert(guards, GuardSections)))


def _audit(cert: c.Certificate, services: Any) -> dict[str, str]:
    request = ReexecutionRequest(baseline="ve_base", subject="ve_shrunk", sample=1, sample_seed=3)
    return _failed(reexecute_certificate(cert, request, _deps(services)))


def test_a_sample_of_one_window_still_re_measures_every_guard_row(services, loader) -> None:  # type: ignore[no-untyped-def]
    cert = _ve_certificate(services, loader)
    for row in range(6):

        def altered(guards: Any, row: int = row) -> None:
            guards["spectral"]["measurements"]["matrices"][row]["sigma_subject"] *= 1.001

        failed = _audit(_forged(cert, altered), services)
        assert list(failed) == ["reexec:guard:spectral"] and "1 of 6 differ" in failed["reexec:guard:spectral"]


def test_forged_repaired_taps_fail_the_variance_re_measurement(services, loader) -> None:  # type: ignore[no-untyped-def]
    cert = _ve_certificate(services, loader)

    def healed(guards: Any) -> None:
        for tap in guards["variance"]["measurements"]["taps"]:
            tap["repaired"] = tap["baseline"]

    failed = _audit(_forged(cert, healed), services)
    assert list(failed) == ["reexec:guard:variance"], failed
    assert "ffn.2.down (repaired) at std" in failed["reexec:guard:variance"]


def test_a_made_up_matrix_row_fails_whatever_the_sample(services, loader) -> None:  # type: ignore[no-untyped-def]
    cert = _ve_certificate(services, loader)

    def added(guards: Any) -> None:
        rows = guards["rmt"]["measurements"]["matrices"]
        rows.append({**rows[0], "name": "ffn.9.extra"})

    failed = _audit(_forged(cert, added), services)
    assert "ffn.9.extra: the models have no such matrix" in failed["reexec:guard:rmt"], failed


def test_forged_a_b_sums_that_would_enable_ve_fail_the_variance_re_measurement(services, loader) -> None:  # type: ignore[no-untyped-def]
    """The regression hunt: `ab.nll_with` lowered (so that VE looked to help and was enabled) passed the audit,
    which did not score the A/B pass again."""
    cert = _ve_certificate(services, loader)

    def helped(guards: Any) -> None:
        ab = guards["variance"]["measurements"]["ab"]
        ab["nll_with"] = [nll - 0.02 * tokens for nll, tokens in zip(ab["nll_with"], ab["tokens"], strict=True)]

    failed = _audit(_forged(cert, helped), services)
    assert "the A/B pass at nll_with" in failed["reexec:guard:variance"], failed
