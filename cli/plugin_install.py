"""The hint that names the plugin a certificate or run recorded: a pip command only for a well-formed name and version.

The recorded text (`plugin.<group>.<name>` in a provenance environment) comes from the certificate, which the
recipient has not yet checked when a missing plugin stops verify: it is never echoed as a command to run."""

from __future__ import annotations

import re
import shlex

# PEP 508 distribution names; versions as PEP 440 spells them (letters, digits, . + ! _ -), nothing a shell reads
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}")


def install_hint(recorded: str) -> str:
    """How to get the plugin `recorded` ("DISTRIBUTION VERSION") installed, to verify or replay a run."""
    distribution, _, version = recorded.partition(" ")
    if _NAME.fullmatch(distribution) and _VERSION.fullmatch(version):
        return f"install it (pip install {shlex.quote(f'{distribution}=={version}')}) to verify or replay this run"
    return (
        f"the certificate names it {recorded!r}, not a package name and version: ask its issuer which plugin computed "
        "it (and check the certificate's digest and signature)"
    )
