"""verify recomputes everything: any edit to evidence, numbers, flags or policy is an integrity failure."""

from __future__ import annotations

import json

import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.policy import resolve_policy

from tests.unit.conftest import small_config


@pytest.fixture
def issued(services, store):
    req = CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )
    return json.loads(c.to_bytes(certify_edit(req, services).certificate))


def _verify(doc: dict, **kw):
    return verify_certificate(c.from_bytes(json.dumps(doc).encode()), **kw)


def _failed(report) -> list[str]:
    return [ch.name for ch in report.checks if not ch.ok]


def test_untouched_certificate_verifies_with_exit_zero(issued):
    report = _verify(issued)
    assert _failed(report) == [] and report.exit_code == 0


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (
            lambda d: d["evidence"]["final"]["subject_nll"].__setitem__(
                0, d["evidence"]["final"]["subject_nll"][0] + 1e-6
            ),
            "digest",
        ),
        (lambda d: d["primary_metric"].__setitem__("ratio_vs_baseline", 1.0), "digest"),
        (lambda d: d["validation"].__setitem__("pairing_ok", False), "digest"),
        (lambda d: d["policy"]["resolved"]["gates"].__setitem__("ratio_limit", 9.0), "digest"),
    ],
)
def test_any_edit_without_resealing_fails_the_digest_check(issued, mutate, check):
    mutate(issued)
    report = _verify(issued)
    assert check in _failed(report) and report.exit_code == 3


def _reseal(doc: dict) -> dict:
    cert = c.from_bytes(json.dumps(doc).encode())
    return json.loads(c.to_bytes(c.seal(cert)))


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (
            lambda d: d["evidence"]["final"]["subject_nll"].__setitem__(
                0, d["evidence"]["final"]["subject_nll"][0] * 0.9
            ),
            "primary_metric",
        ),
        (lambda d: d["primary_metric"].__setitem__("ratio_vs_baseline", 1.0), "primary_metric"),
        (lambda d: d["validation"].__setitem__("pairing_ok", False), "validation"),
        (lambda d: d["verdict"].__setitem__("status", "FAIL"), "verdict"),
        (lambda d: d["policy"]["resolved"]["gates"].__setitem__("ratio_limit", 9.0), "policy_digest"),
        (lambda d: d["bootstrap"].__setitem__("key", "00" * 32), "bootstrap"),
        (lambda d: d["dataset"]["windows"].__setitem__("final", 99), "pairing"),
        (lambda d: d["guards"]["invariants"]["phases"]["post"].__setitem__("verdict", "fail"), "guard:invariants"),
    ],
)
def test_resealed_forgeries_are_caught_by_recomputation(issued, mutate, check):
    mutate(issued)
    report = _verify(_reseal(issued))
    assert check in _failed(report), _failed(report)
    assert report.exit_code == 3


def test_recipient_policy_decides_independently(issued):
    strict = resolve_policy("conservative", "dev", {"ratio_limit": 1.0001})
    report = _verify(issued, recipient=strict)
    assert report.verdict == "FAIL" and report.exit_code == 1
    assert "recipient_policy" in _failed(report)


def test_unknown_field_or_wrong_type_is_a_schema_error(issued):
    issued["surprise"] = 1
    with pytest.raises(UsageError) as err:
        c.from_bytes(json.dumps(issued).encode())
    assert err.value.code == "E601"


def test_a_policy_whose_json_differs_from_its_decoded_form_fails_though_its_digest_is_recomputed(issued):
    """The policy hunt: `catastrophe_ratio: 2` for 2.0 decodes to the same policy, so the digest recomputed over
    the decoded policy matched while the certificate's bytes, and sha256 over `resolved` as written, changed."""
    from invarlock.domain.policy import policy_digest, policy_from_dict

    resolved = issued["policy"]["resolved"]
    assert isinstance(resolved["gates"]["catastrophe_ratio"], float)
    resolved["gates"]["catastrophe_ratio"] = int(resolved["gates"]["catastrophe_ratio"])
    issued["policy"]["digest"] = policy_digest(policy_from_dict(resolved))
    report = _verify(_reseal(issued))
    [check] = [ch for ch in report.checks if ch.name == "policy_digest"]
    assert (check.ok, report.exit_code) == (False, 3)
    assert check.detail == "policy.resolved is not the canonical JSON of the policy it decodes to"
