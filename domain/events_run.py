"""The events that open a certify or run stream, in the order a run records them: the run, its models, its
windows, its edit and its guards (docs/reference/event-chain.md; scoring to completion: events_scored.py).

Events embed the domain's value objects (ModelIdentity, WindowPlan, EditOutcome, Policy) instead of copies of
their fields; the certificate states the same value objects.
"""

from __future__ import annotations

from typing import Any

from .event_struct import EventStruct
from .guards.results import GuardResult
from .guards.settings import Mode
from .model import CorpusInfo, EditOutcome, ModelIdentity
from .policy import Policy
from .windows import WindowPlan

# The seeds a run records, each the config's dataset seed, in the order the run_started payload writes them.
RUN_SEEDS = ("dataset", "python", "numpy", "torch")


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
