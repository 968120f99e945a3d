"""What an issuer can forge from its own run: every NLL one model scored times a factor, the preview assessment
recomputed, and the certificate rebuilt and sealed by the project's own functions (plain verify passes it)."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import arm_evidence, build_certificate
from invarlock.domain.metrics import PPL_CAUSAL
from invarlock.domain.run import replay


def forged_scores(store: Any, run_id: str, issued_at: str, factor: float, role: str = "subject") -> c.Certificate:
    """Run `run_id`'s certificate with every NLL sum of `role` times `factor`."""
    forged: list[ev.Event] = []
    for e in (ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)):
        if isinstance(e, ev.CertificateIssued):
            break
        if isinstance(e, ev.WindowsScored) and e.role == role:
            e = msgspec.structs.replace(
                e, rows=[msgspec.structs.replace(r, nll_sum=r.nll_sum * factor) for r in e.rows]
            )
        if isinstance(e, ev.PreviewAssessed):
            preview = arm_evidence(replay(forged), "preview")
            assert preview is not None
            e = msgspec.structs.replace(e, ratio=PPL_CAUSAL.arm_statistic(preview).ratio)
        forged.append(e)
    log = c.EventLogRef(run_id=run_id, head_hash="0" * 64, event_count=len(forged))
    return build_certificate(replay(forged), issued_at=issued_at, event_log=log)
