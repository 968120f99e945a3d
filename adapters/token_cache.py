"""ports.corpus.TokenStreamCache on files: one file per stream under `<cache root>/tokens/`.

A file is a magic line, the sha256 of the ids that follow and the ids (little-endian uint32), written to a
temporary file in the same folder and renamed into place, so a reader sees a whole file or none; one whose
digest does not match its ids (a truncated or damaged file) is a miss and is written again. The folder keeps
the KEEP_FILES most recently used streams (and drops staging files a killed process left), and a stream above
MAX_STREAM_BYTES is not kept."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

MAGIC = b"invarlock token stream v1\n"
DIGEST_BYTES = 32
KEEP_FILES = 32
MAX_STREAM_BYTES = 512 * 2**20
SUFFIX = ".tokens"
STAGING_ABANDONED_S = 3600  # a staging file this old was left by a killed process


class FileTokenStreamCache:
    """Token streams as files in `folder` (created on the first save)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load(self, key: str) -> np.ndarray | None:
        """The stream saved under `key`, or None when there is none, it is empty or its digest does not match its
        ids."""
        path = self._path(key)
        try:
            data = path.read_bytes()
            os.utime(path)  # most recently used: the last to be evicted
        except OSError:
            return None
        head = len(MAGIC) + DIGEST_BYTES
        if not data.startswith(MAGIC) or len(data) <= head or (len(data) - head) % 4:
            return None
        digest, ids = data[len(MAGIC) : head], memoryview(data)[head:]
        if hashlib.sha256(ids).digest() != digest:
            return None
        return np.frombuffer(ids, dtype="<u4").astype(np.uint32, copy=False)

    def save(self, key: str, stream: np.ndarray) -> None:
        """Keep `stream` (1-D) under `key`; a folder that cannot be written keeps nothing."""
        ids = np.ascontiguousarray(stream, dtype="<u4").tobytes()
        if len(ids) > MAX_STREAM_BYTES:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(self._path(key), MAGIC + hashlib.sha256(ids).digest() + ids)
        except OSError:
            return
        self._evict()

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"

    def _evict(self) -> None:
        kept = sorted(self.folder.glob(f"*{SUFFIX}"), key=_mtime, reverse=True)
        abandoned = [p for p in self.folder.glob(".staging-*") if time.time() - _mtime(p) > STAGING_ABANDONED_S]
        for path in kept[KEEP_FILES:] + abandoned:
            path.unlink(missing_ok=True)


def _write_atomically(path: Path, data: bytes) -> None:
    handle, staging = tempfile.mkstemp(prefix=".staging-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(staging, path)
    finally:
        Path(staging).unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
