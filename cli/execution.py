"""The composition of `execution.backend: ray`: the Ray pools a run gets, and what a Ray actor runs to build
its two models (this installation's loaders and edits from the plugin registry, as the driver has them)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .registry import registry
from .routing import RegistryEdits, RegistryModelLoader

if TYPE_CHECKING:
    from invarlock.ports.execution import PairSpec, ScoringPools
    from invarlock.ports.model import LoadedModel

# Tests only (tests/e2e/test_ray_scoring.py): kill a Ray actor after this many batch results.
TEST_KILL_AFTER_ENV = "INVARLOCK_TEST_RAY_KILL_AFTER"


def build_worker_pair(spec: PairSpec) -> tuple[LoadedModel, LoadedModel]:
    """Inside a Ray actor: the run's (baseline, subject), built and checked by the application."""
    from invarlock.application.certification.pair_workers import build_pair

    reg = registry()
    return build_pair(spec, RegistryModelLoader(reg), RegistryEdits(reg))


def _warn(text: str) -> None:
    from . import console

    console.tell(text)


def ray_pools() -> ScoringPools:
    """Ray pools (ray itself is imported only when a run asks for them)."""
    from invarlock.adapters.ray_pool import RayScoringPools

    kill_after = os.environ.get(TEST_KILL_AFTER_ENV)
    return RayScoringPools(build_worker_pair, _warn, int(kill_after) if kill_after else None)
