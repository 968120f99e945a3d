"""The `execution:` section of a run config: where the paired scoring of the arms runs (docs/reference/ray.md)."""

from __future__ import annotations

import msgspec
from invarlock.domain.errors import UsageError

EXECUTION_BACKENDS = ("inprocess", "ray")


class ExecutionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the paired scoring runs: `inprocess` (the default), or `ray`, a pool of `actors` workers each
    holding both models, on a local Ray started for the run (`address: local`), the running cluster
    (`auto`) or a given address (`HOST:PORT`, `ray://HOST:PORT`). Left out, nothing is recorded."""

    backend: str = "inprocess"
    address: str = "local"
    actors: int = 2


def check_execution(execution: ExecutionConfig | None, source: str) -> None:
    """UsageError E201 for an unknown backend, fewer than 1 actor or an empty address."""
    if execution is None:
        return
    if execution.backend not in EXECUTION_BACKENDS:
        known = ", ".join(EXECUTION_BACKENDS)
        raise UsageError("E201", f"{source}: unknown execution.backend '{execution.backend}'", f"use one of: {known}")
    if execution.actors < 1:
        raise UsageError("E201", f"{source}: execution.actors must be >= 1 (got {execution.actors})", "use e.g. 2")
    if not execution.address.strip():
        raise UsageError("E201", f"{source}: execution.address is empty", "use local, auto or HOST:PORT")
