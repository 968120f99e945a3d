"""Score an arm: both models in lockstep (per batch, each model's WindowsScored and the paired measures'
WindowsCompared, appended together), or one model alone (the bare subject)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping

import msgspec
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError
from invarlock.domain.model import PairedScore, WindowComparison, WindowScore
from invarlock.domain.run import RunState
from invarlock.domain.windows import Row, TokenWindow, token_windows
from invarlock.ports.execution import PairScorer
from invarlock.ports.model import ModelRunner
from invarlock.ports.ui import Progress

from .recorder import RunRecorder
from .score_rows import ArmMeasures, checked_pairs, checked_scores

EVENT_BATCH = 16  # windows per scoring call and per record at least (chunk_size)


def _row(score: WindowScore, digests: dict[int, str]) -> ev.ScoredRow:
    """The record of a score score_rows.py checked (its window among `digests`, its numbers plain and finite)."""
    return ev.ScoredRow(
        window_id=score.window_id,
        digest=digests[score.window_id],
        tokens_scored=score.tokens_scored,
        nll_sum=score.nll_sum,
    )


def _compared(comparison: WindowComparison, digests: dict[int, str]) -> ev.ComparedRow:
    values = [v for v in msgspec.structs.astuple(comparison) if isinstance(v, float)]
    if not all(math.isfinite(v) for v in values):
        wid = comparison.window_id
        raise AbortError("E402", f"window {wid} has a non-finite paired measure", "check the subject's weights")
    return ev.ComparedRow(digest=digests[comparison.window_id], comparison=comparison)


def chunk_size(batch_size: int) -> int:
    """Windows per scoring call and per record: the least multiple of the runner's batch size that holds
    EVENT_BATCH windows. A runner pads the last pass of each call to its batch size (window_batches.token_ids), so a
    call of any other length wastes forward passes on padding: 16-window calls to a runner of 32 (the default
    on accelerators) were half padding."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    return batch_size * math.ceil(EVENT_BATCH / batch_size)


def arm_batches(
    state: RunState, ids: list[int], rows: Mapping[int, Row], batch_size: int
) -> Iterable[list[TokenWindow]]:
    """The windows `ids`, chunk_size(batch_size) per scoring call, as scoring hands them to a runner."""
    seed, size = state.started.seeds["dataset"], chunk_size(batch_size)
    for start in range(0, len(ids), size):
        yield token_windows(ids[start : start + size], rows, seed=seed)


def _missing(state: RunState, arm: str, planned: Iterable[int]) -> list[int]:
    """Windows lacking a record of a kind the arm holds (every window when it holds none). Per-model scores
    count for both roles together: a batch's records are appended in one transaction."""
    base, subj, compared = state.scored("baseline", arm), state.scored("subject", arm), state.compared(arm)
    scores, comparisons = bool(base or subj), bool(compared)
    return [
        i
        for i in planned
        if not (scores or comparisons)
        or (scores and (i not in base or i not in subj))
        or (comparisons and i not in compared)
    ]


def _paired_events(
    state: RunState, arm: str, pairs: list[PairedScore], digests: dict[int, str], comparisons: bool
) -> list[ev.WindowsScored | ev.WindowsCompared]:
    """The batch's records the stream lacks: each model's scores, then the paired measures."""
    events: list[ev.WindowsScored | ev.WindowsCompared] = []
    for role in ("baseline", "subject"):
        done = state.scored(role, arm)
        scores = [s for p in pairs if (s := getattr(p, role)) is not None and p.window_id not in done]
        if scores:
            events.append(ev.WindowsScored(role=role, arm=arm, rows=[_row(s, digests) for s in scores]))
    compared = state.compared(arm)
    kept = [p.comparison for p in pairs if comparisons and p.comparison is not None and p.window_id not in compared]
    rows = [_compared(comparison, digests) for comparison in kept]
    if rows:
        events.append(ev.WindowsCompared(arm=arm, rows=rows))
    return events


def _kept(batches: Iterable[list[TokenWindow]], given: deque[list[TokenWindow]]) -> Iterator[list[TokenWindow]]:
    """`batches`, each also appended to `given` as it is handed to the scorer."""
    for batch in batches:
        given.append(batch)
        yield batch


def score_arm(
    recorder: RunRecorder,
    scorer: PairScorer,
    arm: str,
    rows: Mapping[int, Row],
    progress: Progress,
    *,
    comparisons: bool = True,
) -> None:
    """Score every planned window of `arm` missing a record (resume skips the rest) with both models in
    lockstep (`scorer` yields the batches in order, wherever they ran), chunk_size(scorer.batch_size) windows
    per batch and per record; records only what the stream lacks, so no row is recorded twice.
    `comparisons=False` drops the paired measures (a perplexity kind with eval.secondary.measure: false)."""
    digests = {w.window_id: w.digest for w in recorder.state.planned().plan.arm(arm)}
    todo = _missing(recorder.state, arm, digests)
    progress.start(f"scoring {arm} arm", len(todo))
    try:
        given: deque[list[TokenWindow]] = deque()  # the batches handed out, not yet scored (a pool reads ahead)
        batches = arm_batches(recorder.state, todo, rows, scorer.batch_size)
        measures = ArmMeasures(recorder.state.compared(arm).values())
        for scored in scorer.score_batches(_kept(batches, given), progress.advance):
            pairs = checked_pairs(recorder.state, given.popleft(), scored, measures)
            events = _paired_events(recorder.state, arm, pairs, digests, comparisons)
            if events:
                recorder.record(*events)
    finally:
        progress.finish()


def score_role(
    recorder: RunRecorder, role: str, model: ModelRunner, arm: str, rows: Mapping[int, Row], progress: Progress
) -> None:
    """Score every planned window of `arm` that `role` has not scored yet with `model` alone."""
    state = recorder.state
    for scored in scored_alone(state, state.planned(), role, model, arm, rows, progress):
        recorder.record(scored)


def scored_alone(
    state: RunState,
    planned: ev.WindowsPlanned,
    role: str,
    model: ModelRunner,
    arm: str,
    rows: Mapping[int, Row],
    progress: Progress,
) -> Iterator[ev.WindowsScored]:
    """The records of `arm`'s windows in `planned` that `role` has not scored in `state`, scored by `model`
    alone, one per batch (a sequential run keeps its baseline's, scored before the plan is recorded, to record
    them once the subject is loaded)."""
    digests = {w.window_id: w.digest for w in planned.plan.arm(arm)}
    todo = [i for i in digests if i not in state.scored(role, arm)]
    progress.start(f"scoring {arm} arm", len(todo))
    try:
        for batch in arm_batches(state, todo, rows, model.batch_size):
            scores = checked_scores(state, role, batch, model.score(batch, progress.advance))
            yield ev.WindowsScored(role=role, arm=arm, rows=[_row(s, digests) for s in scores])
    finally:
        progress.finish()
