"""What may follow a run's certificate_issued event: its run_completed (in the same append, stating the
certificate's outcome at a time no earlier than its issue) and, for a signed certificate, the chain seal."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError
from invarlock.domain.run import RunState

from ..verification.verify_provenance import iso_time

ALTERED = "the event store was altered"


class Unsealed(IntegrityError):
    """A signed certificate's run without its chain seal: killed between the two (resumable) or its seal removed;
    `invarlock runs` lists it as UNSEALED, not TAMPERED."""


def _unsealed(run_id: str) -> str:
    return (
        "the run stopped after its certificate and before its chain seal, or the seal was removed: "
        f"`invarlock certify --resume {run_id} --sign-key KEY` seals it with the key that signed the certificate"
    )


def check_tail(state: RunState, cert: c.Certificate, records: list[ev.RecordedEvent]) -> None:
    """run_completed must state the certificate's outcome, recorded with it; a signed certificate's run must be
    sealed. Raises IntegrityError E603 naming what does not hold."""
    run_id = records[0].run_id
    done = state.completed
    if done is None:
        raise IntegrityError("E603", f"run {run_id} has a certificate but no run_completed event", ALTERED)
    if (done.status, done.verdict) != (cert.status, cert.verdict.status):
        raise IntegrityError(
            "E603",
            f"run_completed of run {run_id} says {done.status}/{done.verdict} but its certificate says "
            f"{cert.status}/{cert.verdict.status}",
            ALTERED,
        )
    seal = state.sealed
    if seal is None:
        if cert.signature is not None:
            said = f"run {run_id} has a signed certificate but no chain seal ({_unsealed(run_id)})"
            raise Unsealed("E603", said, "if the run was not stopped there, the event store was altered")
        _check_completion_time(run_id, done, cert, records)
        return
    head = records[-2]
    if (seal.head_seq, seal.head_hash) != (head.seq, head.hash):
        raise IntegrityError("E603", f"chain seal of run {run_id} names another head than seq {head.seq}", ALTERED)
    if cert.signature is None or seal.key_fingerprint != cert.signature.key_fingerprint:
        raise IntegrityError("E603", f"chain seal of run {run_id} is not by the certificate's signing key", ALTERED)
    _check_completion_time(run_id, done, cert, records)


def _check_completion_time(
    run_id: str, done: ev.RunCompleted, cert: c.Certificate, records: list[ev.RecordedEvent]
) -> None:
    """run_completed's time is one, taken after the certificate's issue, and both events are one append (one
    recorded_at): nothing a run writes otherwise (an unsigned run's rewritten tail read a negative duration)."""
    finished, issued = iso_time(done.finished_at), iso_time(cert.issued_at)
    if finished is None:
        said = f"run_completed of run {run_id} states finished_at {done.finished_at!r}, not an ISO-8601 time"
        raise IntegrityError("E603", said, ALTERED)
    if issued is not None and finished < issued:
        said = f"run_completed of run {run_id} finished at {done.finished_at}, before its certificate's issue"
        raise IntegrityError("E603", f"{said} at {cert.issued_at}", ALTERED)
    times = {r.recorded_at for r in records if r.type in ("certificate_issued", "run_completed")}
    if len(times) != 1:
        shown = ", ".join(sorted(times))
        said = f"certificate_issued and run_completed of run {run_id} were recorded at different times ({shown})"
        raise IntegrityError("E603", f"{said}: a run appends them together", ALTERED)
