"""The `execution:` section of a run config: where the paired scoring of the arms runs (docs/reference/ray.md)."""

from __future__ import annotations

import msgspec
from invarlock.domain.errors import UsageError

EXECUTION_BACKENDS = ("inprocess", "ray")
MAX_ACTORS = 1024  # each actor holds both models: far more than any cluster here runs; a typo otherwise hangs the run


class ExecutionConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where the paired scoring runs: `inprocess` (the default), or `ray`, a pool of `actors` workers each
    holding both models, on a local Ray started for the run (`address: local`), the running cluster
    (`auto`) or a given address (`HOST:PORT`, `ray://HOST:PORT`). Left out, nothing is recorded."""

    backend: str = "inprocess"
    address: str = "local"
    actors: int = 2


def check_execution(execution: ExecutionConfig | None, source: str) -> None:
    """UsageError E201 for an unknown backend, an actor count outside [1, MAX_ACTORS], an empty address, or actors
    and address given without backend ray (read by nothing)."""
    if execution is None:
        return
    if execution.backend not in EXECUTION_BACKENDS:
        known = ", ".join(EXECUTION_BACKENDS)
        raise UsageError("E201", f"{source}: unknown execution.backend '{execution.backend}'", f"use one of: {known}")
    if not 1 <= execution.actors <= MAX_ACTORS:
        raise UsageError(
            "E201", f"{source}: execution.actors must be in [1, {MAX_ACTORS}] (got {execution.actors})", "use e.g. 2"
        )
    if not execution.address.strip():
        raise UsageError("E201", f"{source}: execution.address is empty", "use local, auto or HOST:PORT")
    if execution.backend != "ray" and (execution.actors, execution.address) != (2, "local"):
        raise UsageError(
            "E201",
            f"{source}: execution.actors and execution.address are read only with backend ray",
            "set execution.backend: ray, or remove them",
        )


def refuse_unread_execution_keys(written: object, source: str) -> None:
    """E201 when the `execution:` mapping as written gives actors or address without backend ray: check_execution
    sees only values, and the defaults (2, local) written out were recorded for a run no pool scored."""
    if not isinstance(written, dict) or written.get("backend", "inprocess") == "ray":
        return
    unread = [key for key in ("actors", "address") if key in written]
    if unread:
        raise UsageError(
            "E201",
            f"{source}: execution.{' and execution.'.join(unread)} {'is' if len(unread) == 1 else 'are'} read only "
            "with backend ray",
            "set execution.backend: ray, or remove them",
        )
