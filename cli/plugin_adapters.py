"""A third-party adapter's loader and models must have every member of their ports (ports/model.py); one that
lacks any stops the run with one E223 line naming the distribution and the missing members, not a traceback."""

from __future__ import annotations

import inspect
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.model import LoadOptions

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
    if port == "LoadedModel" and not _positive_int(getattr(obj, "batch_size", None)):
        missing.append("batch_size (an int >= 1)")  # ModelRunner's one attribute: windows per forward pass
    if missing:
        raise UsageError(
            "E223",
            f"adapter plugin '{adapter}' ({entry.origin}): its {port} lacks {', '.join(missing)}",
            f"fix or uninstall {entry.distribution}; ports/model.py defines the {port} protocol",
        )
    if port == "ModelLoader" and not _takes_ref_and_options(obj.load):
        raise UsageError(
            "E223",
            f"adapter plugin '{adapter}' ({entry.origin}): its ModelLoader.load{_bare_signature(obj.load)} does "
            "not take (ref, options)",
            f"update {entry.distribution}: ModelLoader.load(ref, options: LoadOptions) replaced the keyword "
            "arguments adapter/device/dtype/batch_size/placement (ports/model.py)",
        )
    return obj


def plugin_object(obj: Any, members: tuple[str, ...], group: str, name: str, port: str, registry: Registry) -> Any:
    """`obj` when it has every one of `members` (callable) or comes from a built-in; E223 for a plugin's
    object that does not (an edit factory returning no Edit, a provider no CorpusResolver, ...). `port` is the
    protocol and its file, e.g. "Edit (ports/edits.py)"."""
    entry = registry.entry(group, name)
    missing = [member for member in members if not callable(getattr(obj, member, None))]
    if entry is None or entry.builtin or not missing:
        return obj
    raise UsageError(
        "E223",
        f"{group[:-1]} plugin '{name}' ({entry.origin}): its {port.split()[0]} ({type(obj).__name__}) lacks "
        f"{', '.join(missing)}",
        f"fix or uninstall {entry.distribution}; the protocol is {port}",
    )


def _positive_int(value: Any) -> bool:
    return type(value) is int and value >= 1


def _bare_signature(load: Any) -> str:
    """`(ref, *, adapter, device)`: the parameters without annotations (they may be strings or missing)."""
    try:
        sig = inspect.signature(load)
    except (TypeError, ValueError):
        return "(...)"
    empty = inspect.Parameter.empty
    params = [p.replace(annotation=empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=empty))


def _takes_ref_and_options(load: Any) -> bool:
    try:
        inspect.signature(load).bind("ref", LoadOptions())
    except (TypeError, ValueError):  # ValueError: a callable without an inspectable signature
        return False
    return True
