"""The writability of an output or event-store folder is found by writing a probe file, which is removed: the
doctor and certify's preflight once passed a folder (/proc, or anything for root) that the run could not write
to after all its scoring."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from invarlock.adapters.folder_probe import folder_write_problem

from tests.fakes.cli import run_cli

NO_FILES_HERE = Path("/proc/invarlock-certs")


def test_a_writable_folder_has_no_problem_and_keeps_no_probe(tmp_path: Path) -> None:
    assert folder_write_problem(tmp_path / "new" / "deeper") is None
    assert list(tmp_path.iterdir()) == []  # neither the probe nor the missing folders were left


def test_a_file_where_the_folder_belongs_is_named(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    assert folder_write_problem(tmp_path / "afile" / "out") == f"{tmp_path / 'afile'} is not a folder"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_a_folder_no_file_can_be_made_in_is_a_problem_whatever_its_permission_bits() -> None:
    problem = folder_write_problem(NO_FILES_HERE)
    assert problem == "/proc cannot be written (it takes no new files)"  # the kernel says "No such file or directory"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
def test_an_event_store_in_a_folder_that_takes_no_files_is_e502_saying_so() -> None:
    from invarlock.adapters.duckdb_store import DuckDBEventStore
    from invarlock.domain.errors import UsageError

    with pytest.raises(UsageError) as refused:
        DuckDBEventStore(NO_FILES_HERE / "events.duckdb").require_writable()
        DuckDBEventStore(NO_FILES_HERE / "events.duckdb").append("run-1", 0, [])
    said = refused.value
    assert (said.code, said.hint) == ("E502", "pass --events a file in a folder you can write")  # was "use --events"
    named = NO_FILES_HERE / "events.duckdb"
    assert said.message == f"cannot create event store {named}: /proc cannot be written (it takes no new files)"


@pytest.mark.hf  # run and the doctor need the hf extra before they look at their options
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux's")
@pytest.mark.parametrize("option", ["--cert-out", "--export"])
def test_doctor_and_run_refuse_an_output_folder_that_cannot_be_written(tmp_path: Path, option: str) -> None:
    events = tmp_path / "events.duckdb"
    code, _, err = run_cli("run", "--demo", option, NO_FILES_HERE, "--events", events)
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E608] {option} '{NO_FILES_HERE}' cannot be written"), err
    assert not events.exists()  # refused before a run was recorded, not after its scoring
    code, out, err = run_cli("doctor", option, NO_FILES_HERE, "--events", events)
    assert code == 2 and f"{option} '{NO_FILES_HERE}' cannot be written" in out + err, out + err
    assert "would stop with E608" in out + err


@pytest.mark.hf  # run and the doctor need the hf extra before they look at their options
@pytest.mark.parametrize("option", ["--cert-out", "--export"])
@pytest.mark.parametrize("under", ["", "/", "/sub"], ids=["the link", "the link/", "under the link"])
def test_doctor_and_run_refuse_an_output_on_a_dangling_link(tmp_path: Path, option: str, under: str) -> None:
    """The check followed the link, found nothing and probed the link's folder: the run scored, then failed to
    write (File exists) after all its work; a trailing slash or a folder under the link passed the first fix."""
    events, dangling = tmp_path / "events.duckdb", tmp_path / "out"
    dangling.symlink_to(tmp_path / "missing" / "folder")
    given = f"{dangling}{under}"
    said = f"{option} '{given}' cannot be written: {dangling} is a link to {tmp_path / 'missing' / 'folder'}"
    code, _, err = run_cli("run", "--demo", option, given, "--events", events)
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E608] {said}, which does not exist — "), err
    assert not events.exists()
    code, out, err = run_cli("doctor", option, given, "--events", events)
    assert code == 2 and said in out + err and "would stop with E608" in out + err, out + err
