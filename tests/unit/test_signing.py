"""Ed25519 signing with the real `cryptography` adapter and the fake models: sign, verify, tamper, replay."""

from __future__ import annotations

import dataclasses
import json

import msgspec
import pytest
from invarlock.adapters.ed25519 import generate_keypair, load_signer, load_verifier, public_path
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.replay.replay import read_stream, replay_certificate
from invarlock.application.verification.verify import verify_certificate
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain import signature as sig

from tests.unit.conftest import small_config


@pytest.fixture
def key(tmp_path):
    path = tmp_path / "key"
    generate_keypair(path)
    return path


def _certify(services, **kw):
    req = CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )
    return certify_edit(req, dataclasses.replace(services, **kw))


@pytest.fixture
def signed(services, key):
    return _certify(services, signer=load_signer(key))


def _check(report, name="signature"):
    return next(ch for ch in report.checks if ch.name == name)


def _failed(report):
    return [ch.name for ch in report.checks if not ch.ok]


def test_signed_certificate_verifies_with_the_matching_public_key(signed, key):
    verifier = load_verifier(public_path(key))
    report = verify_certificate(signed.certificate, verifier=verifier)
    assert _failed(report) == [] and report.exit_code == 0
    assert signed.certificate.signature.key_fingerprint == verifier.fingerprint
    assert "verified" in _check(report).detail


def test_signature_is_over_the_canonical_body_and_base64_encoded(signed, key):
    s = signed.certificate.signature
    raw = sig.decode_value(s.value)
    assert s.alg == "ed25519" and len(s.value) == 88 and raw is not None
    assert load_verifier(public_path(key)).verify(c.body_bytes(signed.certificate), raw)


def test_a_different_public_key_is_an_integrity_failure(signed, tmp_path):
    other = tmp_path / "other"
    generate_keypair(other)
    report = verify_certificate(signed.certificate, verifier=load_verifier(public_path(other)))
    assert _failed(report) == ["signature"] and report.exit_code == 3
    assert "not by the supplied sha256:" in _check(report).detail


def test_resealed_tampered_body_keeps_its_digest_valid_but_fails_the_signature(signed, key):
    doc = json.loads(c.to_bytes(signed.certificate))
    doc["subject"]["ref"] = "a-different-model"
    tampered = c.seal(c.from_bytes(json.dumps(doc).encode()))
    report = verify_certificate(tampered, verifier=load_verifier(public_path(key)))
    assert _failed(report) == ["signature"] and report.exit_code == 3
    assert "does not verify" in _check(report).detail


def test_signature_from_another_key_with_a_forged_fingerprint_fails(signed, key, tmp_path):
    other = tmp_path / "other"
    generate_keypair(other)
    forger = load_signer(other)
    value = sig.encode_value(forger.sign(c.body_bytes(signed.certificate)))
    forged = sig.attach(signed.certificate, signed.certificate.signature.key_fingerprint, value)
    report = verify_certificate(forged, verifier=load_verifier(public_path(key)))
    assert _failed(report) == ["signature"] and report.exit_code == 3


def test_require_signature_fails_an_unsigned_certificate(services):
    report = verify_certificate(_certify(services).certificate, require_signature=True)
    assert _failed(report) == ["signature"] and report.exit_code == 3


def test_a_public_key_fails_an_unsigned_certificate(services, key):
    report = verify_certificate(_certify(services).certificate, verifier=load_verifier(public_path(key)))
    assert _failed(report) == ["signature"] and report.exit_code == 3


def test_without_a_key_an_unsigned_certificate_says_unsigned(services):
    report = verify_certificate(_certify(services).certificate)
    assert report.exit_code == 0 and _check(report).detail == "unsigned" and not _check(report).integrity


def test_without_a_key_a_signature_is_reported_but_not_checked(signed):
    report = verify_certificate(signed.certificate, require_signature=True)
    fp = signed.certificate.signature.key_fingerprint
    assert report.exit_code == 0 and _check(report).detail == f"signed by {fp} (key not supplied, not checked)"


@pytest.mark.parametrize(
    "change",
    [
        {"alg": "rsa"},
        {"key_fingerprint": "sha256:xyz"},
        {"value": "not base64!"},
        {"value": sig.encode_value(b"\x00" * 63)},
    ],
)
def test_a_malformed_signature_fails_even_without_a_key(signed, change):
    bad = msgspec.structs.replace(signed.certificate.signature, **change)
    report = verify_certificate(msgspec.structs.replace(signed.certificate, signature=bad))
    assert _failed(report) == ["signature"] and report.exit_code == 3


def test_the_signature_is_recorded_in_the_certificate_issued_event(signed, store):
    decoded = [ev.decode_event(r.type, r.version, r.payload) for r in read_stream(store, signed.run_id)]
    issued = [e for e in decoded if isinstance(e, ev.CertificateIssued)]
    s = signed.certificate.signature
    assert [(i.signature_key_fingerprint, i.signature_value) for i in issued] == [(s.key_fingerprint, s.value)]


def test_replay_of_a_signed_run_is_byte_identical(signed, store, key):
    replayed = replay_certificate(store, signed.run_id)
    assert c.to_bytes(replayed) == c.to_bytes(signed.certificate)
    report = verify_certificate(signed.certificate, store=store, verifier=load_verifier(public_path(key)))
    assert _failed(report) == [] and report.exit_code == 0


def test_replay_of_an_unsigned_run_stays_unsigned(services, store):
    outcome = _certify(services)
    assert replay_certificate(store, outcome.run_id).signature is None


def test_events_check_fails_when_the_file_signature_differs_from_the_recorded_one(signed, store, tmp_path):
    other = tmp_path / "other"
    generate_keypair(other)
    resigned = sig.attach(
        signed.certificate, load_signer(other).fingerprint, sig.encode_value(load_signer(other).sign(b"x"))
    )
    report = verify_certificate(resigned, store=store)
    assert "events" in _failed(report) and report.exit_code == 3


def test_decode_value_accepts_only_canonical_base64_of_64_bytes():
    raw = bytes(range(64))
    assert sig.decode_value(sig.encode_value(raw)) == raw
    assert sig.encode_value(raw).endswith("Pw==")
    assert sig.decode_value(sig.encode_value(raw)[:-4] + "Px==") is None  # same bytes, non-zero padding bits
    assert sig.decode_value(sig.encode_value(raw + b"\x00")) is None
    assert sig.decode_value("é") is None
    assert sig.is_fingerprint(sig.fingerprint_of(b"\x01" * 32))


@pytest.mark.parametrize("which", ["key", "pub"])
def test_force_never_replaces_an_event_store_with_a_key(tmp_path, which):
    """`keygen --out store.duckdb --force` wrote a private key over the store and every run in it (stop-62 API
    hunt); `report`, `replay -o` and the certificate writers refused a DuckDB file already."""
    import shutil
    from pathlib import Path

    from invarlock.domain.errors import UsageError

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "invarlock.duckdb"
    key = tmp_path / "store.duckdb"
    target = key if which == "key" else public_path(key)
    shutil.copy(fixture, target)
    with pytest.raises(UsageError) as refused:
        generate_keypair(key, force=True)
    assert refused.value.code == "E704" and "it is a DuckDB database (an event store?)" in refused.value.message
    assert target.read_bytes() == fixture.read_bytes()
    assert not (public_path(key) if which == "key" else key).exists(), "neither file written"
