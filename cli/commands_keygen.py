"""`invarlock keygen --out PATH`: an Ed25519 key pair for signing certificates (the files are its output:
`invarlock --quiet keygen` prints nothing)."""

from __future__ import annotations

import os

import click
from invarlock.domain.errors import UsageError

from . import console
from .bootstrap import generate_keypair


@click.command("keygen")
@click.option("--out", "out", type=click.Path(), required=True, help="private key file; the public key goes to OUT.pub")
@click.option("--force", is_flag=True, help="overwrite OUT and OUT.pub if they exist")
def keygen_cmd(out: str, force: bool) -> None:
    """Write an Ed25519 key pair: OUT (private, mode 0600) and OUT.pub; print the key's fingerprint."""
    # a path would drop the slash and write OUT and OUT.pub beside the folder; an existing folder is no file
    # that --force could replace (E703's hint would send the user to --force, which then fails too)
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        raise UsageError("E704", f"cannot write key file '{out}': it names a folder", "pass a file name to --out")
    if out.endswith(".pub"):  # the private key would be the file named like a public one, the one handed out
        raise UsageError(
            "E704",
            f"--out {out} names the private key file, which would then end in .pub (and the public key {out}.pub)",
            f"pass --out {out.removesuffix('.pub') or 'KEY'}: the public key then goes to {out}",
        )
    fingerprint = generate_keypair(out, force=force)
    shown = console.printable(out)  # a newline or an escape sequence in the name must not reach the terminal
    console.say(f"Private key: {shown} (mode 0600)  — pass it to certify/run --sign-key; keep it secret")
    console.say(f"Public key:  {shown}.pub  — give it to verifiers: invarlock verify CERT --pubkey {shown}.pub")
    console.say(f"Fingerprint: {fingerprint}")
