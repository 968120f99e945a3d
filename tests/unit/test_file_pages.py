"""adapters.file_pages: the resident pages of a span holding only a mapped file's own bytes are given back, and
nothing else is touched: a span with a page written in it, anonymous memory and the pages a span only partly covers
stay; a span beside a written page is still clean."""

from __future__ import annotations

import ctypes
import mmap
import platform
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from invarlock.adapters import file_pages

from tests.resident import resident_kib

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="/proc/self/pagemap and madvise: Linux only")

PAGES = 64
SIZE = PAGES * mmap.PAGESIZE


@pytest.fixture
def mapped(tmp_path: Path) -> Iterator[tuple[mmap.mmap, int, bytes]]:
    """A private mapping of a file of random bytes, every page read once, and its address."""
    content = np.random.default_rng(7).integers(0, 256, SIZE, dtype=np.uint8).tobytes()
    path = tmp_path / "weights.bin"
    path.write_bytes(content)
    with path.open("rb") as handle:
        view = mmap.mmap(handle.fileno(), SIZE, access=mmap.ACCESS_COPY)
    anchor = ctypes.c_char.from_buffer(view)
    assert bytes(view) == content  # every page resident
    yield view, ctypes.addressof(anchor), content
    del anchor
    view.close()


def test_the_pages_wholly_inside_a_span_are_given_back_and_read_again_from_the_file(mapped) -> None:
    view, address, content = mapped
    page_kib = mmap.PAGESIZE // 1024
    assert resident_kib(address) == PAGES * page_kib
    given = file_pages.release(address + 100, SIZE - 200)  # first and last page partly covered
    assert given == (PAGES - 2) * mmap.PAGESIZE
    assert resident_kib(address) == 2 * page_kib
    assert bytes(view) == content  # read again from the file, bit for bit


def test_a_span_with_a_written_page_keeps_every_page(mapped) -> None:
    view, address, content = mapped
    view[mmap.PAGESIZE] = (content[mmap.PAGESIZE] + 1) % 256  # a private copy of one page, not the file's
    assert not file_pages.clean(address, SIZE)
    assert file_pages.release(address, SIZE) == 0
    assert view[mmap.PAGESIZE] == (content[mmap.PAGESIZE] + 1) % 256
    assert resident_kib(address) == PAGES * mmap.PAGESIZE // 1024


def test_the_pages_beside_a_written_one_are_still_the_files_and_are_given_back(mapped) -> None:
    view, address, content = mapped
    view[0] = (content[0] + 1) % 256  # the first page is a private copy now
    assert file_pages.clean(address + mmap.PAGESIZE, SIZE - mmap.PAGESIZE)
    assert file_pages.release(address + mmap.PAGESIZE, SIZE - mmap.PAGESIZE) == SIZE - mmap.PAGESIZE
    assert resident_kib(address) == mmap.PAGESIZE // 1024
    assert view[0] == (content[0] + 1) % 256 and bytes(view[mmap.PAGESIZE :]) == content[mmap.PAGESIZE :]


def test_pages_never_read_are_clean_and_read_the_file_afterwards(tmp_path: Path) -> None:
    content = bytes(range(256)) * (SIZE // 256)
    (tmp_path / "cold.bin").write_bytes(content)
    with (tmp_path / "cold.bin").open("rb") as handle:
        view = mmap.mmap(handle.fileno(), SIZE, access=mmap.ACCESS_COPY)
    anchor = ctypes.c_char.from_buffer(view)
    try:
        assert file_pages.clean(ctypes.addressof(anchor), SIZE)  # nothing resident, nothing swapped: nothing of ours
        assert bytes(view) == content
    finally:
        del anchor
        view.close()


def test_anonymous_memory_is_never_touched() -> None:
    array = np.arange(4 * mmap.PAGESIZE, dtype=np.uint8)  # heap or an anonymous mapping, not a file
    assert not file_pages.clean(array.ctypes.data, array.nbytes)
    assert file_pages.release(array.ctypes.data, array.nbytes) == 0
    assert np.array_equal(array, np.arange(4 * mmap.PAGESIZE, dtype=np.uint8))


def test_a_span_with_no_whole_page_releases_nothing(mapped) -> None:
    _, address, _ = mapped
    assert file_pages.release(address + 1, mmap.PAGESIZE) == 0
    assert resident_kib(address) == PAGES * mmap.PAGESIZE // 1024


def test_a_refused_madvise_gives_back_nothing_and_keeps_every_page(mapped, monkeypatch: pytest.MonkeyPatch) -> None:
    view, address, content = mapped
    monkeypatch.setattr(file_pages, "_madvise", lambda: lambda *_: -1)
    assert file_pages.release(address, SIZE) == 0
    assert resident_kib(address) == PAGES * mmap.PAGESIZE // 1024 and bytes(view) == content


def test_without_proc_nothing_is_given_back(mapped, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, address, _ = mapped
    monkeypatch.setattr(file_pages, "PAGEMAP", tmp_path / "absent")
    assert not file_pages.clean(address, SIZE)
    assert file_pages.release(address, SIZE) == 0
    assert resident_kib(address) == PAGES * mmap.PAGESIZE // 1024
