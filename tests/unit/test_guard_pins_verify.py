"""A guard setting stated in the config (a pin: the tier's own value, as InvarLock 0.3.7 configs state their
thresholds) is recorded in the policy's overrides; verify re-resolves it, so a resealed certificate that
claims another value for it fails."""

from __future__ import annotations

import json

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import GuardsConfig, ModelConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain.policy import policy_digest, policy_from_dict

from tests.unit.conftest import small_config

PINS = {"variance": {"deadband": 0.02, "min_effect": 0.0009, "sided": "one"}, "rmt": {"mode": "monitor"}}


@pytest.fixture
def issued(services, store):
    cfg = msgspec.structs.replace(small_config(), guards=GuardsConfig(variance=PINS["variance"], rmt=PINS["rmt"]))
    req = CertifyRequest(
        command="certify", config=cfg, subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )
    return json.loads(c.to_bytes(certify_edit(req, services).certificate))


def _verify_resealed(doc: dict):
    cert = c.from_bytes(json.dumps(doc).encode())
    return verify_certificate(c.from_bytes(c.to_bytes(c.seal(cert))))


def test_pins_are_recorded_and_the_certificate_verifies(issued):
    assert issued["policy"]["resolved"]["overrides"]["guards"] == PINS
    report = verify_certificate(c.from_bytes(json.dumps(issued).encode()))
    assert [ch.name for ch in report.checks if not ch.ok] == []


@pytest.mark.parametrize("where", ["overrides", "both"])
def test_a_resealed_certificate_claiming_another_pinned_value_fails(issued, where):
    resolved = issued["policy"]["resolved"]
    resolved["overrides"]["guards"]["variance"]["min_effect"] = 0.5
    if where == "both":
        resolved["guards"]["variance"]["min_effect"] = 0.5
    issued["policy"]["digest"] = policy_digest(policy_from_dict(resolved))  # a careful forger
    report = _verify_resealed(issued)
    failed = {ch.name: ch.detail for ch in report.checks if not ch.ok}
    assert list(failed) == ["policy_resolved"] and report.exit_code == 3
    assert "differs from the balanced tier's 0.0009" in failed["policy_resolved"]
