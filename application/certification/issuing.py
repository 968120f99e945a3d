"""The pipeline's last recording steps: build, sign and record the certificate, complete the run, seal the chain."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import build_certificate
from invarlock.domain.errors import UsageError
from invarlock.domain.run import RunState
from invarlock.ports.signing import Signer

from ..services import Services
from ..signing import seal_chain, sign_certificate
from .recorder import RunRecorder


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
        seal(recorder, svc.signer)
    return cert


def awaits_seal(state: RunState) -> bool:
    """The run completed with a signed certificate but was killed before its chain_sealed event."""
    signed = state.issued is not None and state.issued.signature_key_fingerprint is not None
    return signed and state.completed is not None and state.sealed is None


def seal(recorder: RunRecorder, signer: Signer) -> None:
    """Append chain_sealed, signing the chain head (run_completed) with the key that signed the certificate."""
    issued = recorder.state.issued
    if issued is not None and issued.signature_key_fingerprint != signer.fingerprint:
        raise UsageError(
            "E406",
            f"run {recorder.run_id}'s certificate is signed by {issued.signature_key_fingerprint}, "
            f"not by the given key {signer.fingerprint}",
            "seal it with --sign-key of the key that signed it",
        )
    recorder.record(seal_chain(recorder.run_id, recorder.seq - 1, recorder.head_hash, signer))


def _issued(cert: c.Certificate) -> ev.CertificateIssued:
    s = cert.signature
    return ev.CertificateIssued(
        issued_at=cert.issued_at,
        certificate_digest=cert.digest,
        signature_key_fingerprint=None if s is None else s.key_fingerprint,
        signature_value=None if s is None else s.value,
    )
