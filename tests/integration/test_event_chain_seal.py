"""The chain seal: with --sign-key the run's chain head is signed, so a re-linked tail is caught by anyone
holding the public key (verify --events --pubkey exits 3), and a signed run without its seal fails."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.adapters.ed25519 import generate_keypair, load_signer, load_verifier, public_path
from invarlock.application.replay.replay import replay_certificate
from invarlock.application.services import Services
from invarlock.application.signing import check_seal, seal_chain
from invarlock.domain import certificate as c
from invarlock.domain import events as ev

from tests.fakes.cli import run_cli
from tests.integration.event_forgery import Records, decoded, index_of, issue, relink, rewrite, with_event
from tests.unit.conftest import loader, services, store  # noqa: F401 (fixtures used by name)


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "issuer.key"
    generate_keypair(path)
    return path


@pytest.fixture
def signed(request: pytest.FixtureRequest, tmp_path: Path, key: Path) -> tuple[Path, Path, str]:
    """A signed certificate, the DuckDB file of its (sealed) run and the run id."""
    fake: Services = request.getfixturevalue("services")
    cert, db = tmp_path / "evaluation.cert.json", tmp_path / "ev.duckdb"
    run_id = issue(dataclasses.replace(fake, signer=load_signer(key)), db, cert)
    return cert, db, run_id


def _verify(cert: Path, db: Path, *extra: str | Path) -> tuple[int, dict[str, dict]]:
    code, out, _ = run_cli("verify", cert, "--events", db, "--json", *extra)
    return code, {check["name"]: check for check in json.loads(out)["checks"]}


def _reseal_head(records: Records, signer_key: Path | None = None) -> Records:
    """Re-link, then point the seal at the new head; with `signer_key`, re-sign it with that (forger's) key."""
    linked = relink(records)
    head, seal = linked[-2], decoded(linked[-1])
    assert isinstance(seal, ev.ChainSealed)
    fixed = msgspec.structs.replace(seal, head_seq=head.seq, head_hash=head.hash)
    if signer_key is not None:
        fixed = seal_chain(head.run_id, head.seq, head.hash, load_signer(signer_key))
    return [*linked[:-1], with_event(linked[-1], fixed)]


def _rewrite_completion(**changes: str) -> Callable[[Records], Records]:
    def edit(records: Records) -> Records:
        at = index_of(records, "run_completed")
        forged = msgspec.structs.replace(decoded(records[at]), **changes)
        return [*records[:at], with_event(records[at], forged), *records[at + 1 :]]

    return edit


def test_a_signed_run_ends_with_a_seal_of_its_head_that_the_public_key_verifies(
    signed: tuple[Path, Path, str], key: Path
) -> None:
    cert, db, run_id = signed
    records = DuckDBEventStore(db, read_only=True).read(run_id)
    seal = decoded(records[-1])
    assert [r.type for r in records[-3:]] == ["certificate_issued", "run_completed", "chain_sealed"]
    assert isinstance(seal, ev.ChainSealed) and (seal.head_seq, seal.head_hash) == (records[-2].seq, records[-2].hash)
    code, checks = _verify(cert, db, "--pubkey", public_path(key), "--require-signature")
    assert code == 0 and checks["chain_seal"]["ok"] and "verified" in checks["chain_seal"]["detail"], checks
    code, checks = _verify(cert, db)
    assert code == 0 and "key not supplied, not checked" in checks["chain_seal"]["detail"]
    replayed = run_cli("replay", run_id, "--events", db)
    assert replayed[0] == 0 and replayed[1].rstrip("\n").encode() == cert.read_bytes()


def test_a_relinked_tail_is_caught_by_the_public_key_holder(signed: tuple[Path, Path, str], key: Path) -> None:
    cert, db, run_id = signed
    edit = _rewrite_completion(finished_at="2099-01-01T09:09:09+00:00")
    rewrite(db, run_id, lambda records: _reseal_head(edit(records)))
    code, checks = _verify(cert, db)
    assert code == 3 and "was rewritten after it was recorded" in checks["events"]["detail"], "the run index's head"
    head = DuckDBEventStore(db, read_only=True).read(run_id)[-1].hash
    with duckdb.connect(str(db)) as con:  # the forger owns the file: the index row made to agree too
        con.execute("UPDATE run_index SET head_hash = ? WHERE run_id = ?", [head, run_id])
    code, _ = _verify(cert, db)
    assert code == 0  # without the key, a self-consistent re-linked tail and index are indistinguishable: the limit
    code, checks = _verify(cert, db, "--pubkey", public_path(key))
    failed = [name for name, check in checks.items() if not check["ok"]]
    assert code == 3 and failed == ["chain_seal"] and "does not verify" in checks["chain_seal"]["detail"]


def test_a_tail_resealed_with_the_forgers_key_fails_replay_and_the_public_key(
    signed: tuple[Path, Path, str], key: Path, tmp_path: Path
) -> None:
    cert, db, run_id = signed
    forger = tmp_path / "forger.key"
    generate_keypair(forger)
    edit = _rewrite_completion(finished_at="2099-01-01T09:09:09+00:00")
    rewrite(db, run_id, lambda records: _reseal_head(edit(records), forger))
    code, checks = _verify(cert, db, "--pubkey", public_path(key))
    assert code == 3 and "not by the certificate's signing key" in checks["events"]["detail"]
    assert not checks["chain_seal"]["ok"] and "not checked" in checks["chain_seal"]["detail"]
    code, _, err = run_cli("replay", run_id, "--events", db)
    assert code == 3 and "not by the certificate's signing key" in err
    seal = decoded(DuckDBEventStore(db, read_only=True).read(run_id)[-1])
    assert isinstance(seal, ev.ChainSealed)
    finding = check_seal(run_id, seal, load_verifier(public_path(key)))
    assert not finding.ok and finding.integrity and "not by the supplied" in finding.detail
    assert check_seal(run_id, seal, load_verifier(public_path(forger))).ok  # the forger's own key, of course


def test_a_signed_run_whose_seal_was_deleted_fails(signed: tuple[Path, Path, str], key: Path) -> None:
    cert, db, run_id = signed
    rewrite(db, run_id, lambda records: records[:-1])
    named = f"run {run_id} has a signed certificate but no chain seal"
    resume = f"`invarlock certify --resume {run_id} --sign-key KEY` seals it"
    for extra in ((), ("--require-signature",), ("--pubkey", public_path(key))):
        code, checks = _verify(cert, db, *extra)
        assert code == 3 and named in checks["events"]["detail"] and resume in checks["events"]["detail"], extra
    code, _, err = run_cli("replay", run_id, "--events", db)
    assert code == 3 and named in err and resume in err, "a run killed before its seal is resumable"


def test_an_unsealed_run_fails_when_a_signature_is_required(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    cert, db = tmp_path / "cert.json", tmp_path / "ev.duckdb"
    run_id = issue(request.getfixturevalue("services"), db, cert)
    code, checks = _verify(cert, db, "--require-signature")
    assert code == 3 and not checks["chain_seal"]["ok"] and f"run {run_id} has no chain seal" in checks[
        "chain_seal"
    ]["detail"]  # fmt: skip
    assert c.to_bytes(replay_certificate(DuckDBEventStore(db, read_only=True), run_id)) == cert.read_bytes()


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("not a time", "states finished_at 'not a time', not an ISO-8601 time"),
        ("2020-01-01T00:00:00.000000Z", "finished at 2020-01-01T00:00:00.000000Z, before its certificate's issue"),
        ("recorded apart", "were recorded at different times"),
    ],
)
def test_a_completion_no_run_writes_fails_replay(request: pytest.FixtureRequest, tmp_path: Path, case: str, said: str):
    # An unsigned run's rewritten tail read a negative duration in the audit and "not a time" in `runs`.
    cert, db = tmp_path / "cert.json", tmp_path / "ev.duckdb"
    run_id = issue(request.getfixturevalue("services"), db, cert)

    def edit(records: Records) -> Records:
        if case != "recorded apart":
            return _rewrite_completion(finished_at=case)(records)
        at = index_of(records, "certificate_issued")
        earlier = msgspec.structs.replace(records[at], recorded_at="2020" + records[at].recorded_at[4:])
        return [*records[:at], earlier, *records[at + 1 :]]

    rewrite(db, run_id, edit)
    code, _, err = run_cli("replay", run_id, "--events", db)
    assert code == 3 and said in err and "[INVARLOCK:E603]" in err, err


