"""The certificate's statement of its inputs: the edit and the dataset (docs/reference/certificate.md).
Re-exported by domain/certificate.py."""

from __future__ import annotations

from typing import Any

from .cert_sections import _S
from .model import CorpusInfo, EditDeltas


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
