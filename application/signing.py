"""Signing a certificate and sealing its run's chain when it is issued; the signature and seal checks of verify."""

from __future__ import annotations

from typing import NamedTuple

from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain import signature as sig
from invarlock.ports.signing import SignatureVerifier, Signer


def sign_certificate(cert: c.Certificate, signer: Signer) -> c.Certificate:
    """The sealed certificate with an Ed25519 signature over its canonical body (the bytes the digest hashes)."""
    raw = signer.sign(c.body_bytes(cert))
    return sig.attach(cert, signer.fingerprint, sig.encode_value(raw))


class SignatureFinding(NamedTuple):
    """Outcome of the `signature` check; `integrity` says whether a failure is an integrity failure (exit 3)."""

    ok: bool
    detail: str
    integrity: bool


def _malformed(s: c.Signature) -> str | None:
    if s.alg != sig.ALG:
        return f"unsupported signature alg '{s.alg}' (only {sig.ALG})"
    if not sig.is_fingerprint(s.key_fingerprint):
        return "key_fingerprint is not sha256:<64 hex>"
    if sig.decode_value(s.value) is None:
        return f"value is not base64 of a {sig.SIGNATURE_BYTES}-byte signature"
    return None


def check_signature(
    cert: c.Certificate, verifier: SignatureVerifier | None = None, *, required: bool = False
) -> SignatureFinding:
    """Check `cert.signature`: against `verifier` (a trusted public key) when given, else only its form.

    Without a trusted key a signature cannot prove origin, so it is reported, not checked. A missing
    signature fails when a key is given or `required`; otherwise the certificate is reported as unsigned.
    """
    s = cert.signature
    if s is None:
        if verifier is not None or required:
            return SignatureFinding(False, "unsigned, but a signature is required", True)
        return SignatureFinding(True, "unsigned", False)
    problem = _malformed(s)
    if problem is not None:
        return SignatureFinding(False, problem, True)
    if verifier is None:
        return SignatureFinding(True, f"signed by {s.key_fingerprint} (key not supplied, not checked)", False)
    if s.key_fingerprint != verifier.fingerprint:
        detail = f"signed by {s.key_fingerprint}, not by the supplied {verifier.fingerprint}"
        return SignatureFinding(False, detail, True)
    raw = sig.decode_value(s.value)
    if raw is None or not verifier.verify(c.body_bytes(cert), raw):
        return SignatureFinding(False, "ed25519 signature does not verify over the certificate body", True)
    return SignatureFinding(True, f"ed25519 signature by {s.key_fingerprint} verified", True)


def seal_chain(run_id: str, head_seq: int, head_hash: str, signer: Signer) -> ev.ChainSealed:
    """The chain_sealed event signing the run's head (its last event, run_completed) with `signer`."""
    raw = signer.sign(ev.seal_message(run_id, head_seq, head_hash))
    return ev.ChainSealed(
        head_seq=head_seq, head_hash=head_hash, key_fingerprint=signer.fingerprint, signature=sig.encode_value(raw)
    )


def check_seal(run_id: str, seal: ev.ChainSealed | None, verifier: SignatureVerifier) -> SignatureFinding:
    """Check the seal's Ed25519 signature over its head against the recipient's trusted key.

    The seal's place in the chain (it follows its head, whose hash it names) is checked by replay; this
    only says whether the trusted key signed it. A missing seal fails: the key holder's runs are sealed.
    """
    if seal is None:
        return SignatureFinding(False, f"run {run_id} has no chain seal, but a signed chain is required", True)
    if seal.key_fingerprint != verifier.fingerprint:
        detail = f"chain sealed by {seal.key_fingerprint}, not by the supplied {verifier.fingerprint}"
        return SignatureFinding(False, detail, True)
    raw = sig.decode_value(seal.signature)
    if raw is None or not verifier.verify(ev.seal_message(run_id, seal.head_seq, seal.head_hash), raw):
        return SignatureFinding(False, f"chain seal of run {run_id} does not verify over its head", True)
    return SignatureFinding(True, f"chain head seq {seal.head_seq} sealed by {seal.key_fingerprint}, verified", True)
