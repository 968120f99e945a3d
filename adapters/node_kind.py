"""What is at a path where a regular file was expected, in one wording for every adapter's error: a folder, a FIFO,
a device, a socket, or a symbolic link that leads nowhere (a FIFO blocks the read that meets it for ever; a link
to nothing reads as a missing file although its name is there)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),  # of lstat
)


def mode_kind(mode: int) -> str | None:
    """What a node whose `st_mode` is `mode` is, said for an error ("a FIFO"); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def odd_node(path: Path) -> str | None:
    """What is at `path` when it is there but is no regular file nor a link to one ("a directory", "a link that
    loops", "a link to T, which does not exist"); None when it is one, or when nothing is there. Any other error
    of stat (a folder on the way that cannot be searched) is raised."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return f"a link to {os.readlink(path)}, which does not exist" if os.path.islink(path) else None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a link that loops"
        raise
    return mode_kind(mode)
