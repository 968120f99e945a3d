"""A forger's tools for DuckDB event files: issue a run on the fake models, rewrite its stream and re-link
every hash with the project's own chain recipe (the chain has no key, so anyone can do this)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import duckdb
import msgspec
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev

from tests.unit.conftest import small_config

Records = list[ev.RecordedEvent]


def issue(svc: Services, db: Path, cert_path: Path, subject: str = "int8ish") -> str:
    """Certify `subject` against the fake baseline into the event file `db`; write the certificate; its run id."""
    run = CertifyRequest("certify", small_config(), ModelConfig(id=subject), tier="balanced", profile="dev")
    outcome = certify_edit(run, dataclasses.replace(svc, store=DuckDBEventStore(db)))
    cert_path.write_bytes(c.to_bytes(outcome.certificate))
    return outcome.run_id


def relink(records: Records) -> Records:
    """Number the rows 0.. and recompute every prev_hash and hash with domain.events.record_hash."""
    out: Records = []
    prev = ev.GENESIS_HASH
    for seq, rec in enumerate(records):
        row = msgspec.structs.replace(rec, seq=seq, prev_hash=prev, hash="")
        row = msgspec.structs.replace(row, hash=ev.record_hash(row))
        out.append(row)
        prev = row.hash
    return out


def with_event(rec: ev.RecordedEvent, event: ev.Event) -> ev.RecordedEvent:
    """`rec` carrying `event` instead (type, version and canonical payload), hashes left for relink."""
    type_, version, payload = ev.encode_event(event)
    return msgspec.structs.replace(rec, type=type_, version=version, payload=payload)


def decoded(rec: ev.RecordedEvent) -> ev.Event:
    return ev.decode_event(rec.type, rec.version, rec.payload)


def rewrite(db: Path, run_id: str, edit: Callable[[Records], Records], *, link: bool = True) -> None:
    """Replace the stream `run_id` in `db` by `edit(stream)`, re-linked unless `link` is False."""
    records = edit(DuckDBEventStore(db, read_only=True).read(run_id))
    rows = relink(records) if link else records
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM events WHERE run_id = ?", [run_id])
        con.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [r.run_id, r.seq, r.type, r.version, r.payload.decode(), r.recorded_at, r.prev_hash, r.hash]
                for r in rows
            ],
        )


def index_of(records: Records, type_: str) -> int:
    return next(i for i, r in enumerate(records) if r.type == type_)


def retimed_last(records: Records) -> Records:
    """The last append recorded a second later (`rewrite` re-links the rest): a stream rewritten where no
    certificate field reads, so it still replays on its own; only the run index tells it from the appended one."""
    at = records[-1].recorded_at
    later = f"{at[:17]}{(int(at[17:19]) + 1) % 60:02d}{at[19:]}"
    return [msgspec.structs.replace(r, recorded_at=later) if r.recorded_at == at else r for r in records]
