"""The dependencies a use case needs, passed in by the composition root (cli/bootstrap.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from invarlock.domain.errors import InvarlockError
from invarlock.ports.corpus import CorpusResolver, TokenStreamCache
from invarlock.ports.edits import Edit
from invarlock.ports.execution import ScoringPools
from invarlock.ports.loader import ModelLoader
from invarlock.ports.measurement import MeasurementPool
from invarlock.ports.signing import Signer
from invarlock.ports.store import EventStore, RunIndex
from invarlock.ports.system import SystemProbe
from invarlock.ports.ui import Progress, SilentProgress


@dataclass(frozen=True)
class Services:
    loader: ModelLoader
    corpora: CorpusResolver
    store: EventStore
    edits: Mapping[str, Edit]
    clock: Callable[[], str]
    new_run_id: Callable[[], str]
    environment: Callable[[], dict[str, str]]
    tool_version: str
    progress: Progress = field(default_factory=SilentProgress)
    signer: Signer | None = None
    timer: Callable[[], float] = time.perf_counter  # seconds, for the guards' recorded timings
    probe: SystemProbe | None = None  # the preflight's device check (certify before loading a model)
    pools: ScoringPools | None = None  # worker pools for `execution.backend: ray` (None: in process only)
    index: RunIndex | None = None  # the store's run index: baseline score reuse looks its candidates up there
    measurements: MeasurementPool | None = None  # the weight guards' pinned-BLAS pool (None: serial, unpinned)
    tokens: TokenStreamCache | None = None  # token streams kept between processes (None: tokenize in each)
    # the InvarLock error to record for an exception a plugin's own code raised (the composition root names the
    # plugin: E224), None for any other exception, which stays unexpected (E999) and is not recorded
    fault: Callable[[BaseException], InvarlockError | None] = lambda exc: None
