"""adapters/node_kind: one wording for what stands where a regular file was expected."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from invarlock.adapters.node_kind import mode_kind, odd_node


def test_a_regular_file_a_link_to_one_and_nothing_are_not_odd(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "link").symlink_to("file")
    assert [odd_node(tmp_path / n) for n in ("file", "link", "missing", "file/under", "nul\0name")] == [None] * 5


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


def test_a_store_name_holding_a_nul_is_e501_not_a_crash() -> None:
    from invarlock.adapters.duckdb_file import require_duckdb_file
    from invarlock.domain.errors import UsageError

    with pytest.raises(UsageError) as err:  # the Python API passes any string (it raised ValueError)
        require_duckdb_file(Path("store\0.duckdb"))
    assert err.value.code == "E501" and "holds a NUL" in err.value.message


def test_a_loop_on_the_way_is_no_kind_of_the_name_and_a_chain_of_links_says_where_it_ends(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(OSError):  # the name was blamed: "x.wal is a link that loops — move x.wal away"
        odd_node(tmp_path / "loop" / "x.wal")
    (tmp_path / "last").symlink_to("/nonexistent/x")
    (tmp_path / "first").symlink_to("last")
    said = odd_node(tmp_path / "first")
    assert said == "a link to last, which leads to /nonexistent/x, which does not exist"


def test_a_store_under_a_looping_folder_gets_the_oss_reason_not_its_wal() -> None:
    from invarlock.adapters.duckdb_connection import wal_problem

    assert wal_problem(Path("/nonexistent/ev.duckdb")) is None


def test_an_output_folder_under_a_link_that_loops_says_so(tmp_path: Path) -> None:
    from invarlock.adapters.folder_probe import folder_write_problem

    (tmp_path / "loop").symlink_to("loop")  # it said "a symbolic link to loop, which does not exist"
    assert folder_write_problem(tmp_path / "loop" / "out") == f"{tmp_path / 'loop'} is a link that loops"
