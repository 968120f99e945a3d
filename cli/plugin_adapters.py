"""A third-party adapter's loader and models must have every member of their ports (ports/model.py); one that
lacks any stops the run with one E223 line naming the distribution and the missing members, not a traceback."""

from __future__ import annotations

from typing import Any

from invarlock.domain.errors import UsageError

from .registry import Registry

LOADER_MEMBERS = ("load", "tokenizer")
MODEL_MEMBERS = (
    "tokenizer", "score", "score_pair", "activation_stats",  # ModelRunner
    "identity", "matrices", "census", "unmapped", "variance_taps", "assign", "scale_weights", "export",  # WeightSource
)  # fmt: skip


def checked(obj: Any, members: tuple[str, ...], adapter: str, port: str, registry: Registry) -> Any:
    """`obj` when it has every one of `members` or comes from a built-in; E223 for a plugin's that does not."""
    entry = registry.entry("adapters", adapter)
    if entry is None or entry.builtin:
        return obj
    missing = [name for name in members if not callable(getattr(obj, name, None))]
    if missing:
        raise UsageError(
            "E223",
            f"adapter plugin '{adapter}' ({entry.origin}): its {port} lacks {', '.join(missing)}",
            f"fix or uninstall {entry.distribution}; ports/model.py defines the {port} protocol",
        )
    return obj
