"""A recorded run's certificate file is written by `invarlock replay`: every hint that says so names the event store
when it is not the default (stop 63's crash hunt: the printed command looked in runs/invarlock.duckdb, E506)."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.certify import CertifyOutcome
from invarlock.cli.api import write_certificate
from invarlock.domain.errors import UsageError

from tests.fakes.certificates import fake_certificate
from tests.fakes.cli import run_cli
from tests.fakes.run_streams import RECORDED_AT, certified_streams


def test_a_certificate_that_cannot_be_written_names_the_store_and_the_file_in_the_way(tmp_path: Path) -> None:
    cert = fake_certificate()
    (tmp_path / "cw").write_text("x")  # the --cert-out folder became a file while the run went on
    with pytest.raises(UsageError) as raised:
        write_certificate(CertifyOutcome(cert.run_id, cert), tmp_path / "cw", tmp_path / "other.duckdb")
    line = raised.value.one_line()
    assert raised.value.code == "E608" and f"{tmp_path / 'cw'} is not a folder" in line, line
    assert f"`invarlock replay {cert.run_id} --events {tmp_path / 'other.duckdb'} -o FILE` writes it" in line


def test_resuming_a_run_that_has_its_certificate_names_the_replay_of_its_store(tmp_path: Path) -> None:
    db = tmp_path / "ev1.duckdb"
    certified_streams().fill(DuckDBEventStore(db, clock=lambda: RECORDED_AT))
    code, _, err = run_cli("certify", "--resume", "run-0", "--events", db)
    assert code == 2 and "[INVARLOCK:E406] run run-0 already has its certificate" in err, err
    assert f"`invarlock replay run-0 --events {db} -o FILE` writes it" in err
    replayed = tmp_path / "rebuilt.json"
    assert run_cli("replay", "run-0", "--events", db, "-o", replayed)[0] == 0 and replayed.exists()
