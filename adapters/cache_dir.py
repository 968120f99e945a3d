"""Where invarlock keeps what it can compute again: converted models and token streams."""

from __future__ import annotations

import os
from pathlib import Path

from invarlock.domain.canonical import is_utf8
from invarlock.domain.errors import UsageError

from .folder_probe import folder_write_problem


def _variable() -> str:
    """The variable that placed the cache root (cache_root's order)."""
    if os.environ.get("INVARLOCK_CACHE_DIR"):
        return "INVARLOCK_CACHE_DIR"
    return "XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "HOME"


def require_writable_cache(folder: Path, what: str) -> None:
    """E200 naming the variable that placed the cache when `folder` (under cache_root) cannot be written, for
    `what` must be kept there (a GGUF file's conversion): a read-only cache that already holds it is fine.
    Without it, the first write failed naming the model (`cannot read model demo:… (/proc/1/nope)`)."""
    problem = folder_write_problem(folder)
    if problem is not None:
        raise UsageError(
            "E200",
            f"the cache folder {cache_root()} ({_variable()}) cannot keep {what}: {problem}",
            "set INVARLOCK_CACHE_DIR to a folder this user can write"
            + (", or unset it" if _variable() == "INVARLOCK_CACHE_DIR" else ""),
        )


def cache_root() -> Path:
    """`$INVARLOCK_CACHE_DIR`, else `$XDG_CACHE_HOME/invarlock`, else `~/.cache/invarlock`.

    Raises:
        UsageError: E200 naming the variable when the folder cannot be one (a file, an unknown `~user`, a name
            over the file system's limit).
    """
    explicit = os.environ.get("INVARLOCK_CACHE_DIR")
    name = "INVARLOCK_CACHE_DIR" if explicit else "XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "HOME"
    try:
        if explicit:
            root = Path(explicit).expanduser()
        else:
            xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            root = Path(xdg).expanduser() / "invarlock"
        usable = not root.exists() or root.is_dir()
        reason = "is not a folder"
        blocked = _file_above(root) if usable else None
        if blocked is not None:  # HOME or XDG_CACHE_HOME a file: the models folder under it failed as a model (E102)
            usable, reason = False, f"cannot be a folder: {blocked} is a file"
    except (OSError, RuntimeError) as exc:
        usable, reason = False, f"cannot be a folder ({getattr(exc, 'strerror', None) or exc})"
    if usable and not is_utf8(str(root)):  # its files' names are recorded, and file names passed on as text
        usable, reason = False, "is not UTF-8 text"
    if not usable:
        where = (explicit or os.environ.get("XDG_CACHE_HOME") or "~/.cache").encode("utf-8", "backslashreplace")
        hint = f"set {name} to a folder (a UTF-8 path), or unset it"
        raise UsageError("E200", f"the cache folder {where.decode()} ({name}) {reason}", hint)
    return root


def _file_above(root: Path) -> Path | None:
    """The nearest existing folder above `root` that is not a folder (a file where a folder must be), if any."""
    existing = next((parent for parent in root.parents if parent.exists()), None)
    return None if existing is None or existing.is_dir() else existing
