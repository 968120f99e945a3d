"""Score one arm with both models in lockstep batches, one WindowsScored event per model per batch."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import ModelRunner
from invarlock.ports.ui import Progress

from .recorder import RunRecorder

EVENT_BATCH = 16


def _rows(
    model: ModelRunner, batch: list[TokenWindow], digests: dict[int, str], progress: Progress
) -> list[ev.ScoredRow]:
    rows = []
    for score in model.score(batch, progress.advance):
        if not math.isfinite(score.nll_sum):
            raise AbortError("E402", f"window {score.window_id} has a non-finite NLL", "check the model's weights")
        rows.append(
            ev.ScoredRow(
                window_id=score.window_id,
                digest=digests[score.window_id],
                tokens_scored=score.tokens_scored,
                nll_sum=score.nll_sum,
            )
        )
    return rows


def score_arm(
    recorder: RunRecorder,
    models: Mapping[str, ModelRunner],
    arm: str,
    rows: dict[int, np.ndarray],
    progress: Progress,
) -> None:
    """Score every planned window of `arm` not yet scored (resume skips the rest), baseline then subject."""
    state = recorder.state
    digests = {w.window_id: w.digest for w in state.planned().plan.arm(arm)}
    todo = {role: [i for i in digests if i not in state.scored(role, arm)] for role in models}
    total = sum(len(t) for t in todo.values())
    progress.start(f"scoring {arm} arm", total)
    try:
        for role, model in models.items():
            ids = todo[role]
            for start in range(0, len(ids), EVENT_BATCH):
                batch = [
                    TokenWindow(window_id=i, tokens=tuple(int(t) for t in rows[i]))
                    for i in ids[start : start + EVENT_BATCH]
                ]
                recorder.record(ev.WindowsScored(role=role, arm=arm, rows=_rows(model, batch, digests, progress)))
    finally:
        progress.finish()
