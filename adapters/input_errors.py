"""What the operating system says about an input the user named (a model folder, a GGUF file, a dataset file) as a
one-line UsageError: an unreadable folder, a name part over the file system's limit or `~user` with no such user
would otherwise leave the adapters as an OSError or RuntimeError (E999) and the run recorded as never ending."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from invarlock.domain.errors import UsageError

_NO_HOME = "Could not determine home directory"  # pathlib's expanduser of an unknown ~user


@contextmanager
def reading_input(what: str, ref: str, code: str = "E102") -> Iterator[None]:
    """Run the body that reads the input `ref` (`what` says which: "model", "dataset"), mapping OSError to `code`
    (E102 for a model, E301 for a corpus) and an unknown `~user` to E101, both naming `ref`."""
    try:
        yield
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != ref else ""
        reason = exc.strerror or type(exc).__name__
        raise UsageError(
            code, f"cannot read {what} {ref}{where}: {reason}", "check the path and its permissions"
        ) from None
    except RuntimeError as exc:
        if _NO_HOME not in str(exc):
            raise
        raise UsageError(
            "E101" if code == "E102" else code, f"{what} {ref}: no such user's home folder", "spell the path out"
        ) from None
