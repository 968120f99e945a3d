"""Signing ports: who signs a certificate's canonical body, and who checks a signature against a trusted key."""

from __future__ import annotations

from typing import Protocol


class Signer(Protocol):
    """A private signing key (Ed25519 in the shipped adapter)."""

    @property
    def fingerprint(self) -> str:
        """`sha256:` + hex sha256 of the raw public key that verifies this signer's signatures."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The raw signature over `data` (64 bytes for Ed25519; deterministic for the same key and data)."""
        ...


class SignatureVerifier(Protocol):
    """A trusted public key supplied by the recipient."""

    @property
    def fingerprint(self) -> str:
        """`sha256:` + hex sha256 of the raw public key."""
        ...

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True when `signature` (raw bytes) is this key's valid signature over `data`; never raises for a bad one."""
        ...
