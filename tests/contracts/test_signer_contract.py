"""The Signer / SignatureVerifier contract, run against every signing adapter (Ed25519 and the recorded fake).

A new signing adapter joins the suite with one entry in `KEY_PAIRS`: a name and a function
`(tmp_path, name) -> (Signer, SignatureVerifier)` that makes a fresh key pair, different for each `name`.
Every test below then runs on it too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from invarlock.domain import signature as sig
from invarlock.ports.signing import SignatureVerifier, Signer

from tests.fakes.signing import FakeSignatureVerifier, FakeSigner

KeyPair = tuple[Signer, SignatureVerifier]
DATA = b'{"run_id": "run-1", "verdict": "PASS"}'


def ed25519_pair(tmp_path: Path, name: str) -> KeyPair:
    from invarlock.adapters.ed25519 import generate_keypair, load_signer, load_verifier, public_path

    path = tmp_path / name
    generate_keypair(path)
    return load_signer(path), load_verifier(public_path(path))


def fake_pair(tmp_path: Path, name: str) -> KeyPair:
    secret = name.encode()
    return FakeSigner(secret), FakeSignatureVerifier(secret)


KEY_PAIRS: dict[str, Callable[[Path, str], KeyPair]] = {"ed25519": ed25519_pair, "fake": fake_pair}


@pytest.fixture(params=sorted(KEY_PAIRS))
def make_pair(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], KeyPair]:
    return lambda name: KEY_PAIRS[request.param](tmp_path, name)


@pytest.fixture
def pair(make_pair: Callable[[str], KeyPair]) -> KeyPair:
    return make_pair("alice")


def _flip_first_bit(raw: bytes) -> bytes:
    return bytes([raw[0] ^ 1]) + raw[1:]


def test_signer_and_verifier_of_a_pair_share_a_sha256_fingerprint(pair: KeyPair) -> None:
    signer, verifier = pair
    assert sig.is_fingerprint(signer.fingerprint), signer.fingerprint
    assert signer.fingerprint == verifier.fingerprint


def test_different_keys_have_different_fingerprints(make_pair: Callable[[str], KeyPair]) -> None:
    (alice, _), (bob, _) = make_pair("alice"), make_pair("bob")
    assert alice.fingerprint != bob.fingerprint


def test_a_signature_is_64_bytes_and_the_same_for_the_same_data(pair: KeyPair) -> None:
    signer, _ = pair
    first = signer.sign(DATA)
    assert isinstance(first, bytes) and len(first) == sig.SIGNATURE_BYTES
    assert signer.sign(DATA) == first
    assert signer.sign(DATA + b" ") != first


def test_a_signature_survives_the_certificate_value_encoding(pair: KeyPair) -> None:
    signer, verifier = pair
    raw = signer.sign(DATA)
    assert sig.decode_value(sig.encode_value(raw)) == raw
    assert verifier.verify(DATA, raw) is True


def test_the_verifier_rejects_other_data_and_altered_signatures(pair: KeyPair) -> None:
    signer, verifier = pair
    raw = signer.sign(DATA)
    assert verifier.verify(DATA + b" ", raw) is False
    assert verifier.verify(DATA, _flip_first_bit(raw)) is False
    assert verifier.verify(DATA, raw[::-1]) is False


def test_the_verifier_rejects_a_signature_by_another_key(make_pair: Callable[[str], KeyPair]) -> None:
    (alice, _), (_, bob_verifier) = make_pair("alice"), make_pair("bob")
    assert bob_verifier.verify(DATA, alice.sign(DATA)) is False


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x00", b"\x00" * 63, b"\x00" * 64, b"\xff" * 64, b"\x00" * 65, b"not a signature", b"\x01" * 4096],
    ids=["empty", "one-byte", "63-zeros", "64-zeros", "64-ones", "65-zeros", "text", "4-KiB"],
)
def test_a_malformed_signature_is_false_never_an_exception(pair: KeyPair, bad: bytes) -> None:
    _, verifier = pair
    assert verifier.verify(DATA, bad) is False


def test_empty_data_signs_and_verifies(pair: KeyPair) -> None:
    signer, verifier = pair
    assert verifier.verify(b"", signer.sign(b"")) is True
    assert verifier.verify(b"x", signer.sign(b"")) is False
