"""Find earlier runs whose baseline work can be copied: same baseline weights (the run index's filter),
finished, stored as appended, a stream that passes replay's check and, for a run that signs its certificate, sealed
by the same key (sealed_by_signer). The scores of an arm are copied from one with the same scoring key and a
baseline score for every planned window of the arm. Work is copied only from the run that did it, never from a run
that copied it in turn: a link then names the original, and no chain of copies grows run after run (each link
would have to be checked back to the original, and a copier's copies lend on nothing its source no longer
holds)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from invarlock.domain import events as ev
from invarlock.domain import signature as sig
from invarlock.domain.baseline_reuse import scoring_key
from invarlock.domain.errors import IntegrityError, InvarlockError, UsageError
from invarlock.domain.run import RunState
from invarlock.domain.run_query import RunQuery
from invarlock.ports.signing import Signer
from invarlock.ports.store import EventStore, RunIndex

from ..replay.listing import run_entry_problem
from ..replay.replay import check_run

FINISHED = ("completed", "rollback")

# a resumed run's recorded copy of an earlier run's records: scores, guard measurements or variance taps
Link = ev.BaselineReused | ev.GuardBaselineReused | ev.VarianceBaselineReused


@dataclass(frozen=True)
class Candidate:
    """A finished earlier run of the same baseline weights: its records, decoded events and state."""

    records: Sequence[ev.RecordedEvent]
    events: list[ev.Event]
    state: RunState


@dataclass(frozen=True)
class Source:
    """The run to copy from, its baseline windows_scored events of the arm (decoded) and their references."""

    run_id: str
    refs: list[ev.EventRef]
    copies: list[ev.WindowsScored]


class Found:
    """The candidates one run has found so far, keyed by the baseline's weights digest: the lookups of a run (each
    arm's scores, the guard measurements, the variance taps) walk the same candidates, so each reads the run index
    and each candidate's stream once per run (every read is a connection to the store), and checks no candidate
    twice; a lookup that stops early leaves the rest for the next."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[Iterator[Candidate], list[Candidate]]] = {}

    def walk(self, weights: str, fresh: Callable[[], Iterator[Candidate]]) -> Iterator[Candidate]:
        if weights not in self._found:
            self._found[weights] = (fresh(), [])
        source, seen = self._found[weights]
        at = 0
        while True:
            if at == len(seen):
                following = next(source, None)
                if following is None:
                    return
                seen.append(following)
            yield seen[at]
            at += 1


def candidates(
    store: EventStore, index: RunIndex, state: RunState, signer: Signer | None, found: Found | None = None
) -> Iterator[Candidate]:
    """Finished runs other than this one with the baseline's weights sha256, newest first, stored as they were
    appended (the run index's head; a stream without an index entry is none), that pass replay's check (an intact
    chain, events that decode, fold and rebuild the issued certificate) and, when this run signs with `signer`, that
    the same key sealed (others are passed over). With the run's `found`, those an earlier lookup of the run found
    are not read again."""
    weights = state.models["baseline"].identity.weights_sha256
    if found is not None:
        return found.walk(weights, lambda: candidates(store, index, state, signer))
    return _candidates(store, index, state, signer, weights)


def _candidates(
    store: EventStore, index: RunIndex, state: RunState, signer: Signer | None, weights: str
) -> Iterator[Candidate]:
    entries, _ = index.indexed_runs(RunQuery(baseline_digest=weights))
    for entry in reversed(entries):
        run = entry.run
        if run.run_id == state.started.run_id or run.status not in FINISHED or run.baseline_digest != weights:
            continue
        if run_entry_problem(entry) is not None:  # rewritten or cut after it was appended, or its entry altered
            continue
        if not entry.indexed:  # no entry written at its append: an earlier release's (no source: its tool version is
            continue  # in every key) or one whose row was removed, which a rewritten stream's check would then skip
        records = store.read(run.run_id)
        try:  # what replay checks: the links, the decoding and that the events rebuild the issued certificate
            checked = check_run(list(records)) if records else None
        except InvarlockError:
            continue
        if checked is None or not checked.finished:  # an unfinished stream under an index row edited to "completed"
            continue
        candidate = Candidate(records=records, events=checked.events, state=checked.state)
        if signer is None or sealed_by_signer(candidate, signer):
            yield candidate


def linked_events(
    store: EventStore,
    index: RunIndex | None,
    state: RunState,
    link: Link,
    signer: Signer | None,
    found: Found | None = None,
) -> list[ev.Event] | None:
    """The events a resumed run's recorded link names in its source, read again with the checks a new lookup makes
    (candidates: the source's index entry, replay's check of its stream, the signer's seal) and each event's hash
    the link's; None when the source no longer passes them or holds other events (altered in place, re-linked or
    removed since): its numbers are then nothing a resume may copy."""
    if index is None:
        return None
    events = _named(candidates(store, index, state, signer, found), link)
    if events is None and signer is not None and _unsigned_by(store, index, state, link, signer):
        raise _other_signer(state, link, signer)
    return events


