"""The events of a certify or run stream, in the order a run records them (docs/reference/event-chain.md).

Events embed the domain's value objects (ModelIdentity, WindowPlan, EditOutcome, Policy) instead of copies of
their fields; the certificate states the same value objects.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .event_struct import EventStruct
from .guards.results import GuardResult
from .guards.settings import Mode
from .model import CorpusInfo, EditOutcome, ModelIdentity, WindowComparison
from .policy import Policy
from .windows import WindowPlan


class RunStarted(EventStruct, tag="run_started.v1", frozen=True):
    """A run began. `config` is the run config as resolved from what the user wrote (free-form JSON);
    `policy` the resolved Policy, whose canonical JSON `policy_digest` covers."""

    run_id: str
    command: str
    started_at: str
    tool_version: str
    config: dict[str, Any]
    policy: Policy
    policy_digest: str
    seeds: dict[str, int]
    environment: dict[str, str]


class ModelFingerprinted(EventStruct, tag="model_fingerprinted.v2", frozen=True):
    """The baseline or subject model (`role`) was loaded and fingerprinted."""

    role: str
    identity: ModelIdentity


class WindowsPlanned(EventStruct, tag="windows_planned.v2", frozen=True):
    """The evaluation windows were planned from the corpus, tokenized by the baseline's tokenizer."""

    corpus: CorpusInfo
    plan: WindowPlan


class EditApplied(EventStruct, tag="edit_applied.v2", frozen=True):
    """The built-in edit of a `run` turned the baseline into the subject."""

    outcome: EditOutcome


class GuardEvaluated(EventStruct, tag="guard_evaluated.v2", frozen=True):
    """One guard's evaluation in one phase of the chain. `result` is tagged by guard: invariants record their
    checks and verdict; the weight and variance guards their raw measurements and the outcome derived from
    them under the run's policy (re-derivable by verify)."""

    phase: str
    mode: Mode
    seconds: float
    result: GuardResult

    @property
    def guard(self) -> str:
        return self.result.guard

    @property
    def verdict(self) -> str:
        return self.result.verdict


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


class CertificateIssued(EventStruct, tag="certificate_issued.v1", frozen=True):
    issued_at: str
    certificate_digest: str
    signature_key_fingerprint: str | None = None
    signature_value: str | None = None


class RunCompleted(EventStruct, tag="run_completed.v1", frozen=True):
    finished_at: str
    status: str
    verdict: str


class RunFailed(EventStruct, tag="run_failed.v1", frozen=True):
    failed_at: str
    code: str
    message: str


class ChainSealed(EventStruct, tag="chain_sealed.v1", frozen=True):
    """The issuer's Ed25519 signature over the chain head at completion (`seal_message`), appended last.

    `head_seq`/`head_hash` name the event it seals (run_completed); `signature` is base64 of 64 bytes.
    """

    head_seq: int
    head_hash: str
    key_fingerprint: str
    signature: str
