"""The Ray actor's body (a plain class: ray_pool wraps it with `ray.remote`): both models built once from the
run's PairSpec, then batches scored in lockstep. An InvarlockError crosses the process boundary as a Failure
tuple (its class, code, message and hint) and is raised again, unchanged, in the driver."""

from __future__ import annotations

import os

from invarlock.domain.errors import InvarlockError
from invarlock.domain.model import PairedScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.execution import PairBuilder, PairSpec

Failure = tuple[type[InvarlockError], str, str, str]


def _failure(exc: InvarlockError) -> Failure:
    return type(exc), exc.code, exc.message, exc.hint


def raise_failure(failure: Failure | None) -> None:
    if failure is not None:
        kind, code, message, hint = failure
        raise kind(code, message, hint)


class PairWorker:
    """One actor: `build(spec)` run in the driver's working directory (`cwd`, when this host has it, so
    relative model paths resolve as they did for the driver)."""

    def __init__(self, build: PairBuilder, spec: PairSpec, cwd: str) -> None:
        self._failure: Failure | None = None
        if os.path.isdir(cwd):
            os.chdir(cwd)
        try:
            self._baseline, self._subject = build(spec)
        except InvarlockError as exc:
            self._failure = _failure(exc)

    def ready(self) -> Failure | None:
        """None once both models are held; the build's error otherwise."""
        return self._failure

    def batch_size(self) -> int:
        """Windows per forward pass of this actor's pair (its baseline's, as score_pair runs them); call once
        ready() is None."""
        return self._baseline.batch_size

    def score(self, batch: list[TokenWindow]) -> list[PairedScore] | Failure:
        try:
            return list(self._baseline.score_pair(self._subject, batch))
        except InvarlockError as exc:
            return _failure(exc)
