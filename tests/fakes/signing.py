"""A recorded-state fake of the signing ports: HMAC-SHA512 under a shared secret stands in for a key pair."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from invarlock.domain.signature import fingerprint_of


def _fingerprint(secret: bytes) -> str:
    return fingerprint_of(hashlib.sha256(b"fake-public-key:" + secret).digest())


def _mac(secret: bytes, data: bytes) -> bytes:
    return hmac.new(secret, data, hashlib.sha512).digest()  # 64 bytes, like an Ed25519 signature


@dataclass
class FakeSigner:
    """Signs with HMAC-SHA512 under `secret`; `signed` records every message it signed."""

    secret: bytes
    signed: list[bytes] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.secret)

    def sign(self, data: bytes) -> bytes:
        self.signed.append(data)
        return _mac(self.secret, data)


@dataclass
class FakeSignatureVerifier:
    """Accepts exactly the FakeSigner signatures made under the same `secret`; `checked` records each call."""

    secret: bytes
    checked: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.secret)

    def verify(self, data: bytes, signature: bytes) -> bool:
        self.checked.append((data, signature))
        return hmac.compare_digest(_mac(self.secret, data), signature)