def _as_if_killed_before_the_seal(db: Path, run_id: str) -> None:
    """The seal removed, and the run index's entry as a kill before it leaves it (the stream's head then)."""
    rewrite(db, run_id, lambda records: records[:-1])
    head = DuckDBEventStore(db, read_only=True).read(run_id)[-1]
    with duckdb.connect(str(db)) as con:
        con.execute(
            "UPDATE run_index SET events = ?, head_hash = ? WHERE run_id = ?", [head.seq + 1, head.hash, run_id]
        )


def test_runs_lists_a_signed_run_without_its_seal_as_unsealed_not_tampered(signed: tuple[Path, Path, str]) -> None:
    """A run killed between its certificate and its seal (resumable) was listed TAMPERED with "the event store was
    altered" (the concurrency hunt, stop 71)."""
    _, db, run_id = signed
    _as_if_killed_before_the_seal(db, run_id)
    code, out, err = run_cli("runs", "--events", db, "--check-chains")
    assert code == 3 and "UNSEALED" in out and "TAMPERED" not in out, out
    assert err.startswith(
        f"ERROR [INVARLOCK:E603] 1 of 1 runs have a signed certificate but no chain seal; first: run {run_id}"
    )
    assert (
        "`invarlock certify --resume RUN --sign-key KEY`; if none was stopped there, the event store was altered" in err
    )


def test_an_unsealed_run_whose_index_verdict_was_edited_lists_as_tampered(signed: tuple[Path, Path, str]) -> None:
    """The seal removed and the index row's verdict edited listed UNSEALED, hiding the edit (the regression hunt,
    stop 71)."""
    _, db, run_id = signed
    _as_if_killed_before_the_seal(db, run_id)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE run_index SET verdict = 'FAIL' WHERE run_id = ?", [run_id])
    code, out, err = run_cli("runs", "--events", db, "--check-chains")
    assert code == 3 and "TAMPERED" in out and "UNSEALED" not in out, out
    assert "verdict 'FAIL'" in err, err


def test_the_exit_line_names_an_altered_run_before_an_unsealed_one() -> None:
    from invarlock.application.replay.audit import UNSEALED, tampered, tampered_error

    runs = [tampered("a", 3, "run a has a signed certificate but no chain seal", UNSEALED), tampered("b", 2, "edited")]
    error = tampered_error(runs)
    assert error is not None and error.message == "2 of 2 runs fail the chain check; first: run b: edited"
