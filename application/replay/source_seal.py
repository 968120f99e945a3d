"""verify --events: the key behind evidence a signed run copied from earlier runs (baseline scores, guard
measurements, variance taps). A signed certificate vouches for every number it holds, copies included, so each
source run must be sealed by the key that signed the run: checked against the recipient's key (`--pubkey`), else
its stated fingerprint compared (reported as not checked). An unsigned run vouches for nothing: no check."""

from __future__ import annotations

from collections.abc import Sequence

from invarlock.domain import events as ev
from invarlock.domain.errors import InvarlockError
from invarlock.domain.run import RunState
from invarlock.ports.signing import SignatureVerifier
from invarlock.ports.store import EventStore

from ..signing import SignatureFinding, check_seal
from .source_link import decoded

Finding = tuple[str, SignatureFinding]


def source_runs(records: Sequence[ev.RecordedEvent], state: RunState) -> list[str]:
    """The runs whose events this run copied or read its baseline measurements from, in the order first named."""
    named = [
        e.source_run_id
        for r in records
        if r.type == "baseline_reused" and isinstance(e := decoded(r), ev.BaselineReused)
    ]
    named += [link.source_run_id for link in (state.guard_source, state.variance_source) if link is not None]
    return list(dict.fromkeys(named))


def seal_findings(
    store: EventStore, records: Sequence[ev.RecordedEvent], state: RunState, verifier: SignatureVerifier | None
) -> list[Finding]:
    """The `source_seal` check of a signed run with copied evidence; [] for an unsigned run or one without."""
    signed = state.issued.signature_key_fingerprint if state.issued is not None else None
    sources = source_runs(records, state)
    if signed is None or not sources:
        return []
    problems = [p for run_id in sources if (p := _problem(store, run_id, signed, verifier)) is not None]
    if problems:
        return [("source_seal", SignatureFinding(False, problems[0], True))]
    named = ", ".join(sources)
    if verifier is None:
        detail = f"copied evidence from run(s) {named}, sealed by {signed} (key not supplied, not checked)"
        return [("source_seal", SignatureFinding(True, detail, False))]
    return [("source_seal", SignatureFinding(True, f"copied evidence from run(s) {named}, sealed by {signed}", True))]


def _problem(store: EventStore, run_id: str, signed: str, verifier: SignatureVerifier | None) -> str | None:
    from .replay import check_run  # replay imports this module

    try:
        source = check_run(store.read(run_id))
    except InvarlockError as exc:
        return f"the signed run copied evidence from run {run_id}, whose events fail their check: {exc.message}"
    seal = source.state.sealed
    if seal is None or seal.key_fingerprint != signed:
        by = "no key" if seal is None else f"another key ({seal.key_fingerprint})"
        return (
            f"the signed run copied evidence from run {run_id}, which {by} sealed: its numbers are not vouched for by "
            f"the run's key {signed} (invarlock 0.3.7 and earlier could copy so: re-issue the certificate)"
        )
    if verifier is not None:
        found = check_seal(run_id, seal, verifier)
        return None if found.ok else f"the signed run copied evidence from run {run_id}: {found.detail}"
    return None
