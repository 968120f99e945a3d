"""Whether a folder can be written, found by writing to it: permission bits say nothing for root, nor for a
read-only mount or a pseudo file system such as /proc, where a run would fail only when it writes."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .node_kind import odd_node

WRITABLE_STORE_HINT = "pass --events a file in a folder you can write"


def nearest_existing(path: Path) -> Path:
    """`path` or its nearest parent that exists (absolute)."""
    path = path.absolute()
    while not os.path.exists(path) and path != path.parent:  # never raises: Path.exists did for a name too long
        path = path.parent
    return path


def dangling_link(path: Path) -> Path | None:
    """The part of `path` (itself or a parent) that is a symbolic link to nothing: a folder made there, or under
    it, fails ("File exists") although every folder above can be written."""
    path = path.absolute()
    while not os.path.exists(path) and path != path.parent:
        if os.path.islink(path):
            return path
        path = path.parent
    return None


def link_problem(link: Path) -> str:
    """What `link` (from `dangling_link`) is, in node_kind's words: a link to nothing (where its chain ends), or one
    that loops."""
    return f"{link} is {odd_node(link)}"


def file_creation_problem(path: Path) -> str | None:
    """Why the file `path`, which does not exist, could not be created: its folder cannot be written
    (folder_write_problem), or it is a symbolic link to a missing file in a folder that does not exist or cannot
    be written (the file is created where the link points); None when it can be."""
    if not path.is_symlink():
        return folder_write_problem(path.parent)
    target = Path(os.path.realpath(path))  # the file is created where the link points
    if not target.parent.is_dir():
        return f"it is a symbolic link to {os.readlink(path)}, whose folder {target.parent} does not exist"
    return folder_write_problem(target.parent)


def folder_write_problem(folder: Path) -> str | None:
    """Why a file could not be written in `folder` (made first, with its missing parents), or None. Only a
    probe file is written, in the nearest existing folder, and removed at once: nothing is left behind."""
    link = dangling_link(folder)
    if link is not None:
        return link_problem(link)
    existing = nearest_existing(folder)
    if not os.path.isdir(existing):
        return f"{existing} is not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".invarlock-probe-", dir=existing)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the folder is there: a pseudo file system (/proc) that makes no new files
            return f"{existing} cannot be written (it takes no new files)"
        return f"{existing} cannot be written ({exc.strerror or type(exc).__name__})"
    os.close(fd)
    os.unlink(probe)
    return None
