"""Writing an output file named on the command line: atomically, or one clear error (never a traceback)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from invarlock.domain.errors import UsageError


def write_atomically(target: Path, content: bytes | str, *, what: str, hint: str = "choose another path") -> None:
    """Write `content` to `target` via a temporary file in the same folder and an atomic rename.

    Raises:
        UsageError: E608 when the folder cannot be created or the file cannot be written (a directory in the
            way, no permission, a full disk); nothing is left behind.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    staging: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(staging, target)
    except OSError as exc:
        if staging is not None:
            Path(staging).unlink(missing_ok=True)
        reason = exc.strerror or type(exc).__name__
        raise UsageError("E608", f"cannot write {what} to '{target}': {reason}", hint) from exc
    except BaseException:
        if staging is not None:
            Path(staging).unlink(missing_ok=True)
        raise
