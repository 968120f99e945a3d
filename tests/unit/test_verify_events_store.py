"""verify --events with a store that lacks the certificate's run: the events check fails (exit 3: a store the run
was deleted from looks the same) and says what to pass instead."""

from __future__ import annotations

from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.replay.replay import event_findings
from invarlock.application.services import Services

from tests.unit.conftest import small_config


def test_a_store_without_the_run_fails_the_events_check_saying_which_store_to_pass(services: Services) -> None:
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    cert = certify_edit(request, services).certificate
    findings = dict(event_findings(cert, InMemoryEventStore()))
    assert not findings["events"].ok and findings["events"].detail.startswith(f"no run '{cert.run_id}'")
    assert "pass the event store the run was recorded in" in findings["events"].detail
    assert dict(event_findings(cert, services.store))["events"].ok
