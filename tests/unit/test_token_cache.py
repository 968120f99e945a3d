"""The token stream file cache on a real folder: a saved stream reads back bit for bit and read-only; a damaged,
truncated, empty or foreign file is a miss that a save writes anew; the folder keeps the most recently used
streams; a folder that cannot be written keeps nothing and raises nothing."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from invarlock.adapters import cache_files, token_cache
from invarlock.adapters.token_cache import MAGIC, SUFFIX, FileTokenStreamCache

KEY = "ab" * 32


def _stream(n: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32 - 1, size=n, dtype=np.uint32)


def test_a_saved_stream_reads_back_bit_for_bit_and_read_only(tmp_path: Path) -> None:
    cache = FileTokenStreamCache(tmp_path / "tokens")
    assert cache.load(KEY) is None
    stream = _stream()
    cache.save(KEY, stream)
    again = FileTokenStreamCache(tmp_path / "tokens").load(KEY)
    assert again is not None and again.dtype == np.uint32 and np.array_equal(again, stream)
    with pytest.raises(ValueError):
        again[0] = 1
    assert [p.name for p in (tmp_path / "tokens").iterdir()] == [f"{KEY}{SUFFIX}"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],  # truncated mid-id
        lambda data: data[:-4],  # truncated on an id boundary: the digest no longer matches
        lambda data: data[:-8] + (data[-8] ^ 1).to_bytes(1, "little") + data[-7:],  # one bit of one id
        lambda data: b"x" + data[1:],  # not our format
        lambda data: data[: len(MAGIC) + 32],  # no ids at all
        lambda data: b"",
    ],
    ids=["truncated", "id-boundary", "bit-flip", "magic", "empty-ids", "empty-file"],
)
def test_a_damaged_file_is_a_miss_and_the_next_save_replaces_it(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    cache = FileTokenStreamCache(tmp_path)
    stream = _stream()
    cache.save(KEY, stream)
    path = tmp_path / f"{KEY}{SUFFIX}"
    path.write_bytes(damage(path.read_bytes()))
    assert cache.load(KEY) is None
    cache.save(KEY, stream)
    loaded = cache.load(KEY)
    assert loaded is not None and np.array_equal(loaded, stream)


def test_the_folder_keeps_the_most_recently_used_streams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_cache, "KEEP_FILES", 3)
    cache = FileTokenStreamCache(tmp_path)
    keys = [f"{i:064x}" for i in range(4)]
    for age, key in enumerate(keys[:3]):
        cache.save(key, _stream(10, age))
        os.utime(tmp_path / f"{key}{SUFFIX}", (1_000_000 + age, 1_000_000 + age))
    assert cache.load(keys[0]) is not None  # used now: the newest
    cache.save(keys[3], _stream(10, 3))
    left = sorted(p.name.removesuffix(SUFFIX) for p in tmp_path.glob(f"*{SUFFIX}"))
    assert left == sorted([keys[0], keys[2], keys[3]])


def test_a_staging_file_a_killed_process_left_is_removed_once_abandoned(tmp_path: Path) -> None:
    fresh, abandoned = tmp_path / ".staging-fresh", tmp_path / ".staging-old"
    fresh.write_bytes(b"half"), abandoned.write_bytes(b"half")
    old = os.stat(abandoned).st_mtime - cache_files.STAGING_ABANDONED_S - 60
    os.utime(abandoned, (old, old))
    FileTokenStreamCache(tmp_path).save(KEY, _stream())
    assert fresh.exists() and not abandoned.exists()


def test_a_folder_that_cannot_be_written_keeps_nothing_and_raises_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    cache = FileTokenStreamCache(blocker / "tokens")
    cache.save(KEY, _stream())
    assert cache.load(KEY) is None and blocker.read_text(encoding="utf-8") == "not a folder"


def test_a_stream_above_the_size_limit_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_cache, "MAX_STREAM_BYTES", 399)
    cache = FileTokenStreamCache(tmp_path)
    cache.save(KEY, _stream(100))
    assert cache.load(KEY) is None and not list(tmp_path.iterdir())


def test_a_folder_where_a_staging_or_kept_file_would_be_is_left_and_raises_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cache hunt: an abandoned `.staging-*` folder, or a folder named like a kept stream past the kept count,
    was E999 (IsADirectoryError from unlink) at the next save, and E301 blaming the corpus in the demo text's cache."""
    monkeypatch.setattr(token_cache, "KEEP_FILES", 1)
    staging, stream_like = tmp_path / ".staging-old", tmp_path / f"{'cd' * 32}{SUFFIX}"
    staging.mkdir(), stream_like.mkdir()
    old = os.stat(staging).st_mtime - cache_files.STAGING_ABANDONED_S - 60
    os.utime(staging, (old, old)), os.utime(stream_like, (old, old))
    cache = FileTokenStreamCache(tmp_path)
    cache.save(KEY, _stream())
    assert staging.is_dir() and stream_like.is_dir() and cache.load(KEY) is not None
