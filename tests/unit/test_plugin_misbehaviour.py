"""Misbehaving third-party code (adapters, tokenizers, corpora, edits) on the recorded-state fakes: each is
refused with one InvarLock error naming what broke its port's contract, the run records its failure after
events its replay accepts, and no certificate is issued from numbers the plugin had no right to give."""

from __future__ import annotations

import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.certification.recorder import RunRecorder
from invarlock.application.config import ModelConfig
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError
from invarlock.domain.run import replay

from tests.unit.conftest import small_config


def _request(subject: str) -> CertifyRequest:
    return CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id=subject), tier="balanced", profile="dev"
    )


def _events(store: InMemoryEventStore, run_id: str) -> list[ev.Event]:
    return [ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)]


def test_an_event_the_run_cannot_take_is_refused_before_it_is_stored(services, store) -> None:
    """A batch scoring a window twice used to be appended before the state refused it: the store then held a
    stream its replay rejects, and recording the failure met a sequence conflict (E503, 'another writer')."""
    run_id = certify_edit(_request("same"), services).run_id
    events = _events(store, run_id)
    cut = next(i for i, e in enumerate(events) if isinstance(e, ev.WindowsScored)) + 1
    fresh = InMemoryEventStore()
    recorder = RunRecorder(fresh, fresh.append(run_id, 0, events[:cut]))
    with pytest.raises(IntegrityError) as twice:
        recorder.record(events[cut - 1])  # the same windows scored again
    assert twice.value.code == "E604" and len(fresh.read(run_id)) == cut
    recorder.record_failure("2026-01-01T00:01:00.000000Z", twice.value.code, twice.value.message)
    state = replay(_events(fresh, run_id))
    assert state.failed is not None and state.failed.code == "E604"
