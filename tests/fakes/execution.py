"""FakeScoringPools: the ScoringPools port in this process. Each pool it opens builds its own model pair with
the application's `build_pair` (as a Ray actor does) and records what it was asked: addresses checked, the
specs of the pools opened, the pools closed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from invarlock.application.certification.pair_scoring import InProcessPairScorer
from invarlock.application.certification.pair_workers import build_pair
from invarlock.domain.errors import UsageError
from invarlock.domain.model import PairedScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.edits import Edit
from invarlock.ports.execution import PairSpec
from invarlock.ports.loader import ModelLoader
from invarlock.ports.model import Progress


@dataclass
class FakePairScorer:
    inner: InProcessPairScorer
    pools: FakeScoringPools

    @property
    def batch_size(self) -> int:
        return self.inner.batch_size

    def score_batches(
        self, batches: Iterable[Sequence[TokenWindow]], progress: Progress | None = None
    ) -> Iterator[list[PairedScore]]:
        for pairs in self.inner.score_batches(batches, progress):
            self.pools.batches += 1
            yield pairs

    def close(self) -> None:
        self.pools.closed += 1


@dataclass
class FakeScoringPools:
    loader: ModelLoader
    edits: Mapping[str, Edit]
    unreachable: bool = False
    checked: list[str] = field(default_factory=list)
    opened: list[tuple[str, int, PairSpec]] = field(default_factory=list)
    closed: int = 0
    batches: int = 0

    def check(self, address: str, actors: int = 1) -> None:
        self.checked.append(address)
        if self.unreachable:
            raise UsageError("E240", f"cannot reach the Ray cluster at execution.address {address}", "start it")

    def open(self, address: str, actors: int, spec: PairSpec) -> FakePairScorer:
        self.check(address)
        self.opened.append((address, actors, spec))
        baseline, subject = build_pair(spec, self.loader, self.edits)
        return FakePairScorer(InProcessPairScorer(baseline, subject), self)
