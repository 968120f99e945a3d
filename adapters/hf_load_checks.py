"""What a Hugging Face load is refused for: a checkpoint transformers cannot read, a weight the model needs that
the file lacks, one whose shape is not its config's, one the model does not use (each UsageError E102)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError


@contextlib.contextmanager
def as_usage_error(path: Path) -> Iterator[None]:
    """transformers raises OSError, ValueError, safetensors errors...: one clear E102 naming the checkpoint."""
    try:
        yield
    except UsageError:  # already names what is wrong (a file in the way, a damaged header, a file not JSON)
        raise
    except Exception as error:
        raise UsageError(
            "E102", f"{path} could not be loaded: {type(error).__name__}: {_cause(error)}", "repair or re-export it"
        ) from None


def _cause(error: Exception) -> str:
    """The error's first line, with the next one when it only introduces it: transformers' config validation says
    "Validation error for field 'vocab_size':" and the field's value and what it expected on the next line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    said = " ".join(lines[:2]) if len(lines) > 1 and lines[0].endswith(":") else (lines or [""])[0]
    return said[:240]


def require_every_weight(module: Any, missing: list[str], path: Path, adapter: str) -> None:
    """transformers initialises a weight the checkpoint lacks at random and only warns: the run would score and
    digest weights that are in no file, and no two loads would agree. Refuse that (UsageError E102), except an
    encoder's pooler, which mean pooling never uses: a checkpoint saved from a masked LM has none, so the module
    drops it rather than hold random weights."""
    pooler_only = bool(missing) and all(k.startswith("pooler.") for k in missing)
    if adapter == "hf_encoder" and pooler_only and getattr(module, "pooler", None) is not None:
        module.pooler = None
        return
    if missing:
        raise UsageError(
            "E102",
            f"{path} lacks weights its model needs: {_first_three(missing)}",
            "re-export the checkpoint with every weight (transformers would initialise the missing ones at random)",
        )


def refuse_mismatched_shapes(mismatched: list[tuple[str, Any, Any]], path: Path) -> None:
    """A weight whose shape in the file is not the one its config.json gives the model: transformers would refuse
    with a pointer to a report it logs (and InvarLock keeps quiet), so name the weights and both shapes (E102)."""
    if mismatched:
        name, in_file, by_config = mismatched[0]
        more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
        raise UsageError(
            "E102",
            f"{path}: weight {name} is {_shape(in_file)} in the checkpoint but {_shape(by_config)} by its "
            f"config.json{more}",
            "re-export the checkpoint with a config.json that matches its weights",
        )


def _shape(size: Any) -> str:
    return "×".join(str(int(d)) for d in size)


def refuse_unused_weights(unexpected: list[str], path: Path) -> None:
    """A causal LM's checkpoint holding tensors its model does not use (an extra weight, more layers than its
    config's num_hidden_layers): transformers drops them and only warns, so the certificate would give the file the
    digest of another one (the weights digest is over the loaded module). Refuse that (UsageError E102). Encoder
    and masked-LM checkpoints keep heads their adapter drops on purpose; what transformers itself ignores for an
    architecture is not listed here."""
    if unexpected:
        raise UsageError(
            "E102",
            f"{path} holds weights its model does not use: {_first_three(unexpected)}",
            "re-export the checkpoint with its config (num_hidden_layers, architecture) matching its weights",
        )


def _first_three(names: list[str]) -> str:
    more = f" and {len(names) - 3} more" if len(names) > 3 else ""
    return f"{', '.join(names[:3])}{more}"
