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
    loops", "a link to T, which does not exist"); None when it is one, or when nothing is there (nor can be: a name
    holding a NUL). Any other error of stat (a folder on the way that cannot be searched) is raised."""
    try:
        mode = os.stat(path).st_mode
    except ValueError:  # a NUL in the name
        return None
    except (FileNotFoundError, NotADirectoryError):
        return _leading_nowhere(path) if os.path.islink(path) else None
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):  # else a folder on the way loops: not this name's kind
            return "a link that loops"
        raise
    return mode_kind(mode)


def _leading_nowhere(link: Path) -> str:
    """A link to nothing, named by its target and, when that target is a link too, by where the chain ends."""
    target = os.readlink(link)
    if os.path.islink(os.path.join(os.path.dirname(link), target)):
        return f"a link to {target}, which leads to {os.path.realpath(link)}, which does not exist"
    return f"a link to {target}, which does not exist"
