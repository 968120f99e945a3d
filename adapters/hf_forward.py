"""A model's own forward pass failing (a config whose head counts or sizes its code cannot run, token ids beyond
its vocabulary, memory exhausted) as a usage error naming the model, instead of an unexpected internal error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invarlock.domain.errors import InvarlockError, UsageError

_FIX = (
    "check that the checkpoint's config.json matches its weights and its tokenizer (head counts, sizes, "
    "vocabulary); for an out-of-memory error lower eval.batch_size"
)


@contextmanager
def model_forward(ref: str) -> Iterator[None]:
    """Run a forward pass of the model loaded from `ref`.

    Raises:
        UsageError: E102 when the model's code raises RuntimeError, ValueError or IndexError, with its first line.
    """
    try:
        yield
    except InvarlockError:
        raise
    except (RuntimeError, ValueError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError("E102", f"the forward pass of {ref} failed: {first}", _FIX) from exc
