"""Ed25519 signature values of a certificate: fingerprints, the value encoding, attaching and restoring.

The signature is over `certificate.body_bytes(cert)` (the bytes the digest hashes). Its `value` is the raw
64-byte Ed25519 signature in standard base64 (RFC 4648 §4, with padding, 88 characters). The signing and
checking themselves happen in an adapter (`ports.signing`); this module only names and encodes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

import msgspec

from . import certificate as c
from . import events as ev

ALG = "ed25519"
SIGNATURE_BYTES = 64
_FINGERPRINT = re.compile(r"sha256:[0-9a-f]{64}")


def fingerprint_of(raw_public_key: bytes) -> str:
    """`sha256:` + hex sha256 of the raw 32-byte public key."""
    return "sha256:" + hashlib.sha256(raw_public_key).hexdigest()


def is_fingerprint(text: str) -> bool:
    """Whether `text` has the form `fingerprint_of` gives: `sha256:` and 64 lowercase hex digits."""
    return _FINGERPRINT.fullmatch(text) is not None


def encode_value(raw: bytes) -> str:
    """The `signature.value` text of a raw signature: standard base64 with padding."""
    return base64.b64encode(raw).decode("ascii")


def decode_value(value: str) -> bytes | None:
    """The raw 64-byte signature, or None when `value` is not canonical base64 of exactly 64 bytes."""
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None
    if len(raw) != SIGNATURE_BYTES or encode_value(raw) != value:
        return None
    return raw


def attach(cert: c.Certificate, fingerprint: str, value: str) -> c.Certificate:
    """The certificate with its `signature` section set (the digest is unchanged: it excludes the signature)."""
    return msgspec.structs.replace(cert, signature=c.Signature(alg=ALG, key_fingerprint=fingerprint, value=value))


def restore(cert: c.Certificate, issued: ev.CertificateIssued) -> c.Certificate:
    """Put back the signature recorded in the CertificateIssued event (replay); unsigned runs stay unsigned."""
    if issued.signature_value is None or issued.signature_key_fingerprint is None:
        return cert
    return attach(cert, issued.signature_key_fingerprint, issued.signature_value)
