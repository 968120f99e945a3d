"""The certificate's plain sections: tool, edit, dataset, pairing, bootstrap, policy, verdict and signature
(docs/reference/certificate.md). Re-exported by domain/certificate.py."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .model import CorpusInfo, EditDeltas

Flag = bool | Literal["not_applicable"]
_FIX = "pass the evaluation.cert.json that invarlock wrote, unaltered"


class _S(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class Tool(_S, frozen=True):
    name: str
    version: str


class EditSection(_S, frozen=True):
    """The recorded edit's EditOutcome fields, or only `name="external"` when the subject came as is."""

    name: str
    plan: dict[str, Any] | None = None
    plan_digest: str | None = None
    deltas: EditDeltas | None = None


class ArmCount(_S, frozen=True):
    preview: int
    final: int
    calibration: int


class DatasetSection(_S, frozen=True, omit_defaults=True):
    """The corpus (CorpusInfo fields), the window plan's fields but its windows, and the windows per arm."""

    provider: str
    split: str
    source: str
    licence: str
    seq_len: int
    stride: int
    windows: ArmCount
    windows_available: int
    duplicates_dropped: int
    stream_tokens: int
    approximate_counts: bool
    tokenizer_sha256: str
    dataset_digest: str
    window_plan_digest: str
    fingerprint: str | None = None
    revision: str | None = None

    @property
    def corpus(self) -> CorpusInfo:
        """The corpus the windows were cut from, as the CorpusInfo the run recorded."""
        return CorpusInfo(**{name: getattr(self, name) for name in CorpusInfo.__struct_fields__})


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
