"""A handful of real run streams (the certify pipeline on the fake models) to fill any event store with.

The streams are certified once into an in-memory store whose clock never moves, so appending each whole stream
to another store in one batch with the same clock reproduces every hash, and so every certificate.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from dataclasses import dataclass

import msgspec
import numpy as np
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import EditConfig, ModelConfig
from invarlock.application.services import Services
from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError
from invarlock.ports.store import EventStore

from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, FakeScaleEdit, words
from tests.unit.conftest import small_config

RECORDED_AT = "2026-01-01T00:00:00.000000+00:00"
KILLED_AFTER = 3  # events kept of the killed run: run_started and both fingerprints


@dataclass(frozen=True)
class RunStreams:
    """Decoded streams by run id, in the order they were certified (each started one minute after the last)."""

    streams: dict[str, list[ev.Event]]

    def fill(self, store: EventStore) -> None:
        """Append every stream to `store` (whose clock must return RECORDED_AT), one batch per stream."""
        for run_id, events in self.streams.items():
            store.append(run_id, 0, events)


def _services(store: InMemoryEventStore) -> Services:
    models = {
        "base": FakeModel(ref="base"),
        "base-2": FakeModel(ref="base-2", weights={"w": np.full((4, 4), 2.0, np.float32)}),
        "int8ish": FakeModel(ref="int8ish", quality=1.002),
        "broken": FakeModel(ref="broken", quality=3.0),
    }
    ticks, ids = itertools.count(), itertools.count()
    return Services(
        loader=FakeLoader(models=models),
        corpora=FakeCorpora(words(120)),
        store=store,
        edits={"fake_scale": FakeScaleEdit()},
        clock=lambda: f"2026-01-01T00:{next(ticks):02d}:00.000000Z",
        new_run_id=lambda: f"run-{next(ids)}",
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
    )


@functools.cache  # one certification per test process; the streams are only read
def certified_streams() -> RunStreams:
    """Seven runs: PASS, FAIL (rollback), another baseline, an in-process edit (`run`), a failed run
    (its subject does not load), a killed run (it stops after the fingerprints) and a re-execution audit."""
    store = InMemoryEventStore(clock=lambda: RECORDED_AT)
    svc = _services(store)
    edit = EditConfig(name="fake_scale", plan={"factor": 1.001})
    requests = [
        CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev"),
        CertifyRequest("certify", small_config(), ModelConfig(id="broken"), tier="balanced", profile="dev"),
        CertifyRequest(
            "certify",
            msgspec.structs.replace(small_config(), model=ModelConfig(id="base-2")),
            ModelConfig(id="int8ish"),
            tier="balanced",
            profile="dev",
        ),
        CertifyRequest("run", small_config(edit), None, tier="balanced", profile="dev"),
        CertifyRequest("certify", small_config(), ModelConfig(id="missing"), tier="balanced", profile="dev"),
        CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev"),
    ]
    for request in requests:
        with contextlib.suppress(UsageError):  # the missing subject: recorded as run_failed
            certify_edit(request, svc)
    streams = {run_id: [_decoded(r) for r in store.read(run_id)] for run_id in store.run_ids()}
    killed = list(streams)[-1]
    streams[killed] = streams[killed][:KILLED_AFTER]
    streams["audit-1"] = [_audit_started(next(iter(streams)))]
    return RunStreams(streams=streams)


def _decoded(r: ev.RecordedEvent) -> ev.Event:
    return ev.decode_event(r.type, r.version, r.payload)


def _audit_started(run_id: str) -> ev.ReexecutionStarted:
    return ev.ReexecutionStarted(
        certificate_run_id=run_id, certificate_digest="0" * 64, baseline_ref="base", subject_ref="int8ish",
        sample=None, sample_seed=1, started_at="2026-01-02T00:00:00+00:00", tool_version="0.0.test",
        environment={}, exact=True, rel_tol=0.0, build_differences=[], sequential=False,
    )  # fmt: skip
