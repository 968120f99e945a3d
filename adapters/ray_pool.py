"""Paired scoring on a Ray actor pool (`execution.backend: ray`): each actor holds both models, built once
from the run's PairSpec, and scores the window batches the driver hands it.

The driver keeps at most `DEPTH` batches in flight per actor and yields results in batch order (results that
arrive early wait in a buffer). An actor that dies loses only its in-flight batches: they go back to the queue
and a surviving actor scores them, so no batch is lost or yielded twice. Ray is imported only here, lazily."""

from __future__ import annotations

import bisect
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.model import PairedScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.execution import PairBuilder, PairSpec
from invarlock.ports.model import Progress

from .error_text import first_line
from .ray_probe import require_reachable, unreachable
from .ray_worker import PairWorker, raise_failure

DEPTH = 2  # batches queued per actor: one scoring, one waiting, so an actor never idles between batches
_PASSED_ENV = ("INVARLOCK_", "HF_", "TRANSFORMERS_")


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            "E105", "execution.backend ray needs the ray extra and ray is not installed", "pip install 'invarlock[ray]'"
        ) from exc
    return ray


def connect(address: str) -> Any:
    """The ray module, connected to the cluster at `address` (`local` starts a loopback-only one for this
    process, with no dashboard and no usage report). UsageError E240 when the cluster cannot be reached."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    if address != "local":
        require_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    if address == "local":
        options.update(address="local", num_cpus=os.cpu_count() or 1, _node_ip_address="127.0.0.1")
    else:
        options.update(address=address)
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        said = first_line(exc, 400)
        if "ray[client]" in said:  # a ray:// address needs Ray Client, an extra of Ray's own
            raise UsageError(
                "E105", f"execution.address {address} needs Ray Client", "pip install 'ray[client]'"
            ) from exc
        raise unreachable(address, said) from exc
    return ray


def require_cpus(ray: Any, address: str, actors: int) -> None:
    """E240 when the local cluster offers fewer CPUs than `actors` (each asks for one): the actors it cannot place
    wait, and so did the run, for ever. A remote cluster is not judged by its CPUs now: an autoscaler adds workers
    for actors that wait (a head started with --num-cpus 0 has none of its own)."""
    if address != "local":
        return
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < actors:
        raise UsageError(
            "E240",
            f"the Ray cluster at execution.address {address} offers {cpus} CPU(s): execution.actors {actors} needs one "
            "each",
            "lower execution.actors, or add workers to the cluster (`ray start --address HEAD`, docs/reference/ray.md)",
        )


def _all_lost() -> UsageError:
    return UsageError("E241", "every Ray scoring actor was lost", "check the Ray workers (memory, logs), then rerun")


class RayScoringPools:
    """ScoringPools on Ray. `build` rebuilds (baseline, subject) inside an actor; `warn` prints a line when
    an actor is lost. `kill_after` is for tests only: kill an actor after that many batch results."""

    def __init__(self, build: PairBuilder, warn: Callable[[str], None], kill_after: int | None = None) -> None:
        self._build, self._warn, self._kill_after = build, warn, kill_after

    def check(self, address: str, actors: int) -> None:
        require_cpus(connect(address), address, actors)

    def open(self, address: str, actors: int, spec: PairSpec) -> RayPairScorer:
        ray = connect(address)
        require_cpus(ray, address, actors)
        env = {k: v for k, v in os.environ.items() if k.startswith(_PASSED_ENV)}
        remote = ray.remote(num_cpus=1, max_restarts=0)(PairWorker).options(runtime_env={"env_vars": env})
        handles = [remote.remote(self._build, spec, os.getcwd()) for _ in range(actors)]
        scorer = RayPairScorer(ray, handles, self._warn, self._kill_after)
        try:
            for failure in ray.get([h.ready.remote() for h in handles]):
                raise_failure(failure)
            scorer.batch_size = math.lcm(*ray.get([h.batch_size.remote() for h in handles]))
        except BaseException:
            scorer.close()
            raise
        return scorer


class RayPairScorer:
    """A PairScorer over live actor handles (see the module docstring for the scheduling)."""

    def __init__(self, ray: Any, handles: list[Any], warn: Callable[[str], None], kill_after: int | None) -> None:
        self._ray, self._warn, self._kill_after = ray, warn, kill_after
        self._load: dict[int, int] = {i: 0 for i in range(len(handles))}
        self._handles = dict(enumerate(handles))
        self._results = 0
        self.batch_size = 1  # set by RayScoringPools.open: a multiple of every actor's (PairScorer.batch_size)

    def score_batches(
        self, batches: Iterable[Sequence[TokenWindow]], progress: Progress | None = None
    ) -> Iterator[list[PairedScore]]:
        work = [list(b) for b in batches]
        todo, inflight, done, emitted = list(range(len(work))), {}, {}, 0
        while emitted < len(work):
            self._submit(work, todo, inflight)
            index, result = self._next(todo, inflight)
            if result is not None:
                done[index] = result
            while emitted in done:
                pairs = done.pop(emitted)
                emitted += 1
                if progress is not None:
                    progress(len(pairs))
                yield pairs

    def _submit(self, work: list[list[TokenWindow]], todo: list[int], inflight: dict[Any, tuple[int, int]]) -> None:
        while todo:
            free = [a for a in self._handles if self._load[a] < DEPTH]
            if not free:
                return
            actor = min(free, key=lambda a: (self._load[a], a))
            index = todo.pop(0)
            inflight[self._handles[actor].score.remote(work[index])] = (index, actor)
            self._load[actor] += 1
        if not inflight and not self._handles:
            raise _all_lost()

    def _next(self, todo: list[int], inflight: dict[Any, tuple[int, int]]) -> tuple[int, list[PairedScore] | None]:
        """The next finished batch's result; None when its actor died (the batch is queued again)."""
        if not inflight:
            raise _all_lost()
        [ref], _ = self._ray.wait(list(inflight), num_returns=1)
        index, actor = inflight.pop(ref)
        self._load[actor] -= 1
        try:
            outcome = self._ray.get(ref)
        except self._ray.exceptions.RayActorError:
            self._lose(actor)
            bisect.insort(todo, index)
            return index, None
        raise_failure(outcome if isinstance(outcome, tuple) else None)
        self._results += 1
        if self._results == self._kill_after:
            self._kill_busiest(inflight)
        return index, outcome

    def _lose(self, actor: int) -> None:
        if self._handles.pop(actor, None) is not None:
            self._warn(f"ray: scoring actor {actor} was lost; its batches are re-scored by the others")

    def _kill_busiest(self, inflight: dict[Any, tuple[int, int]]) -> None:
        """Tests only: kill the actor with the most batches in flight (they must come back re-scored)."""
        busy = [actor for _, actor in inflight.values()]
        victim = max(self._handles, key=lambda a: (busy.count(a), -a))
        self._ray.kill(self._handles[victim], no_restart=True)

    def close(self) -> None:
        for handle in self._handles.values():
            self._ray.kill(handle, no_restart=True)
        self._handles.clear()
