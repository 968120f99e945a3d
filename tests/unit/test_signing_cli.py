"""`invarlock keygen`, `verify --pubkey/--require-signature` and `--sign-key` through the real CLI (subprocess)."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from invarlock.adapters.ed25519 import generate_keypair, load_signer, load_verifier, public_path
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError

from tests.unit.conftest import small_config


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("INVARLOCK_DEBUG", None)
    cmd = [sys.executable, "-m", "invarlock", *map(str, args)]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _one_line_error(done, code, exit_code):
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == exit_code, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(lines) == 1 and lines[0].startswith(f"ERROR [INVARLOCK:{code}]") and " — " in lines[0], done.stderr


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_keygen_writes_a_0600_private_key_and_a_public_key_and_prints_the_fingerprint(tmp_path):
    done = _cli("keygen", "--out", "k", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _mode(tmp_path / "k") == 0o600 and _mode(tmp_path / "k.pub") == 0o644
    fingerprint = load_verifier(tmp_path / "k.pub").fingerprint
    assert load_signer(tmp_path / "k").fingerprint == fingerprint
    assert f"Fingerprint: {fingerprint}" in done.stdout


def test_keygen_refuses_to_overwrite_unless_forced(tmp_path):
    first = generate_keypair(tmp_path / "k")
    before = (tmp_path / "k").read_bytes()
    _one_line_error(_cli("keygen", "--out", "k", cwd=tmp_path), "E703", 2)
    assert (tmp_path / "k").read_bytes() == before
    (tmp_path / "k").chmod(0o644)
    done = _cli("keygen", "--out", "k", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _mode(tmp_path / "k") == 0o600 and load_signer(tmp_path / "k").fingerprint != first


def test_keygen_refuses_when_only_the_public_key_exists(tmp_path):
    (tmp_path / "k.pub").write_text("keep me")
    _one_line_error(_cli("keygen", "--out", "k", cwd=tmp_path), "E703", 2)
    assert not (tmp_path / "k").exists() and (tmp_path / "k.pub").read_text() == "keep me"


@pytest.fixture
def certs(services, tmp_path):
    """A signed and an unsigned certificate file, and the signer's key pair."""
    generate_keypair(tmp_path / "key")
    req = CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id="int8ish"), tier="balanced", profile="dev"
    )
    for name, signer in (("signed", load_signer(tmp_path / "key")), ("unsigned", None)):
        outcome = certify_edit(req, dataclasses.replace(services, signer=signer))
        (tmp_path / f"{name}.json").write_bytes(c.to_bytes(outcome.certificate))
    return tmp_path


def _signature_check(done):
    envelope = json.loads(done.stdout)
    return envelope["exit_code"], next(ch for ch in envelope["checks"] if ch["name"] == "signature")


def test_verify_with_the_signers_public_key_exits_zero(certs):
    code, check = _signature_check(_cli("verify", "signed.json", "--pubkey", "key.pub", "--json", cwd=certs))
    assert code == 0 and check["ok"] and "verified" in check["detail"]


def test_verify_with_another_public_key_exits_three(certs):
    generate_keypair(certs / "other")
    done = _cli("verify", "signed.json", "--pubkey", "other.pub", "--json", cwd=certs)
    code, check = _signature_check(done)
    assert done.returncode == 3 and code == 3 and not check["ok"]


def test_verify_require_signature_on_an_unsigned_certificate_exits_three(certs):
    done = _cli("verify", "unsigned.json", "--require-signature", cwd=certs)
    assert done.returncode == 3 and "FAIL  signature: unsigned" in done.stdout


def test_verify_without_flags_says_unsigned_or_names_the_signer(certs):
    unsigned = _cli("verify", "unsigned.json", cwd=certs)
    signed = _cli("verify", "signed.json", cwd=certs)
    assert unsigned.returncode == 0 and "ok    signature: unsigned" in unsigned.stdout
    assert signed.returncode == 0 and "(key not supplied, not checked)" in signed.stdout


@pytest.mark.parametrize(("pubkey", "code"), [("missing.pub", "E700"), ("key", "E702"), ("signed.json", "E701")])
def test_verify_with_a_bad_public_key_file_is_a_one_line_usage_error(certs, pubkey, code):
    _one_line_error(_cli("verify", "signed.json", "--pubkey", pubkey, cwd=certs), code, 2)


def test_certify_with_a_missing_sign_key_fails_before_anything_is_recorded(tmp_path):
    done = _cli(
        "certify", "--baseline", "m", "--subject", "m", "--sign-key", "nokey", "--events", "ev.duckdb", cwd=tmp_path
    )
    _one_line_error(done, "E700", 2)
    assert not (tmp_path / "ev.duckdb").exists()


