"""replay_certificate: rebuild a certificate from a run's events alone."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain import signature
from invarlock.domain.build import build_certificate
from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.run import replay
from invarlock.ports.store import EventStore


def read_stream(store: EventStore, run_id: str) -> list[ev.RecordedEvent]:
    records = store.read(run_id)
    if not records:
        raise UsageError("E404", f"no run '{run_id}' in the event store", "list runs with `invarlock runs`")
    return records


def replay_certificate(store: EventStore, run_id: str) -> c.Certificate:
    """Fold the events before CertificateIssued and build the certificate; its digest must match the event's.

    A signature recorded in the CertificateIssued event is put back, so the bytes equal the issued file's.
    """
    records = read_stream(store, run_id)
    problems = ev.chain_problems(records)
    if problems:
        raise IntegrityError("E603", f"event chain broken: {problems[0]}", "the event store was altered")
    decoded = [ev.decode_event(r.type, r.version, r.payload) for r in records]
    at = next((i for i, e in enumerate(decoded) if isinstance(e, ev.CertificateIssued)), None)
    if at is None:
        raise UsageError(
            "E405",
            f"run '{run_id}' has no certificate (it is incomplete or failed)",
            f"re-run it; `invarlock events {run_id}` shows how far it got",
        )
    issued = decoded[at]
    assert isinstance(issued, ev.CertificateIssued)
    tail = [type(e).__name__ for e in decoded[at + 1 :]]
    if tail not in ([], ["RunCompleted"]):
        raise IntegrityError(
            "E603",
            f"event chain of run {run_id} continues after its certificate: {', '.join(tail)} (seq {at + 1}..)",
            "events were appended to a finished run; the event store was altered",
        )
    state = replay(decoded[:at])
    ref = c.EventLogRef(run_id=run_id, head_hash=records[at - 1].hash, event_count=at)
    cert = signature.restore(build_certificate(state, issued_at=issued.issued_at, event_log=ref), issued)
    if cert.digest != issued.certificate_digest:
        raise IntegrityError(
            "E603",
            f"replayed certificate digest {cert.digest[:16]} differs from the issued {issued.certificate_digest[:16]}",
            "the events or the tool version changed",
        )
    return cert
