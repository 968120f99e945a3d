"""The pipeline's last recording step: build, sign and record the certificate, complete the run."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import build_certificate

from .recorder import RunRecorder
from .services import Services
from .signing import seal_chain, sign_certificate


def issue(recorder: RunRecorder, svc: Services) -> c.Certificate:
    """Build, seal, sign (with `svc.signer`) and record the certificate, complete the run and, when signing,
    append a chain_sealed event signing the chain head (run_completed)."""
    ref = c.EventLogRef(run_id=recorder.run_id, head_hash=recorder.head_hash, event_count=recorder.seq)
    cert = build_certificate(recorder.state, issued_at=svc.clock(), event_log=ref)
    if svc.signer is not None:
        cert = sign_certificate(cert, svc.signer)
    completed = ev.RunCompleted(finished_at=svc.clock(), status=cert.status, verdict=cert.verdict.status)
    recorder.record(_issued(cert), completed)  # one transaction: no certificate without its completion
    if svc.signer is not None:
        recorder.record(seal_chain(recorder.run_id, recorder.seq - 1, recorder.head_hash, svc.signer))
    return cert


def _issued(cert: c.Certificate) -> ev.CertificateIssued:
    s = cert.signature
    return ev.CertificateIssued(
        issued_at=cert.issued_at,
        certificate_digest=cert.digest,
        signature_key_fingerprint=None if s is None else s.key_fingerprint,
        signature_value=None if s is None else s.value,
    )