def _write_public_key(path):
    generate_keypair(path.with_name("pair"))
    path.write_bytes(public_path(path.with_name("pair")).read_bytes())


def _write_ec_key(path):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (_write_public_key, "E702"),
        (lambda p: p.write_text("not a key"), "E701"),
        (lambda p: p.mkdir(), "E701"),
        (_write_ec_key, "E702"),
        (lambda p: None, "E700"),
    ],
)
def test_load_signer_rejects_bad_key_files_with_a_code(tmp_path, setup, code):
    path = tmp_path / "sk"
    setup(path)
    with pytest.raises(UsageError) as err:
        load_signer(path)
    assert err.value.code == code and "sk" in err.value.message


@pytest.mark.parametrize(
    ("setup", "code", "said"),
    [
        (lambda p: p.symlink_to(p.name), "E701", "is a link that loops"),  # "cannot be read … check its permissions"
        (lambda p: p.symlink_to("gone"), "E701", "is a link to gone, which does not exist"),  # "does not exist"
        (lambda p: p.parent.joinpath("file").write_text("x"), "E700", "does not exist"),  # "Not a directory"
    ],
    ids=["link loop", "dangling link", "under a file"],
)
def test_a_key_path_that_leads_nowhere_says_what_is_there(tmp_path, setup, code, said):
    path = tmp_path / "sk"
    setup(path)
    key = tmp_path / "file" / "sk" if code == "E700" else path
    with pytest.raises(UsageError) as err:
        load_signer(key)
    assert (err.value.code, err.value.message) == (code, f"signing key '{key}' {said}")


def test_load_verifier_rejects_a_private_key(tmp_path):
    generate_keypair(tmp_path / "k")
    with pytest.raises(UsageError) as err:
        load_verifier(tmp_path / "k")
    assert err.value.code == "E702"


@pytest.mark.parametrize(("load", "suffix"), [(load_verifier, ".pub"), (load_signer, "")])
def test_a_key_file_of_several_keys_is_refused(tmp_path, load, suffix):
    """The PEM parser reads the first block only, so a keyring would verify (or sign) with whichever key came
    first, whatever the recipient meant."""
    generate_keypair(tmp_path / "a")
    generate_keypair(tmp_path / "b")
    ring = tmp_path / f"ring{suffix}"
    ring.write_bytes((tmp_path / f"a{suffix}").read_bytes() + (tmp_path / f"b{suffix}").read_bytes())
    with pytest.raises(UsageError) as err:
        load(ring)
    assert err.value.code == "E701" and "holds 2 PEM blocks" in err.value.message and "ring" in err.value.message
    load(tmp_path / f"a{suffix}")  # one key alone still loads


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o602])
def test_a_signing_key_other_users_may_read_or_write_is_refused_naming_the_fix(tmp_path, mode):
    """The signing hunt: a world-readable private key signed with no word (OpenSSH refuses such keys)."""
    generate_keypair(tmp_path / "k")
    (tmp_path / "k").chmod(mode)
    with pytest.raises(UsageError) as refused:
        load_signer(tmp_path / "k")
    assert refused.value.code == "E701" and f"open to other users (mode {mode:04o})" in refused.value.message
    assert refused.value.hint == f"chmod 600 '{tmp_path / 'k'}'"
    (tmp_path / "k").chmod(0o400)
    assert load_signer(tmp_path / "k").fingerprint == load_verifier(tmp_path / "k.pub").fingerprint


def test_keygen_force_replaces_the_key_files_whole_leaving_a_hard_linked_copy_of_the_old_key(tmp_path):
    """The signing hunt: --force truncated the key in place, so a hard-linked backup lost the old key too, and a
    crash between truncating and writing left an empty key."""
    generate_keypair(tmp_path / "k")
    old = (tmp_path / "k").read_bytes()
    os.link(tmp_path / "k", tmp_path / "backup")
    done = _cli("keygen", "--out", "k", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "backup").read_bytes() == old and (tmp_path / "k").read_bytes() != old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup", "k", "k.pub"]  # no staged file left
    assert _mode(tmp_path / "k") == 0o600 and _mode(tmp_path / "k.pub") == 0o644


def test_keygen_prints_a_name_with_a_newline_escaped(tmp_path):
    done = _cli("keygen", "--out", "new\nline.key", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 3 and "new\\nline.key.pub" in done.stdout, done.stdout
    assert (tmp_path / "new\nline.key").is_file()
