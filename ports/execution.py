"""Where a run's lockstep scoring executes: in this process, or on a pool of workers that each hold both models.

The use case hands window batches to a `PairScorer` and gets each batch's PairedScores back in the order it
handed them, whoever scored them; it stays the single writer of events. A `ScoringPools` opens a pool of
workers that rebuild both models from a `PairSpec` (the references and options the run resolved, the edit and
the guards' repairs) and prove they hold the models the run fingerprinted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from invarlock.domain.model import LoadOptions, PairedScore
from invarlock.domain.windows import TokenWindow

from .model import ModelRunner, Progress


@dataclass(frozen=True)
class ModelSpec:
    """A model reference and the options the run loads it with (ModelLoader.load's arguments), placement
    included: a worker spreads the model as the run's own process does."""

    ref: str
    options: LoadOptions


@dataclass(frozen=True)
class PairSpec:
    """What a worker needs to hold the run's two models: both references, the edit applied to the subject
    (`edit_name` with its `edit_plan`, or None), the weights digests the run recorded for each model (the
    subject's before any repair) and the guards' repairs (weight name -> scale) applied after the check."""

    baseline: ModelSpec
    subject: ModelSpec
    baseline_sha256: str
    subject_sha256: str
    edit_name: str | None = None
    edit_plan: Mapping[str, Any] = field(default_factory=dict)
    repairs: Mapping[str, float] = field(default_factory=dict)


PairBuilder = Callable[[PairSpec], tuple[ModelRunner, ModelRunner]]
"""Builds (baseline, subject) from a spec inside a worker; raises IntegrityError E605 when a rebuilt model's
weights digest differs from the spec's."""


class PairScorer(Protocol):
    """Scores window batches with the baseline and the subject in lockstep (ModelRunner.score_pair)."""

    @property
    def batch_size(self) -> int:
        """Windows per forward pass of every model pair it scores with (a multiple of each pair's
        ModelRunner.batch_size): a batch of a multiple of it pads no pass."""
        ...

    def score_batches(
        self, batches: Iterable[Sequence[TokenWindow]], progress: Progress | None = None
    ) -> Iterator[list[PairedScore]]:
        """Yield each batch's PairedScores (one per window, in the batch's order), batch after batch in the
        order given, whatever order the batches finish in. Each batch is scored whole by one model pair, so
        the batch geometry is the caller's. `progress(k)` after each batch with its window count.
        Raises the AbortErrors of score_pair; UsageError E241 when no worker is left to score a batch."""
        ...

    def close(self) -> None:
        """Release the workers (a no-op in process). Idempotent."""
        ...


class ScoringPools(Protocol):
    """Opens pools of scoring workers on a cluster (`address`: local, auto or a cluster address)."""

    def check(self, address: str, actors: int) -> None:
        """Connect to the cluster at `address` (starting a local one for `local`). Raises UsageError E105
        when the backend's extra is not installed, E240 when the cluster cannot be reached or, started locally,
        has fewer CPUs than `actors` (one each)."""
        ...

    def open(self, address: str, actors: int, spec: PairSpec) -> PairScorer:
        """A pool of `actors` workers on the cluster, each holding the two models of `spec`. Raises as
        `check`, and the model loader's and PairBuilder's errors when a worker cannot build the models."""
        ...
