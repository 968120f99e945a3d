"""What a model's WeightSource hands the weight guards, checked as they read it (ports/model.py).

`unmapped()` a {weight name: reason} mapping, `census()` a TensorCensus, `variance_taps()` a list of weight
names; and, from a third-party adapter's model, every matrix of `matrices()` a named 2-D float array of a known
family with finite values (a built-in's census has checked the values before any guard measures them; a
plugin's matrices need not be the weights its census described). Anything else is refused naming the adapter
(E223; non-finite values E402), where it ended in E999 (an AttributeError, an IndexError, a LinAlgError)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from invarlock.domain.errors import AbortError
from invarlock.domain.guards.invariants import Check
from invarlock.domain.guards.section_checks import FAMILIES
from invarlock.domain.model import ActivationStats, TensorCensus, WindowScore
from invarlock.domain.run import RunState
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import NamedMatrix

from .score_rows import Run, adapter_fault, adapter_of, checked_scores

_MATRIX = "matrices() yield NamedMatrix (name, family, block, head, a 2-D float array)"


def checked_unmapped(state: RunState, role: str, found: object) -> dict[str, str]:
    if not isinstance(found, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in found.items()):
        raise adapter_fault(state, role, "unmapped()", f"returned {found!r:.60}", "unmapped() is {name: reason}")
    return dict(found)


def checked_census(state: RunState, role: str, found: object) -> TensorCensus:
    if not isinstance(found, TensorCensus):
        raise adapter_fault(state, role, "census()", f"returned {type(found).__name__}", "census() is a TensorCensus")
    return found


def checked_taps(state: RunState, role: str, found: object) -> list[str]:
    if not isinstance(found, (list, tuple)) or not all(isinstance(name, str) for name in found):
        raise adapter_fault(state, role, "variance_taps()", f"returned {found!r:.60}", "variance_taps() is [name]")
    return list(found)


def checked_matrix(state: RunState, role: str, found: Any) -> NamedMatrix:
    """`found` when it is a NamedMatrix of finite values or the model's adapter is a built-in."""
    if adapter_of(state, role)[1] is None:
        return found  # type: ignore[no-any-return]
    array = getattr(found, "array", None)
    name = getattr(found, "name", None)
    if not isinstance(name, str) or not all(hasattr(found, a) for a in ("family", "block", "head")):
        raise adapter_fault(state, role, "matrices()", f"yielded {type(found).__name__}", _MATRIX)
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.dtype.kind != "f":
        shape = getattr(array, "shape", None)
        what = f"yielded {name} as {type(array).__name__} {shape} of {getattr(array, 'dtype', None)}"
        raise adapter_fault(state, role, "matrices()", what, _MATRIX)
    if found.family not in FAMILIES:
        raise adapter_fault(state, role, "matrices()", f"yielded {name} of family {found.family!r}", _MATRIX)
    if not np.isfinite(array).all():
        raise AbortError("E402", f"non-finite weights in {name} ({role})", "repair or re-export the checkpoint")
    return found  # type: ignore[no-any-return]


_STATS = "activation_stats() is ({weight: ActivationStats}, [WindowScore]) for every weight and window asked"


def checked_stats(
    state: RunState | Run, role: str, found: object, weights: Sequence[str]
) -> dict[str, ActivationStats]:
    """`found` (activation statistics of `weights`) holding an ActivationStats for every one of them. `state` is
    the run's, or its (config, environment) as a certificate states them (the re-execution audit's)."""
    missing = (
        [w for w in weights if not isinstance(found.get(w), ActivationStats)]
        if isinstance(found, Mapping)
        else list(weights)
    )
    if missing:
        what = f"returned no ActivationStats for {missing[0]}" if isinstance(found, Mapping) else "returned no mapping"
        raise adapter_fault(state, role, "activation statistics", what, _STATS)
    return {w: found[w] for w in weights}  # type: ignore[index]


def checked_activation(
    state: RunState | Run, role: str, found: object, windows: Sequence[TokenWindow], weights: Sequence[str]
) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
    """`found` (ModelRunner.activation_stats of `windows`): the statistics of every weight, and the windows'
    scores checked as scoring checks them (they are the variance guard's A/B evidence)."""
    if not isinstance(found, (tuple, list)) or len(found) != 2:
        raise adapter_fault(state, role, "activation_stats()", f"returned {type(found).__name__}", _STATS)
    scores = checked_scores(state, role, windows, found[1], "activation_stats()")
    return checked_stats(state, role, found[0], weights), scores


def refuse_non_finite(checks: Sequence[Check], edited_by: str | None = None, of_baseline: bool = False) -> None:
    """AbortError E402 naming the first failed `*_weights_finite` check and up to 3 of its weights. The hint names
    the edit `edited_by` when the subject's weights failed after it (scale_weight's factor 1e308 read "repair or
    re-export the checkpoint"): the edit alone (`of_baseline`: the subject is the baseline, checked finite, then
    edited), else the edit or the subject checkpoint it was applied to."""
    non_finite = [c_ for c_ in checks if c_.name.endswith("weights_finite") and c_.status == "fail"]
    if non_finite:
        first = non_finite[0]
        hint = "repair or re-export the checkpoint; scoring it would produce NaN scores"
        if edited_by is not None and first.name.startswith("subject"):
            plan = f"check the edit {edited_by}'s edit.plan values (a factor too large?)"
            hint = plan if of_baseline else f"{plan}, or repair the subject checkpoint it was applied to"
        raise AbortError("E402", f"non-finite weights ({first.name}): {', '.join(first.offenders[:3])}", hint)
