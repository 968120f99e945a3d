"""Who scores the paired arms: the loaded models in this process (the default), or a pool of workers
(`execution.backend: ray`) that rebuild both models from the run's recorded references, edit and repairs.

Either way the pipeline gets each batch's PairedScores in window order and records them itself."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from invarlock.domain.errors import UsageError
from invarlock.domain.model import PairedScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.execution import PairScorer, ScoringPools
from invarlock.ports.kept_reference import KeptReference
from invarlock.ports.model import ModelRunner, Progress

from ..config_execution import ExecutionConfig
from .pair_workers import pair_spec
from .run_context import RunContext


class InProcessPairScorer:
    """The run's own loaded models, one batch after the other (the baseline's side may be kept: KeptReference)."""

    def __init__(self, baseline: ModelRunner | KeptReference, subject: ModelRunner) -> None:
        self._baseline, self._subject = baseline, subject

    @property
    def batch_size(self) -> int:
        return self._baseline.batch_size  # score_pair runs the baseline's batches through both models

    def score_batches(
        self, batches: Iterable[Sequence[TokenWindow]], progress: Progress | None = None
    ) -> Iterator[list[PairedScore]]:
        for batch in batches:
            yield list(self._baseline.score_pair(self._subject, batch, progress))

    def close(self) -> None:
        return None


def ray_execution(ctx: RunContext) -> ExecutionConfig | None:
    """The run's execution section when it asks for a worker pool (None: score in process)."""
    execution = ctx.request.config.execution
    return execution if execution is not None and execution.backend == "ray" else None


def require_pools(pools: ScoringPools | None) -> ScoringPools:
    if pools is None:
        raise UsageError("E105", "execution.backend ray is not available here", "pip install 'invarlock[ray]'")
    return pools


def pair_scorer(ctx: RunContext) -> PairScorer:
    """The run's scorer, opened on first use (a worker pool serves every paired arm of the run)."""
    if ctx.scorer is None:
        execution = ray_execution(ctx)
        if execution is None:
            ctx.scorer = InProcessPairScorer(ctx.models["baseline"], ctx.models["subject"])
        else:
            pools = require_pools(ctx.svc.pools)
            ctx.scorer = pools.open(execution.address, execution.actors, pair_spec(ctx))
    return ctx.scorer


def close_scorer(ctx: RunContext) -> None:
    if ctx.scorer is not None:
        ctx.scorer.close()
        ctx.scorer = None
