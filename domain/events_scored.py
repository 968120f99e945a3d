"""The scoring events of a certify or run stream: each model's scores, the paired measures, and the preview
arm's catastrophe check and rollback (docs/reference/event-chain.md)."""

from __future__ import annotations

import msgspec

from .event_struct import EventStruct
from .model import WindowComparison


class ScoredRow(msgspec.Struct, frozen=True, kw_only=True):
    window_id: int
    digest: str
    tokens_scored: int
    nll_sum: float


class WindowsScored(EventStruct, tag="windows_scored.v1", frozen=True):
    role: str
    arm: str
    rows: list[ScoredRow]


class ComparedRow(msgspec.Struct, frozen=True, kw_only=True):
    """A window's digest (as planned) and the paired measures of both models on it."""

    digest: str
    comparison: WindowComparison


class WindowsCompared(EventStruct, tag="windows_compared.v1", frozen=True):
    """Paired measures of a batch of windows of `arm`, recorded after both models' WindowsScored of the
    batch (or alone when the metric has no per-model scores)."""

    arm: str
    rows: list[ComparedRow]


class PreviewAssessed(EventStruct, tag="preview_assessed.v1", frozen=True):
    ratio: float
    catastrophe_ratio: float
    catastrophe: bool


class PreviewChecked(EventStruct, tag="preview_checked.v1", frozen=True):
    """The preview arm's catastrophe check of a metric whose statistic is not a perplexity ratio (accuracy):
    `reason` says why it trips (the metric's catastrophe reason), empty when it does not."""

    catastrophe: bool
    reason: str


class RollbackPerformed(EventStruct, tag="rollback_performed.v1", frozen=True):
    reason: str
