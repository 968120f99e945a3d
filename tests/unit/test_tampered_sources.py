"""A stream rewritten (and re-linked) or cut after it was appended is what `invarlock runs` lists as TAMPERED; the
event-store hunt found three commands that took it anyway: `certify --resume` appended to it (the next append
re-indexed it, and `runs` then listed the forged run as completed PASS), baseline reuse copied the scores of a
rewritten run (a certificate with a forged baseline perplexity, which `verify --events` passed), and `replay` told
a run that had lost its certificate to finish it with --resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certification.certify import certify_edit, resume_run
from invarlock.application.replay.replay import event_findings, replay_certificate
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError

from tests.integration.event_forgery import decoded, index_of, relink, retimed_last, rewrite, with_event
from tests.unit.test_baseline_reuse import _forge_source_scores, _request


@pytest.fixture
def svc(services: Services, tmp_path: Path) -> Services:
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    return dataclasses.replace(services, store=store, index=store)


def _killed(svc: Services, tmp_path: Path, keep: int) -> tuple[Services, str]:
    """A run stopped after its first `keep` events, in a store of its own (appended as a kill leaves it)."""
    done = certify_edit(_request("int8ish"), svc)
    events = [ev.decode_event(r.type, r.version, r.payload) for r in svc.store.read(done.run_id)[:keep]]
    store = DuckDBEventStore(tmp_path / "killed.duckdb")
    store.append(done.run_id, 0, events)
    return dataclasses.replace(svc, store=store, index=store), done.run_id


def _nudge_first_baseline_score(db: Path, run_id: str) -> None:
    rewrite(db, run_id, _forge_source_scores)  # re-linked: the chain alone is intact


def test_a_killed_run_rewritten_after_it_was_appended_is_not_resumed_and_stays_as_it_is(svc, tmp_path) -> None:
    killed, run_id = _killed(svc, tmp_path, keep=11)
    _nudge_first_baseline_score(tmp_path / "killed.duckdb", run_id)
    before = killed.store.read(run_id)
    with pytest.raises(IntegrityError) as refused:
        resume_run(run_id, killed)
    assert refused.value.code == "E603" and "was rewritten after it was recorded" in refused.value.message
    assert killed.store.read(run_id) == before, "nothing appended, nothing re-indexed"
    with pytest.raises(IntegrityError) as replayed:
        replay_certificate(killed.store, run_id, killed.index)
    assert replayed.value.code == "E603", "not E405 'finish it with certify --resume'"


def test_the_same_killed_run_untouched_resumes(svc, tmp_path) -> None:
    killed, run_id = _killed(svc, tmp_path, keep=11)
    assert resume_run(run_id, killed).certificate.verdict.status == "PASS"


def test_a_run_that_lost_its_certificate_is_neither_resumed_nor_sent_to_resume(svc, tmp_path) -> None:
    done = certify_edit(_request("int8ish"), svc)
    rewrite(tmp_path / "events.duckdb", done.run_id, lambda records: records[:-2])
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    with pytest.raises(IntegrityError) as refused:
        resume_run(done.run_id, dataclasses.replace(svc, store=store, index=store))
    assert refused.value.code == "E603" and "lost events after it was recorded" in refused.value.message
    with pytest.raises(IntegrityError) as replayed:
        replay_certificate(store, done.run_id, store)
    assert replayed.value.code == "E603" and "lost events" in replayed.value.message


@pytest.mark.parametrize("index_forged_too", [False, True], ids=["stream", "stream and index"])
def test_the_scores_of_a_rewritten_run_are_not_copied(svc, tmp_path, index_forged_too: bool) -> None:
    first = certify_edit(_request("int8ish"), svc)
    _nudge_first_baseline_score(tmp_path / "events.duckdb", first.run_id)
    if index_forged_too:  # the run index made to agree: replay's own check (the certificate digest) refuses it
        head = DuckDBEventStore(tmp_path / "events.duckdb", read_only=True).read(first.run_id)[-1].hash
        with duckdb.connect(str(tmp_path / "events.duckdb")) as con:
            con.execute("UPDATE run_index SET head_hash = ? WHERE run_id = ?", [head, first.run_id])
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    second = certify_edit(_request("same"), dataclasses.replace(svc, store=store, index=store))
    assert second.certificate.provenance.baseline_scoring is None, "scored afresh"
    assert "baseline_reused" not in [r.type for r in store.read(second.run_id)]


def test_verify_events_fails_a_run_that_copied_from_a_source_rewritten_later(svc, tmp_path) -> None:
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    assert second.certificate.provenance.baseline_scoring is not None

    def forge_after_the_copies(records: list[ev.RecordedEvent]) -> list[ev.RecordedEvent]:
        """run_completed made to state another verdict, re-linked: the copied events keep their hashes."""
        completed = decoded(records[-1])
        assert isinstance(completed, ev.RunCompleted)
        records[-1] = with_event(records[-1], msgspec.structs.replace(completed, verdict="FAIL"))
        return relink(records)

    rewrite(tmp_path / "events.duckdb", first.run_id, forge_after_the_copies, link=False)
    findings = dict(event_findings(second.certificate, DuckDBEventStore(tmp_path / "events.duckdb", read_only=True)))
    assert not findings["baseline_source"].ok and "fails replay's check" in findings["baseline_source"].detail


def _index_says_audit(db: Path, run_id: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE run_index SET kind = 'audit' WHERE run_id = ?", [run_id])


def test_an_index_entry_made_to_say_audit_does_not_let_a_rewritten_run_through(svc, tmp_path) -> None:
    """The entry of an audit stream is not compared with its stream: one SQL update let resume, reuse and replay
    take a rewritten run that `runs` listed as TAMPERED (the regression hunt)."""
    killed, run_id = _killed(svc, tmp_path, keep=11)
    _nudge_first_baseline_score(tmp_path / "killed.duckdb", run_id)
    _index_says_audit(tmp_path / "killed.duckdb", run_id)
    store = DuckDBEventStore(tmp_path / "killed.duckdb")
    with pytest.raises(IntegrityError) as refused:
        resume_run(run_id, dataclasses.replace(killed, store=store, index=store))
    assert refused.value.code == "E603" and "the run index says kind 'audit' but it is a run" in refused.value.message
    with pytest.raises(IntegrityError):
        replay_certificate(store, run_id, store)
    db = tmp_path / "reuse.duckdb"  # a store whose only earlier run is the rewritten one
    fresh = DuckDBEventStore(db)
    first = certify_edit(_request("int8ish"), dataclasses.replace(svc, store=fresh, index=fresh))
    _nudge_first_baseline_score(db, first.run_id)
    _index_says_audit(db, first.run_id)
    source = DuckDBEventStore(db)
    second = certify_edit(_request("same"), dataclasses.replace(svc, store=source, index=source))
    assert second.certificate.provenance.baseline_scoring is None
    assert (
        second.certificate.provenance.guard_baseline is None and second.certificate.provenance.variance_baseline is None
    )


def test_events_shows_a_rewritten_run_and_then_exits_3(svc, tmp_path) -> None:
    """`events` listed a re-linked or cut stream with exit 0 while `runs` said TAMPERED (the regression hunt)."""
    from tests.fakes.cli import run_cli

    done = certify_edit(_request("int8ish"), svc)
    assert run_cli("events", done.run_id, "--events", tmp_path / "events.duckdb")[0] == 0
    rewrite(tmp_path / "events.duckdb", done.run_id, lambda records: records[:-2])
    code, out, err = run_cli("events", done.run_id, "--events", tmp_path / "events.duckdb")
    assert code == 3 and out.count("\n") == 14 and "lost events after it was recorded" in err


def test_verify_events_checks_the_run_and_its_sources_against_the_run_index(svc, tmp_path) -> None:
    """A source rewritten after it was appended where no certificate field reads (its last event's time), re-linked:
    the link's own checks pass it (its chain is intact, it rebuilds its certificate); `runs` lists it TAMPERED,
    and verify --events now fails it as well, as it fails the run's own stream rewritten so."""
    first = certify_edit(_request("int8ish"), svc)
    second = certify_edit(_request("same"), svc)
    assert second.certificate.provenance.baseline_scoring is not None
    rewrite(tmp_path / "events.duckdb", first.run_id, retimed_last)
    store = DuckDBEventStore(tmp_path / "events.duckdb", read_only=True)
    unindexed = dict(event_findings(second.certificate, store))  # the rewrite leaves what the links read intact
    found = dict(event_findings(second.certificate, store, index=store))
    said = f"run {first.run_id} was rewritten after it was recorded"
    links = ("baseline_source", "guard_baseline_source")  # the fake run's tier taps no variance here
    assert all(unindexed[name].ok for name in links), "the scores and guard measurements read were copied"
    assert all(not found[name].ok and said in found[name].detail for name in links)
    assert found["events"].ok, "the second run's own stream is the one appended"
    own = dict(event_findings(first.certificate, store, index=store))
    assert not own["events"].ok and said in own["events"].detail


def test_cli_verify_events_exits_3_for_a_cut_stream(svc, tmp_path) -> None:
    from tests.fakes.cli import run_cli

    done = certify_edit(_request("int8ish"), svc)
    cert = tmp_path / "cert.json"
    cert.write_bytes(c.to_bytes(done.certificate))
    assert run_cli("verify", cert, "--events", tmp_path / "events.duckdb")[0] == 0
    rewrite(tmp_path / "events.duckdb", done.run_id, retimed_last)
    code, out, _ = run_cli("verify", cert, "--events", tmp_path / "events.duckdb")
    assert code == 3 and "was rewritten after it was recorded" in out


def test_an_unfinished_stream_whose_index_row_says_completed_lends_no_scores(svc, tmp_path) -> None:
    """The store hunt: a stream planted under a new run id (a finished run's events before its certificate, its
    baseline scores forged, re-chained with the project's own functions) whose run_index row was edited to say
    completed PASS was the newest source: a failing int4 edit copied its scores and certified PASS, and verify
    --events agreed (an unfinished stream has no certificate for replay's check to rebuild)."""
    first = certify_edit(_request("int8ish"), svc)
    records = list(svc.store.read(first.run_id))
    events = [decoded(r) for r in records[: index_of(records, "certificate_issued")]]
    planted = "01a25309-0000-7000-8000-000000000000"
    started = events[0]
    assert isinstance(started, ev.RunStarted)
    events[0] = msgspec.structs.replace(started, run_id=planted, started_at="2099-01-01T00:00:00.000000Z")
    events = [e for e in events if not isinstance(e, ev.PreviewAssessed | ev.PreviewChecked)]
    events = [_forged_baseline(e) for e in events]
    svc.store.append(planted, 0, events)
    with duckdb.connect(str(tmp_path / "events.duckdb")) as con:
        con.execute(
            "UPDATE run_index SET status = 'completed', verdict = 'PASS', finished_at = started_at WHERE run_id = ?",
            [planted],
        )
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    second = certify_edit(_request("same"), dataclasses.replace(svc, store=store, index=store))
    scoring = second.certificate.provenance.baseline_scoring
    assert scoring is not None and {s.source_run_id for s in scoring} == {first.run_id}, "the finished run's"
    guards = second.certificate.provenance.guard_baseline
    assert guards is None or guards.source_run_id == first.run_id
    from invarlock.application.replay.source_link import replayed  # verify --events' check of a run's link

    state, problem = replayed(store.read(planted), "the source")
    assert state is None and problem == (
        "the source, which never finished (its stream holds no certificate and no run_completed)"
    )


def _forged_baseline(event: ev.Event) -> ev.Event:
    if not (isinstance(event, ev.WindowsScored) and event.role == "baseline"):
        return event
    return msgspec.structs.replace(
        event, rows=[msgspec.structs.replace(r, nll_sum=r.nll_sum * 1.19) for r in event.rows]
    )
