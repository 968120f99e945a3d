"""verify's checks of where a certificate says its baseline evidence came from (provenance.baseline_scoring,
guard_baseline, variance_baseline): that each claim is one a run could make. Whether the source run holds those
events is checked by verify --events; these checks need no store."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from invarlock.domain import certificate as c
from invarlock.domain.events_reuse import EventRef

from .verify_report import dig

_HASH = re.compile(r"[0-9a-f]{64}")


def reuse_problems(cert: c.Certificate) -> Iterator[str]:
    """Why the certificate's reuse claims contradict its config, its evidence or each other (none: empty)."""
    p = cert.provenance
    no_reuse = dig(p.config, "eval", "reuse") is False
    for entry in p.baseline_scoring or ():
        yield from _scoring_problems(cert, entry, no_reuse)
    arms = [entry.arm for entry in p.baseline_scoring or ()]
    if len(set(arms)) != len(arms):
        yield f"provenance.baseline_scoring names an arm twice ({', '.join(arms)})"
    claims = (
        ("guard_baseline", p.guard_baseline, cert.guards.spectral or cert.guards.rmt, "the spectral or RMT guard"),
        ("variance_baseline", p.variance_baseline, cert.guards.variance, "the variance guard"),
    )
    for name, claim, section, guard in claims:
        if claim is None:
            continue
        where = f"provenance.{name}"
        if no_reuse:
            yield f"{where}: read from run {claim.source_run_id}, yet the run config says eval.reuse: false"
        if section is None:
            yield f"{where} names measurements read from another run, but {guard} did not run"
        yield from _source_problems(where, claim.source_run_id, cert.run_id, claim.source_events)


def _scoring_problems(cert: c.Certificate, entry: c.BaselineScoring, no_reuse: bool) -> Iterator[str]:
    where = f"provenance.baseline_scoring ({entry.arm})"
    arm = {"preview": cert.evidence.preview, "final": cert.evidence.final}.get(entry.arm)
    if arm is None:
        yield f"{where}: {entry.arm!r} is not an arm the run scored"
        return
    if not entry.reused:
        if not entry.reason or entry.scoring_key is not None or entry.source_events is not None:
            yield f"{where}: a baseline scored again states why (reason), and no scoring key or source events"
        if entry.source_run_id == cert.run_id:
            yield f"{where}: the run cannot be its own earlier scoring"
        return
    if no_reuse:
        yield f"{where} says the baseline's scores were copied, yet the run config says eval.reuse: false"
    if entry.reason is not None or not entry.scoring_key:
        yield f"{where}: copied scores name their scoring key, and no reason"
    if arm.comparisons is not None:
        yield f"{where}: copied baseline scores, yet the arm has paired measures, which need both models' logits"
    yield from _source_problems(where, entry.source_run_id, cert.run_id, entry.source_events or [])


def _source_problems(where: str, source_run_id: str, run_id: str, events: Sequence[EventRef]) -> Iterator[str]:
    if source_run_id == run_id:
        yield f"{where}: the run cannot read its own stream as an earlier run's"
    if not events:
        yield f"{where}: names no source events"
    seqs = [e.seq for e in events]
    if any(s < 0 for s in seqs) or seqs != sorted(set(seqs)):
        yield f"{where}: source event seqs {seqs[:6]} are not distinct, ascending and >= 0"
    if not all(_HASH.fullmatch(e.hash) for e in events):
        yield f"{where}: a source event hash is not 64 lowercase hex digits"
