"""The run index: what `invarlock runs` lists about each stream, folded from its events as they are appended.

The index is derived data, never evidence: every field can be rebuilt from the stream, and the stream's length
and head hash recorded with it show whether the stream still ends where it did when it was indexed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from . import events as ev
from .errors import InvarlockError

RUN, AUDIT, OTHER = "run", "audit", "other"


class IndexedRun(msgspec.Struct, frozen=True, kw_only=True):
    """One stream as the run index records it.

    Attributes:
        run_id: the stream.
        kind: `run` (starts with run_started), `audit` (a re-execution audit's own stream, not a run) or
            `other` (starts with neither; listing flags it).
        events: the stream's length when it was indexed.
        head_hash: the hash of its last event then.
        first_recorded_at: when its first event was recorded (ISO-8601 UTC); runs list in this order.
        command, started_at: from run_started.
        finished_at: run_completed's or run_failed's time, None while the run is incomplete.
        status: `completed`/`rollback` (run_completed), `failed` (run_failed) or `incomplete`.
        verdict: run_completed's PASS/FAIL.
        baseline, subject: the fingerprinted model refs, or the ids the config asked for before a fingerprint.
        baseline_digest: the baseline's weights sha256, None before it was fingerprinted.
        problem: set when the index was built from stored rows that fail the chain check or do not decode.
    """

    run_id: str
    kind: str
    events: int
    head_hash: str
    first_recorded_at: str
    command: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    status: str = "incomplete"
    verdict: str | None = None
    baseline: str | None = None
    subject: str | None = None
    baseline_digest: str | None = None
    problem: str | None = None


def requested_model(config: Mapping[str, object], section: str) -> str | None:
    """The model id a run asked for (`model` or `subject` section), shown while it has no fingerprint.

    A `run` (an in-process edit) has no subject section: its subject is the edited baseline.
    """
    model = config.get(section) or (config.get("model") if section == "subject" and config.get("edit") else None)
    return str(model["id"]) if isinstance(model, dict) and "id" in model else None


def _started(run: IndexedRun, e: ev.RunStarted) -> IndexedRun:
    return msgspec.structs.replace(
        run,
        command=e.command,
        started_at=e.started_at,
        baseline=requested_model(e.config, "model"),
        subject=requested_model(e.config, "subject"),
    )


def _fingerprinted(run: IndexedRun, e: ev.ModelFingerprinted) -> IndexedRun:
    r = msgspec.structs.replace
    if e.role == "baseline":
        return r(run, baseline=e.identity.ref, baseline_digest=e.identity.weights_sha256)
    return r(run, subject=e.identity.ref) if e.role == "subject" else run


def _fold(run: IndexedRun, e: ev.Event) -> IndexedRun:
    r = msgspec.structs.replace
    match e:
        case ev.RunStarted():
            return _started(run, e)
        case ev.ModelFingerprinted():
            return _fingerprinted(run, e)
        case ev.RunCompleted():
            return r(run, finished_at=e.finished_at, status=e.status, verdict=e.verdict)
        case ev.RunFailed():
            return r(run, finished_at=e.failed_at, status="failed")
    return run


def _kind(first: ev.Event) -> str:
    if isinstance(first, ev.RunStarted):
        return RUN
    return AUDIT if isinstance(first, ev.ReexecutionStarted) else OTHER


def index_appended(
    prior: IndexedRun | None, rows: Sequence[ev.RecordedEvent], events: Sequence[ev.Event]
) -> IndexedRun | None:
    """The index entry after appending `events` (recorded as `rows`) to a stream indexed as `prior`.

    Args:
        prior: the stream's entry before the append; None for a new stream.
        rows: the rows just recorded, in order (their seq continue the stream).
        events: the same events, decoded.

    Returns:
        The new entry; `prior` unchanged when nothing was appended.
    """
    if not rows:
        return prior
    run = prior or IndexedRun(
        run_id=rows[0].run_id, kind=_kind(events[0]), events=0, head_hash="", first_recorded_at=rows[0].recorded_at
    )
    for e in events:
        run = _fold(run, e)
    first = min(run.first_recorded_at, rows[0].recorded_at)
    return msgspec.structs.replace(run, events=run.events + len(rows), head_hash=rows[-1].hash, first_recorded_at=first)


def index_decoded(rows: Sequence[ev.RecordedEvent], events: Sequence[ev.Event]) -> IndexedRun:
    """The index entry of a whole stream whose chain was checked and whose rows decode to `events`: what
    `index_stored` gives it, without checking and decoding it again."""
    entry = index_appended(None, rows, events)
    assert entry is not None, "a checked stream has rows"
    return msgspec.structs.replace(entry, first_recorded_at=min(r.recorded_at for r in rows))


def index_stored(rows: Sequence[ev.RecordedEvent]) -> IndexedRun:
    """The index entry of a whole stream read back from a store (to build the index of an existing store).

    A stream whose chain is broken or whose payloads do not decode gets an entry with `problem` set and its
    fields taken from the rows before the first undecodable one.
    """
    problems = ev.chain_problems(list(rows))
    decoded: list[ev.Event] = []
    for r in rows:
        try:
            decoded.append(ev.decode_event(r.type, r.version, r.payload))
        except InvarlockError as exc:
            problems.append(exc.message)
            break
    entry = index_appended(None, rows[: len(decoded)], decoded) if decoded else None
    first = rows[0]
    base = entry or IndexedRun(run_id=first.run_id, kind=OTHER, events=0, head_hash="", first_recorded_at="")
    return msgspec.structs.replace(
        base,
        events=len(rows),
        head_hash=rows[-1].hash,
        first_recorded_at=min(r.recorded_at for r in rows),
        problem=problems[0] if problems else None,
    )
