"""The events that end a certify or run stream: the certificate issued, the run completed or failed, and the
issuer's seal over the chain (docs/reference/event-chain.md)."""

from __future__ import annotations

from .event_struct import EventStruct


class CertificateIssued(EventStruct, tag="certificate_issued.v1", frozen=True):
    issued_at: str
    certificate_digest: str
    signature_key_fingerprint: str | None = None
    signature_value: str | None = None


class RunCompleted(EventStruct, tag="run_completed.v1", frozen=True):
    finished_at: str
    status: str
    verdict: str


class RunFailed(EventStruct, tag="run_failed.v1", frozen=True):
    failed_at: str
    code: str
    message: str


class ChainSealed(EventStruct, tag="chain_sealed.v1", frozen=True):
    """The issuer's Ed25519 signature over the chain head at completion (`seal_message`), appended last.

    `head_seq`/`head_hash` name the event it seals (run_completed); `signature` is base64 of 64 bytes.
    """

    head_seq: int
    head_hash: str
    key_fingerprint: str
    signature: str
