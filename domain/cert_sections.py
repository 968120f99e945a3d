"""The certificate's plain sections: tool, pairing, bootstrap, policy, verdict and signature (the edit and
dataset: cert_inputs.py; docs/reference/certificate.md). Re-exported by domain/certificate.py."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Flag = bool | Literal["not_applicable"]
_FIX = "pass the evaluation.cert.json that invarlock wrote, unaltered"


class _S(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Tool(_S, frozen=True):
    name: str
    version: str


class PairingSection(_S, frozen=True):
    match_fraction: float
    overlap_fraction: float
    paired_windows: int
    reason: str | None


class BootstrapSection(_S, frozen=True):
    method: str
    replicates: int
    alpha: float
    generator: str
    seed: int
    key: str


class PolicySection(_S, frozen=True):
    resolved: dict[str, Any]
    digest: str


class FailedFlag(_S, frozen=True):
    flag: str
    reason: str


class VerdictSection(_S, frozen=True):
    status: Literal["PASS", "FAIL"]
    failed: list[FailedFlag]


class Signature(_S, frozen=True):
    alg: str
    key_fingerprint: str
    value: str
