"""The doctor's `holding` check: how certify/run would hold the two models (scoring_mode.py)."""

from __future__ import annotations

from invarlock.domain import diagnostics as d

from ..certification.preflight import Preflight
from ..certification.scoring_mode import both_held_because


def check_holding(pf: Preflight) -> None:
    """A D916 note: one model at a time (set, or chosen since nothing needs both), or both together and why."""
    req = pf.request
    assert req is not None, "the baseline check needs a request"
    stated = req.config.eval.sequential
    if stated is not None:
        how = "one model at a time" if stated else "both models together"
        pf.findings.append(
            d.note("holding", d.D_HOLDING, f"the run holds {how} (eval.sequential: {str(stated).lower()})")
        )
        return
    why = both_held_because(req, pf.loader)
    if why is None:
        message = "the run holds one model at a time (eval.sequential unset: recorded as true)"
    else:
        message = f"the run holds both models together (eval.sequential unset): {why}"
    pf.findings.append(d.note("holding", d.D_HOLDING, message))
