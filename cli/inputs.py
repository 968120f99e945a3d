"""Reading an input file named on the command line: a regular file of bounded size, or one clear error.

A directory, FIFO or device is named as what it is (never "does not exist"); a FIFO is never opened for a
blocking read and a device such as /dev/zero is never read without end.
"""

from __future__ import annotations

import os
import stat

from invarlock.domain.errors import UsageError

MAX_CERTIFICATE_BYTES = 256 * 1024 * 1024  # a release-size certificate is a few MB
# A hand-written config is a few kB; PyYAML reads about 130 kB a second, so a 16 MiB file took ~100 s to refuse.
MAX_CONFIG_BYTES = 1024 * 1024
# Values in a config with its aliases expanded: a hand-written config holds hundreds; nested aliases can make a
# few lines hold billions, which every later step (validation, recording) would expand.
MAX_CONFIG_VALUES = 1_000_000


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "is not a regular file (a FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is not a regular file (a device)"
    return "is not a regular file"


def _check(info: os.stat_result, label: str, code: str, max_bytes: int) -> None:
    kind = _kind(info.st_mode)
    if kind is not None:
        raise UsageError(code, f"{label} {kind}", "pass the path of a file")
    if info.st_size > max_bytes:
        raise UsageError(code, f"{label} is {info.st_size} bytes, above the {max_bytes}-byte limit", "check the path")


def read_input_file(path: str, *, what: str, code: str, max_bytes: int, hint: str = "check the path") -> bytes:
    """The bytes of the regular file `path` (at most `max_bytes`), else UsageError `code` saying why.

    Args:
        path: the path as the user gave it (quoted in the message).
        what: what the file should be, e.g. "certificate".
        code: the error code (exit 2) for a missing, non-regular, oversized or unreadable file.
        max_bytes: the largest size accepted.
        hint: the fix printed when the file does not exist.
    """
    label = f"{what} '{path}'"
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise UsageError(code, f"{label} does not exist", hint) from exc
    except OSError as exc:
        raise UsageError(code, f"{label} cannot be read: {exc.strerror}", "check the path and its permissions") from exc
    _check(info, label, code, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # never blocks, even if the path became a FIFO
    except OSError as exc:
        raise UsageError(code, f"{label} cannot be read: {exc.strerror}", "check its permissions") from exc
    with os.fdopen(fd, "rb") as handle:
        _check(os.fstat(handle.fileno()), label, code, max_bytes)
        try:
            return handle.read(max_bytes + 1)
        except OSError as exc:  # a file the kernel cannot read (EIO: /proc/self/mem, a failing disk)
            raise UsageError(code, f"{label} cannot be read: {exc.strerror}", "check the file and its disk") from exc
