"""adapters/node_kind: one wording for what stands where a regular file was expected."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from invarlock.adapters.node_kind import mode_kind, odd_node


def test_a_regular_file_a_link_to_one_and_nothing_are_not_odd(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "link").symlink_to("file")
    assert [odd_node(tmp_path / n) for n in ("file", "link", "missing", "file/under")] == [None] * 4


def test_each_other_node_is_named(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dangling").symlink_to("gone")
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "sock"))
    try:
        said = {n: odd_node(tmp_path / n) for n in ("folder", "fifo", "loop", "dangling", "sock")}
    finally:
        listening.close()
    assert said == {
        "folder": "a directory",
        "fifo": "a FIFO",
        "loop": "a link that loops",
        "dangling": "a link to gone, which does not exist",
        "sock": "a socket",
    }
    assert odd_node(Path("/dev/null")) == "a device"


def test_mode_kind_names_a_link_met_by_lstat(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to("anything")
    assert mode_kind(os.lstat(tmp_path / "link").st_mode) == "a symbolic link"
    assert mode_kind(os.stat(__file__).st_mode) is None
