"""Whether a folder can be written, found by writing to it: permission bits say nothing for root, nor for a
read-only mount or a pseudo file system such as /proc, where a run would fail only when it writes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def nearest_existing(path: Path) -> Path:
    """`path` or its nearest parent that exists (absolute)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def file_creation_problem(path: Path) -> str | None:
    """Why the file `path`, which does not exist, could not be created: a dangling symbolic link (the write would
    go to its missing target), or its folder (folder_write_problem); None when it can be."""
    if path.is_symlink():
        return f"it is a symbolic link to {os.readlink(path)}, which does not exist"
    return folder_write_problem(path.parent)


def folder_write_problem(folder: Path) -> str | None:
    """Why a file could not be written in `folder` (made first, with its missing parents), or None. Only a
    probe file is written, in the nearest existing folder, and removed at once: nothing is left behind."""
    existing = nearest_existing(folder)
    if not existing.is_dir():
        return f"{existing} is not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".invarlock-probe-", dir=existing)
    except OSError as exc:
        return f"{existing} cannot be written ({exc.strerror or type(exc).__name__})"
    os.close(fd)
    os.unlink(probe)
    return None
