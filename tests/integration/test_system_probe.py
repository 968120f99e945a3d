"""LocalSystemProbe on real files: the doctor's store check gives the E-code a run's first append gives, reads an
earlier release's store without touching it, and finds event versions this release does not read."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from invarlock.adapters.system_probe import LocalSystemProbe
from invarlock.application.doctor.system_checks import known_event_versions
from invarlock.cli.bootstrap import open_store
from invarlock.domain.errors import InvarlockError
from invarlock.domain.events import RollbackPerformed

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "invarlock.duckdb"


def _text_file(path: Path) -> Path:
    path.write_text('{"not": "a database"}', encoding="utf-8")
    return path


def _foreign(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE measurements(x INTEGER)")
    return path


def _earlier_release(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE invarlock_meta(key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO invarlock_meta VALUES ('schema', 'invarlock-events/v1')")
    return path


def _read_only(path: Path) -> Path:
    shutil.copy(FIXTURE, path)
    path.chmod(0o444)
    return path


def _under_a_file(path: Path) -> Path:
    _text_file(path.parent / "afile")
    return path.parent / "afile" / "ev.duckdb"


def _in_proc(path: Path) -> Path:
    return Path("/proc") / path.name  # writable by permission bits for root; no file can be made there


def _retyped_column(path: Path) -> Path:
    shutil.copy(FIXTURE, path)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE copy AS SELECT * FROM events")
        con.execute("DROP TABLE events")
        con.execute("ALTER TABLE copy RENAME TO events")
        con.execute("ALTER TABLE events ALTER version TYPE VARCHAR")
    return path


def _looping_link(path: Path) -> Path:
    (path.parent / "loop-a").symlink_to("loop-b")
    (path.parent / "loop-b").symlink_to("loop-a")
    return path.parent / "loop-a"


def _under_a_looping_link(path: Path) -> Path:
    return _looping_link(path) / "ev.duckdb"


def _under_a_dangling_link(path: Path) -> Path:
    (path.parent / "gone").symlink_to(path.parent / "missing")
    return path.parent / "gone" / "ev.duckdb"  # the doctor said "run would start"; the run stopped (File exists)


def _wal_fifo(path: Path) -> Path:
    shutil.copy(FIXTURE, path)
    os.mkfifo(f"{path}.wal")  # every command hung in DuckDB's open
    return path


def _wal_dangling_link(path: Path) -> Path:
    shutil.copy(FIXTURE, path)
    Path(f"{path}.wal").symlink_to(path.parent / "missing.wal")  # the first commit failed as a damaged store
    return path


def _name_too_long(path: Path) -> Path:
    return path.parent / ("a" * 300)  # the doctor's Path.exists raised ENAMETOOLONG: E999


STORES = {
    "a looping link": (_looping_link, "E501"),  # the doctor read it as no store yet: "run would start"
    "under a looping link": (_under_a_looping_link, "E501"),
    "a name too long": (_name_too_long, "E501"),
    "under a dangling link": (_under_a_dangling_link, "E502"),
    "a .wal that is a FIFO": (_wal_fifo, "E501"),
    "a .wal that links to nothing": (_wal_dangling_link, "E501"),
    "text file": (_text_file, "E501"),
    "folder of a pseudo file system": (_in_proc, "E502"),
    "foreign duckdb": (_foreign, "E501"),
    "earlier release": (_earlier_release, "E507"),
    "read-only store": (_read_only, "E502"),
    "folder is a file": (_under_a_file, "E502"),
    "a retyped column": (_retyped_column, "E603"),
}


@pytest.mark.parametrize("case", sorted(STORES))
def test_the_store_check_fails_with_the_code_of_a_run_s_first_append(tmp_path: Path, case: str) -> None:
    make, code = STORES[case]
    path = make(tmp_path / "ev.duckdb")
    before = path.read_bytes() if os.path.isfile(path) else None  # Path.is_file raises for a name too long
    with pytest.raises(InvarlockError) as probed:
        LocalSystemProbe().store_summary(str(path))
    with pytest.raises(InvarlockError) as appended:  # the store a run opens (the composition root's open_store)
        open_store(path).append("run-a", 0, [RollbackPerformed(reason="preflight")])
    assert probed.value.code == appended.value.code == code
    assert (path.read_bytes() if os.path.isfile(path) else None) == before


def test_an_earlier_release_s_store_is_summarized_read_only_with_every_version_known(tmp_path: Path) -> None:
    path = Path(shutil.copy(FIXTURE, tmp_path / "ev.duckdb"))
    summary = LocalSystemProbe().store_summary(str(path))
    assert summary is not None and path.read_bytes() == FIXTURE.read_bytes()
    with duckdb.connect(str(FIXTURE), read_only=True) as con:
        runs, events = con.execute("SELECT count(DISTINCT run_id), count(*) FROM events").fetchone() or (0, 0)
    assert (summary.runs, summary.events, summary.schema) == (runs, events, "invarlock-events/v2")
    assert set(summary.versions) <= known_event_versions() and sum(summary.versions.values()) == events


def test_an_event_version_of_a_newer_release_is_found(tmp_path: Path) -> None:
    path = Path(shutil.copy(FIXTURE, tmp_path / "ev.duckdb"))
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO events VALUES ('run-new', 0, 'run_started', 99, '{}', now(), 'genesis', 'h')")
    summary = LocalSystemProbe().store_summary(str(path))
    assert summary is not None
    assert set(summary.versions) - known_event_versions() == {"run_started.v99"}


def test_extras_report_installed_distributions_with_their_versions() -> None:
    extras = {e.name: e for e in LocalSystemProbe().extras()}
    assert "dev" not in extras and "hf" in extras
    for name, version in extras["hf"].installed.items():
        assert importlib.metadata.version(name) == version