def _unsigned_by(store: EventStore, index: RunIndex, state: RunState, link: Link, signer: Signer) -> bool:
    """Whether the link's source is intact and its key's seal is not this key's (another key's, or none): the
    resume was given another key than the run started with. A seal naming this key that fails is an altered
    source (E605), never this usage error."""
    for candidate in candidates(store, index, state, None):
        if candidate.records[0].run_id == link.source_run_id:
            seal = candidate.state.sealed
            mine = seal is not None and seal.key_fingerprint == signer.fingerprint
            return not mine and _named(iter([candidate]), link) is not None
    return False


def _named(found: Iterator[Candidate], link: Link) -> list[ev.Event] | None:
    for candidate in found:
        records = candidate.records
        if records[0].run_id != link.source_run_id:
            continue
        if not all(0 <= r.seq < len(records) and records[r.seq].hash == r.hash for r in link.source_events):
            return None
        return [candidate.events[r.seq] for r in link.source_events]
    return None


def _other_signer(state: RunState, link: Link, signer: Signer) -> UsageError:
    """E705: the source a resumed run copied is intact but not sealed by this resume's key: the run was started
    with another key or none (its key is an input of each resume, not a recorded fact), so nothing is recorded."""
    return UsageError(
        "E705",
        f"cannot resume run {state.started.run_id} with signing key {signer.fingerprint}: the baseline evidence it "
        f"copied, from run {link.source_run_id}, is not sealed by that key",
        "resume with the --sign-key the run was started with, or without --sign-key if it was started unsigned",
    )


def source_gone(state: RunState, what: str, link: Link) -> IntegrityError:
    """E605 for a resume whose recorded `what` source (linked_events) no longer holds what the run's link names:
    never measured afresh silently, since the run's own link states the numbers are the source's."""
    return IntegrityError(
        "E605",
        f"cannot resume run {state.started.run_id}: its {what} source, run {link.source_run_id}, no longer holds the "
        "records this run names as they were appended (removed, altered or re-linked)",
        "the event store was altered: certify again (--no-reuse measures the baseline afresh)",
    )


def sealed_by_signer(candidate: Candidate, signer: Signer) -> bool:
    """Whether `signer`'s key sealed the candidate's whole stream: its last event is a chain seal by that key over
    the event before it. A signed certificate vouches for its evidence, copies included: an unsigned run, or one
    another key sealed, would put numbers its key never vouched for under its signature. Ed25519 signatures are
    deterministic, so the seal is checked by signing its message again."""
    seal, records = candidate.state.sealed, candidate.records
    if seal is None or seal.key_fingerprint != signer.fingerprint or records[-1].type != "chain_sealed":
        return False
    if seal.head_seq != len(records) - 2 or records[-2].hash != seal.head_hash:
        return False
    message = ev.seal_message(records[0].run_id, seal.head_seq, seal.head_hash)
    return sig.decode_value(seal.signature) == signer.sign(message)


def find_source(
    store: EventStore,
    index: RunIndex,
    state: RunState,
    arm: str,
    key: str,
    plan: ev.WindowsPlanned | None = None,
    signer: Signer | None = None,
    found: Found | None = None,
) -> Source | None:
    """The newest finished run whose baseline scoring of `arm` matches `key` and can be copied, or None (`plan`:
    the window plan before the run records it; `found`: the run's candidates so far)."""
    planned = {w.window_id for w in (plan if plan is not None else state.planned()).plan.arm(arm)}
    for candidate in candidates(store, index, state, signer, found):
        source = _source(candidate, arm, key, planned) if scoring_key(candidate.state) == key else None
        if source is not None:
            return source
    return None


def _source(candidate: Candidate, arm: str, key: str, planned: set[int]) -> Source | None:
    """The stream's copyable baseline scores of `arm`; None when they are copies themselves, coverage does not
    match or an event would not copy byte for byte (written by an earlier release)."""
    if copied(candidate, arm) or scored_by_actors(candidate.state):
        return None
    chosen = [(r, e) for r, e in zip(candidate.records, candidate.events, strict=True) if _baseline_scores(e, arm)]
    if any(ev.encode_event(e) != (r.type, r.version, r.payload) for r, e in chosen):
        return None
    copies = [e for _, e in chosen if isinstance(e, ev.WindowsScored)]
    if {row.window_id for e in copies for row in e.rows} != planned:
        return None
    refs = [ev.EventRef(seq=r.seq, hash=r.hash) for r, _ in chosen]
    return Source(run_id=candidate.records[0].run_id, refs=refs, copies=copies)


def scored_by_actors(state: RunState) -> bool:
    """Whether the run's windows were scored by Ray actors: each on its own host, whose machine the scoring key
    (the driver's environment and device) does not describe, so its scores are no source for any run."""
    execution = state.started.config.get("execution")
    return isinstance(execution, dict) and execution.get("backend") == "ray"


def copied(candidate: Candidate, arm: str) -> bool:
    """Whether the candidate's baseline scores of `arm` are copies themselves (their original is the source)."""
    return candidate.state.reused(arm) is not None


def _baseline_scores(e: ev.Event, arm: str) -> bool:
    return isinstance(e, ev.WindowsScored) and e.role == "baseline" and e.arm == arm
