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

    return RayScoringPools(build_worker_pair, _warn, _kill_after())


def _kill_after() -> int | None:
    """The test hook's count; anything but a positive integer is refused by name, as every setting is."""
    value = os.environ.get(TEST_KILL_AFTER_ENV, "")
    if not value:
        return None
    if value.isascii() and value.isdigit() and int(value) > 0:
        return int(value)
    from invarlock.domain.errors import UsageError

    shown = value.encode("utf-8", "backslashreplace").decode()
    raise UsageError(
        "E200", f"{TEST_KILL_AFTER_ENV}={shown!r} is not a positive number of batch results",
        f"unset {TEST_KILL_AFTER_ENV}: it is a test hook that kills a Ray actor",
    )  # fmt: skip
