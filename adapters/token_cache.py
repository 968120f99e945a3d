"""ports.corpus.TokenStreamCache on files: one checked file per stream under `<cache root>/tokens/`
(adapters/cache_files.py: a damaged file is a miss and is written again). The ids are little-endian uint32;
the folder keeps the KEEP_FILES most recently used streams, and a stream above MAX_STREAM_BYTES is not kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .cache_files import keep_newest, read_checked, write_checked

MAGIC = b"invarlock token stream v1\n"
KEEP_FILES = 32
MAX_STREAM_BYTES = 512 * 2**20
SUFFIX = ".tokens"


class FileTokenStreamCache:
    """Token streams as files in `folder` (created on the first save)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def load(self, key: str) -> np.ndarray | None:
        """The stream saved under `key`, or None when there is none, it is empty or its digest does not match its
        ids."""
        ids = read_checked(self._path(key), MAGIC)
        if ids is None or len(ids) % 4:
            return None
        return np.frombuffer(ids, dtype="<u4").astype(np.uint32, copy=False)

    def save(self, key: str, stream: np.ndarray) -> None:
        """Keep `stream` (1-D) under `key`; a folder that cannot be written keeps nothing."""
        ids = np.ascontiguousarray(stream, dtype="<u4").tobytes()
        if len(ids) <= MAX_STREAM_BYTES and write_checked(self._path(key), MAGIC, ids):
            keep_newest(self.folder, f"*{SUFFIX}", KEEP_FILES)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}{SUFFIX}"
