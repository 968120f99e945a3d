"""The doctor's `holding` check: how certify/run would hold the two models (scoring_mode.py), and, one at a time with
KL and top-1 agreement measured, whether the temporary folder has room for the baseline's kept hidden states."""

from __future__ import annotations

from invarlock.domain import diagnostics as d
from invarlock.domain.policy import PREFLIGHT_MIN_FREE_BYTES
from invarlock.domain.windows import token_count
from invarlock.ports.loader import ShapeSettings

from ..certification.preflight import Preflight
from ..certification.scoring_mode import both_held_because

# the config names of a causal model's hidden size (the kept states' width), as its loader states them
HIDDEN_KEYS = ("hidden_size", "n_embd", "d_model", "dim")
ELEMENT_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
KEPT_ARMS = ("preview", "final")


def check_holding(pf: Preflight) -> None:
    """A D916 note: one model at a time (set, or chosen since nothing needs both), or both together and why; with
    one at a time and paired measures, the room the kept hidden states need, a D917 warning when it is short."""
    req = pf.request
    assert req is not None, "the baseline check needs a request"
    stated = req.config.eval.sequential
    why = None if stated is not None else both_held_because(req, pf.loader)
    if stated is not None:
        message = f"the run holds {'one model at a time' if stated else 'both models together'}"
        message += f" (eval.sequential: {str(stated).lower()})"
    elif why is None:
        message = "the run holds one model at a time (eval.sequential unset: recorded as true)"
    else:
        message = f"the run holds both models together (eval.sequential unset): {why}"
    alone = stated if stated is not None else why is None
    room = _kept_room(pf) if alone and req.config.eval.measures_pairs else None
    short = room is not None and room[0] + PREFLIGHT_MIN_FREE_BYTES > room[1]
    told = message if room is None or short else f"{message}; {_kept(*room)}"
    pf.findings.append(d.note("holding", d.D_HOLDING, told))
    if room is not None and short:
        pf.findings.append(_short(*room))


def _kept_room(pf: Preflight) -> tuple[int, int, str] | None:
    """(bytes the baseline's final hidden states of the kept arms take, free bytes, the temporary folder), or None
    when the windows, the hidden size or the disk cannot be told without loading the model."""
    model = pf.req.config.model
    if pf.planned is None or pf.probe is None or not isinstance(pf.loader, ShapeSettings):
        return None
    shapes = pf.loader.shape_settings(model.id, adapter=model.adapter) or {}
    hidden = next((shapes[k] for k in HIDDEN_KEYS if k in shapes), None)
    if hidden is None or model.dtype not in ELEMENT_BYTES:
        return None
    planned, rows = pf.planned
    tokens = token_count((w.window_id for arm in KEPT_ARMS for w in planned.plan.arm(arm)), rows)
    folder = pf.probe.temp_folder()
    return tokens * hidden * ELEMENT_BYTES[model.dtype], pf.probe.free_bytes(folder), folder


def _kept(need: int, free: int, folder: str) -> str:
    return f"the baseline's kept hidden states take {_mib(need)} in {folder} ({_mib(free)} free)"


def _short(need: int, free: int, folder: str) -> d.Finding:
    return d.warning(
        "holding",
        d.D_KEPT_ROOM,
        f"{_kept(need, free, folder)}, with {_mib(PREFLIGHT_MIN_FREE_BYTES)} to be left beside them: the run would "
        "stop with E608 before the baseline's pass",
        "free space there or set TMPDIR to a folder on a larger disk, or hold both models (--no-sequential)",
    )


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"
