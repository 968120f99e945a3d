"""An advisory lock on the event store file, held around every InvarLock connection to it.

DuckDB (2.0.1) reads a database's headers through a handle of its own before it takes its file lock, and then
trusts what it read. A process that opens the store while another one commits and checkpoints can so load the
older state: its next checkpoint then drops the other process's committed events, or its open fails with a
metadata error. So every connection is made under a `flock` on the file itself, exclusive to write and shared to
read, taken before DuckDB opens the file and released only after DuckDB has closed it
(tests/integration/test_duckdb_store_creation_race.py holds a writer in that gap).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from invarlock.domain.errors import UsageError

LOCK_WAIT_S = 2.0  # how long an open waits by default for another process's transaction to end
_RETRY_S = 0.02  # another process holds the file for one short transaction


def locked_error(path: Path) -> UsageError:
    """E505: another process holds the store."""
    hint = "wait for the other invarlock process or use another --events file"
    return UsageError("E505", f"event store {path} is locked by another process", hint)


@contextmanager
def store_lock(path: Path, *, exclusive: bool, wait_s: float) -> Iterator[None]:
    """Hold the store's lock for the block; retry for `wait_s` seconds while another process holds it.

    Raises:
        UsageError: E505 when the lock is still held by another process after `wait_s`; E502 when the file
            cannot be opened or locked at all (permissions, or a file system without `flock`).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError("E502", f"cannot open event store {path}: {exc.strerror}", "check its permissions") from exc
    try:
        _acquire(fd, path, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, wait_s)
        yield
    finally:
        os.close(fd)  # after DuckDB closed the file: this also ends the flock


def _acquire(fd: int, path: Path, mode: int, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise locked_error(path) from None
        except OSError as exc:
            hint = "use --events on a local file system"
            raise UsageError("E502", f"cannot lock event store {path}: {exc.strerror}", hint) from exc
        time.sleep(_RETRY_S)
