"""replay_certificate: rebuild a certificate from a run's events alone; check_run: the chain-checked fold."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain import signature
from invarlock.domain.build import build_certificate
from invarlock.domain.errors import IntegrityError, InvarlockError, UnknownRun, UsageError
from invarlock.domain.preview_check import assessment_problem
from invarlock.domain.run import RunState, replay
from invarlock.ports.signing import SignatureVerifier
from invarlock.ports.store import EventStore, RunIndex

from ..signing import SignatureFinding, check_seal
from ..verification.verify_report import diff
from .guard_link import guard_findings
from .listing import indexed_stream_problem
from .replay_budget import bootstrap_budget
from .reuse_link import reuse_findings
from .source_link import AppendedSources
from .source_seal import seal_findings
from .tail import ALTERED as _ALTERED
from .tail import check_tail
from .variance_link import variance_findings

# Events decode strictly, but values inside them (counts, sums, nested config) may still be absurd
_UNBUILDABLE = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError)


UNKNOWN_RUN = "E404"


def read_stream(store: EventStore, run_id: str) -> list[ev.RecordedEvent]:
    records = store.read(run_id)
    if not records:
        raise UnknownRun(run_id)
    return records


def audited_run(records: list[ev.RecordedEvent]) -> str | None:
    """The run an intact re-execution audit stream audited (None for any other stream). Such a stream has no
    run_started and no certificate: folded as a run, it read as an altered store (E604, exit 3)."""
    from ..verification.reexecute import is_audit_stream

    if not is_audit_stream(records):
        return None
    started = ev.decode_event(records[0].type, records[0].version, records[0].payload)
    return started.certificate_run_id if isinstance(started, ev.ReexecutionStarted) else None


_CHECKED_KEPT = 8
_CHECKED: dict[tuple[str, ...], CheckedRun] = {}  # by the stream's row hashes, oldest first


@dataclass(frozen=True)
class CheckedRun:
    """A stream whose chain links, whose events fold in order and whose tail agrees with its certificate.

    `events` are the records decoded; `certificate` is the one replay rebuilds (None while the run has none:
    incomplete or failed).
    """

    records: list[ev.RecordedEvent]
    events: list[ev.Event]
    state: RunState
    certificate: c.Certificate | None

    @property
    def finished(self) -> bool:
        """Whether the stream itself holds the certificate it rebuilds and run_completed: what makes it a reuse
        source (the run index's status is a row anyone who can write the file can edit)."""
        return self.certificate is not None and self.state.completed is not None


def check_run(records: list[ev.RecordedEvent]) -> CheckedRun:
    """Check a whole stream read from a store and fold it.

    Checks, in order: every hash link (docs/reference/event-chain.md), every payload decodes, the events
    fold in order (a certificate is followed by exactly run_completed and, for a signed certificate, its
    chain_sealed), the preview assessment and rollback are what the preview evidence gives, the replayed
    certificate's digest equals the issued one, run_completed states that certificate's status and verdict,
    and the seal names the event before it.

    Raises:
        IntegrityError: E603 a link, the digest or the tail disagrees; E604 a payload or the order is wrong.
    """
    problems = ev.chain_problems(records)
    if problems:
        raise IntegrityError("E603", f"event chain broken: {problems[0]}", _ALTERED)
    # The same intact chain holds the same rows: a stream checked once in this process (a reuse source that the
    # scores, the guards and the variance taps each look up) is not rebuilt again.
    key = tuple(r.hash for r in records)
    if key in _CHECKED:
        return _CHECKED[key]
    decoded = [ev.decode_event(r.type, r.version, r.payload) for r in records]
    state = replay(decoded)
    if state.started.run_id != records[0].run_id:  # a run's events appended under another id (the store hunt)
        said = f"stream {records[0].run_id} holds the run_started of run {state.started.run_id}"
        raise IntegrityError("E604", said, _ALTERED)
    wrong = assessment_problem(state)
    if wrong is not None:
        raise IntegrityError("E604", f"run {records[0].run_id}: {wrong}", _ALTERED)
    at = next((i for i, e in enumerate(decoded) if isinstance(e, ev.CertificateIssued)), None)
    cert = None if at is None else _rebuild(records, decoded, at)
    if cert is not None:
        check_tail(state, cert, records)
    checked = CheckedRun(records=records, events=decoded, state=state, certificate=cert)
    _CHECKED[key] = checked
    while len(_CHECKED) > _CHECKED_KEPT:
        del _CHECKED[next(iter(_CHECKED))]
    return checked


def _rebuild(records: list[ev.RecordedEvent], decoded: list[ev.Event], at: int) -> c.Certificate:
    """The certificate from the events before certificate_issued, with the recorded signature put back."""
    issued = decoded[at]
    assert isinstance(issued, ev.CertificateIssued)
    run_id = records[0].run_id
    ref = c.EventLogRef(run_id=run_id, head_hash=records[at - 1].hash, event_count=at)
    state = replay(decoded[:at])
    bootstrap_budget(state)
    try:
        built = build_certificate(state, issued_at=issued.issued_at, event_log=ref)
    except UsageError as exc:  # a recorded policy or config that does not parse: the store's fault, not the user's
        why = exc.message
        raise IntegrityError("E604", f"run {run_id}: the events do not build a certificate: {why}", _ALTERED) from exc
    except _UNBUILDABLE as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise IntegrityError("E604", f"run {run_id}: the events do not build a certificate ({why})", _ALTERED) from exc
    cert = signature.restore(built, issued)
    if cert.digest != issued.certificate_digest:
        raise IntegrityError(
            "E603",
            f"replayed certificate digest {cert.digest[:16]} differs from the issued {issued.certificate_digest[:16]}",
            "the events or the tool version changed",
        )
    return cert


def link_findings(
    store: EventStore, checked: CheckedRun, index: RunIndex | None = None, *, deep: bool = True
) -> list[tuple[str, SignatureFinding]]:
    """The checks of what the run read from other runs of the store (baseline scores, guard measurements,
    variance taps: baseline-reuse.md), each source also against the store's run `index` when given (the stream
    appended under that run) and, `deep`, with its own links back to the originals; [] for a run that read
    nothing from another."""
    appended = AppendedSources(index, store if deep else None)  # each source asked once, however many links name it
    return [
        *reuse_findings(store, checked.records, checked.state, appended),
        *guard_findings(store, checked.state, appended),
        *variance_findings(store, checked.state, appended),
    ]


def link_problem(
    store: EventStore, checked: CheckedRun, index: RunIndex | None = None, *, deep: bool = True
) -> str | None:
    """The first link of `checked` to another run that fails its check (link_findings), as `check: why`."""
    found = link_findings(store, checked, index, deep=deep)
    return next((f"{name}: {finding.detail}" for name, finding in found if not finding.ok), None)


def source_runs(state: RunState) -> list[str]:
    """The runs `state`'s links name: of its copied baseline scores, guard measurements and variance taps."""
    scores = [e.source_run_id for e in state.baseline_sources if isinstance(e, ev.BaselineReused)]
    others = [link.source_run_id for link in (state.guard_source, state.variance_source) if link is not None]
    return [*scores, *others]


def replay_certificate(
    store: EventStore, run_id: str, index: RunIndex | None = None, tool_version: str | None = None
) -> c.Certificate:
    """Check `run_id`'s stream (check_run), its links to other runs (link_findings) and, given the store's
    `index`, that the stream is the one appended (listing.indexed_stream_problem), and return the certificate it
    rebuilds, byte-identical to the issued file (the signature recorded in certificate_issued is put back).

    Raises:
        UsageError: E404 unknown run; E405 the run has no certificate.
        IntegrityError: as check_run; E603 a stream rewritten or cut after it was appended.
    """
    records = read_stream(store, run_id)
    audited = audited_run(records)
    if audited is not None:
        raise UsageError(
            "E405",
            f"run '{run_id}' is a re-execution audit of run {audited}, not a certification: it has no certificate",
            f"`invarlock events {run_id}` shows its findings; `invarlock replay {audited}` rebuilds the audited one",
        )
    checked = check_run(records)  # first: it names what is wrong with a stream that fails on its own
    problem = link_problem(store, checked, index)
    if problem is not None:
        raise IntegrityError("E603", f"run {run_id}: {problem}", _ALTERED)
    rewritten = indexed_stream_problem(index, run_id) if index is not None else None
    if rewritten is not None:  # a stream that passes on its own, yet not the one appended (re-linked, or cut)
        raise IntegrityError("E603", rewritten, _ALTERED)
    if checked.certificate is None:
        failed = checked.state.failed
        if failed is not None:
            raise UsageError(
                "E405",
                f"run '{run_id}' failed ({failed.code}) and has no certificate",
                f"re-run it; `invarlock events {run_id}` shows how far it got",
            )
        raise UsageError(  # a killed run: resume finishes it without re-scoring what it scored
            "E405", f"run '{run_id}' is incomplete: it has no certificate", _unfinished_hint(checked, tool_version)
        )
    return checked.certificate


def _unfinished_hint(checked: CheckedRun, tool_version: str | None) -> str:
    """How to finish a killed run: resume it with the release that started it (a resume by another is E605)."""
    run_id, started_by = checked.state.started.run_id, checked.state.started.tool_version
    shows = f"`invarlock events {run_id}` shows how far it got"
    if tool_version is not None and started_by != tool_version:
        return f"only invarlock {started_by}, which started it, can finish it (`certify --resume {run_id}`); {shows}"
    return f"finish it with `invarlock certify --resume {run_id}` (with the same --events); {shows}"


def event_findings(
    cert: c.Certificate,
    store: EventStore,
    verifier: SignatureVerifier | None = None,
    *,
    required: bool = False,
    index: RunIndex | None = None,
) -> list[tuple[str, SignatureFinding]]:
    """verify --events: the `events` check (check_run, then replay rebuilds `cert`'s exact bytes; given the store's
    run `index`, the stream must be the one appended, and so must each source a link names) and, when a trusted
    key is given, a signature is required or the run is sealed, the `chain_seal` check.

    Every failure is an integrity failure (exit 3), except a store that cannot be read at all (not a DuckDB
    file, not InvarLock's, locked, missing, an earlier format): that usage error is raised as every other
    command raises it (exit 2), since no check of the certificate ran.
    """
    try:
        checked = check_run(read_stream(store, cert.run_id))
    except UsageError as exc:
        if exc.code != UNKNOWN_RUN:
            raise
        # a wrong file, or a store the run was deleted from: verify cannot tell them apart
        fix = "pass the event store the run was recorded in (`invarlock runs --events FILE` lists a store's runs)"
        detail = f"{exc.message}: {fix}; a store it was deleted from is an altered store"
        return _failed_events(detail, verifier, required)
    except InvarlockError as exc:
        return _failed_events(exc.message, verifier, required)
    rebuilt = checked.certificate
    same = rebuilt is not None and c.to_bytes(rebuilt) == c.to_bytes(cert)
    detail = "chain intact, replay rebuilds identical bytes" if same else _replay_difference(cert, rebuilt)
    if rebuilt is None:
        detail = f"run {cert.run_id} has no certificate in the event store"
    rewritten = indexed_stream_problem(index, cert.run_id) if index is not None else None
    if rewritten is not None:  # the stream replays on its own, yet is not the one appended (re-linked, or cut)
        same, detail = False, rewritten
    links = [*link_findings(store, checked, index), *seal_findings(store, checked.records, checked.state, verifier)]
    return [("events", SignatureFinding(same, detail, True)), *links, *_seal_finding(cert, checked, verifier, required)]


def _replay_difference(cert: c.Certificate, rebuilt: c.Certificate | None) -> str:
    """Where the certificate first differs from the one its events rebuild (a field, or its bytes alone)."""
    if rebuilt is None:
        return "replay differs from the certificate"
    where = diff(msgspec.to_builtins(cert), msgspec.to_builtins(rebuilt), "certificate")
    return f"replay differs from the certificate at {where}" if where else "replay differs from the certificate's bytes"


def _failed_events(
    detail: str, verifier: SignatureVerifier | None, required: bool
) -> list[tuple[str, SignatureFinding]]:
    failed = [("events", SignatureFinding(False, detail, True))]
    if verifier is not None or required:  # a check that cannot run fails
        failed.append(("chain_seal", SignatureFinding(False, "not checked: the run's events fail", True)))
    return failed


def _seal_finding(
    cert: c.Certificate, checked: CheckedRun, verifier: SignatureVerifier | None, required: bool
) -> list[tuple[str, SignatureFinding]]:
    seal = checked.state.sealed
    if verifier is not None:
        return [("chain_seal", check_seal(cert.run_id, seal, verifier))]
    if seal is not None:
        detail = f"chain head sealed by {seal.key_fingerprint} (key not supplied, not checked)"
        return [("chain_seal", SignatureFinding(True, detail, False))]
    if required:
        detail = f"run {cert.run_id} has no chain seal, but a signature is required"
        return [("chain_seal", SignatureFinding(False, detail, True))]
    return []
