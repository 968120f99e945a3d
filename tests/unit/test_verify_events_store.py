"""verify --events with a store that lacks the certificate's run: the events check fails (exit 3: a store the run
was deleted from looks the same) and says what to pass instead; a certificate its events do not rebuild is named
where it differs."""

from __future__ import annotations

import msgspec
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.replay.replay import event_findings
from invarlock.application.services import Services
from invarlock.domain import certificate as c

from tests.unit.conftest import small_config


def test_a_store_without_the_run_fails_the_events_check_saying_which_store_to_pass(services: Services) -> None:
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    cert = certify_edit(request, services).certificate
    findings = dict(event_findings(cert, InMemoryEventStore()))
    assert not findings["events"].ok and findings["events"].detail.startswith(f"no run '{cert.run_id}'")
    assert "pass the event store the run was recorded in" in findings["events"].detail
    assert dict(event_findings(cert, services.store))["events"].ok


def test_the_events_check_names_where_a_resealed_certificate_differs_from_its_replay(services: Services) -> None:
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    issued = certify_edit(request, services).certificate
    moved = c.seal(msgspec.structs.replace(issued, issued_at="2099-01-01T00:00:00.000000Z"))
    found = dict(event_findings(moved, services.store))["events"]
    assert not found.ok and found.detail == "replay differs from the certificate at certificate.issued_at"
