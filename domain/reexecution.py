"""Re-execution audit arithmetic: which windows and matrices a recipient re-checks, when two recomputed
numbers agree, and how likely a sample is to catch altered evidence. Pure functions, no models."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .model import ModelIdentity

# Recorded environment entries that change the bits of a forward pass or of a spectrum (BLAS and kernels
# come with the torch and numpy builds; thread counts change reduction orders). guard_blas_threads: the BLAS
# threads of the guards' matrix measurements (absent in runs that measured with the machine's default).
# cpu: the model and the instruction sets that select float kernels (the same build gave other bits on an Intel
# Xeon with AMX than on an AMD EPYC). TOOL_KEY: the tool's own version, which the audit adds to both sides from
# the certificate's `tool.version` and its own (a release may reduce or batch differently: other bits).
TOOL_KEY = "invarlock"
BUILD_KEYS = (
    TOOL_KEY,
    "python",
    "platform",
    "cpu",
    "numpy",
    "torch",
    "transformers",
    "torch_threads",
    "guard_blas_threads",
)
# Entries that runs of earlier releases did not record and whose absence keeps the rule those releases applied
# (bit for bit when everything else is equal): dropping one from a certificate only makes its audit stricter.
UNRECORDED_AS_EQUAL = frozenset({"cpu"})
# The entries that change only the weight guards' matrix measurements, not a forward pass: a difference in them
# alone leaves the scores and activation taps to be compared bit for bit.
GUARD_ONLY_KEYS = frozenset({"guard_blas_threads"})
FORWARD_KEYS = tuple(key for key in BUILD_KEYS if key not in GUARD_ONLY_KEYS)
POWER_FRACTIONS = (0.01, 0.05)
# How a measurement was reached (iteration counts, power-iteration residuals, which method answered) may
# differ across builds while the measured values agree; across builds only the values are compared.
PATH_FIELDS = frozenset({"method", "iterations", "residual"})


def detection_power(fraction: float, sample: int) -> float:
    """Probability, at least, that `sample` windows drawn uniformly without replacement include one of the
    altered windows when a fraction `fraction` of all windows was altered: 1 − (1 − f)^K.

    Drawing without replacement only raises the chance, so this bound holds for every plan size.
    """
    if not 0.0 <= fraction <= 1.0 or sample < 0:
        raise ValueError("fraction must lie in [0, 1] and the sample size must be >= 0")
    return 1.0 - (1.0 - fraction) ** sample


def choose_sample(ids: Sequence[int], size: int | None, seed: int, label: str) -> list[int]:
    """`size` ids drawn without replacement (every id when `size` is None or at least len(ids)), sorted.

    The draw is a permutation keyed by sha256(seed, label): the recipient picks the seed, so the issuer of
    the certificate cannot know in advance which windows or matrices will be re-checked, and the same seed
    and label always give the same draw on every platform.
    """
    unique = sorted(set(ids))
    if size is None or size >= len(unique):
        return unique
    if size < 1:
        raise ValueError("the sample size must be at least 1")
    key = hashlib.sha256(f"invarlock/reexecution/v1\x00{seed}\x00{label}".encode()).digest()
    ranks = np.frombuffer(hashlib.shake_256(key).digest(8 * len(unique)), dtype="<u8")
    order = np.argsort(ranks, kind="stable")[:size]
    return sorted(unique[int(i)] for i in order)


def relative_difference(stated: float, recomputed: float) -> float:
    """|stated − recomputed| / max(|stated|, |recomputed|); 0 when both are equal, inf when one is not finite."""
    if stated == recomputed:
        return 0.0
    if not (math.isfinite(stated) and math.isfinite(recomputed)):
        return math.inf
    return abs(stated - recomputed) / max(abs(stated), abs(recomputed))


def agrees(stated: float, recomputed: float, *, exact: bool, rel_tol: float) -> bool:
    """Bit for bit when `exact` (same device, dtype and build), else within `rel_tol` relative difference."""
    if exact:
        return type(stated) is type(recomputed) and stated == recomputed
    return relative_difference(float(stated), float(recomputed)) <= rel_tol


def with_tool_version(environment: Mapping[str, str], version: str) -> dict[str, str]:
    """`environment` with the tool version that computed under it, as build_differences compares it."""
    return {**environment, TOOL_KEY: version}


def build_differences(
    recorded: Mapping[str, str],
    current: Mapping[str, str],
    recorded_model: ModelIdentity,
    current_model: ModelIdentity,
    keys: Sequence[str] = BUILD_KEYS,
) -> list[str]:
    """What differs between the issuer's build and the recipient's: the BUILD_KEYS of both environments and
    the models' dtype, device and device map (another placement may run other kernels). Empty means the
    recomputed numbers must agree bit for bit. `keys`: the environment entries compared (FORWARD_KEYS: those
    of a forward pass)."""
    diffs = [
        f"{key} {recorded.get(key, 'unrecorded')} -> {current.get(key, 'unrecorded')}"
        for key in keys
        if recorded.get(key) != current.get(key) and (key in recorded or key not in UNRECORDED_AS_EQUAL)
    ]
    diffs += [
        f"{key} {getattr(recorded_model, key)} -> {getattr(current_model, key)}"
        for key in ("dtype", "device", "device_map")
        if getattr(recorded_model, key) != getattr(current_model, key)
    ]
    return diffs


def compare_tree(
    stated: Any, recomputed: Any, *, exact: bool, rel_tol: float, path: str = ""
) -> tuple[str | None, float]:
    """The first path where two plain JSON values disagree (None when they agree) and the largest relative
    difference between their floats. Exact: every value bit for bit. Otherwise floats within `rel_tol`,
    other values equal, and PATH_FIELDS skipped."""
    if isinstance(stated, dict) and isinstance(recomputed, dict):
        if stated.keys() != recomputed.keys():
            return path or ".", 0.0
        return _fold(
            ((stated[k], recomputed[k], f"{path}.{k}") for k in stated if exact or k not in PATH_FIELDS),
            exact=exact,
            rel_tol=rel_tol,
        )
    if isinstance(stated, list) and isinstance(recomputed, list):
        if len(stated) != len(recomputed):
            return path or ".", 0.0
        items = ((a, b, f"{path}[{i}]") for i, (a, b) in enumerate(zip(stated, recomputed, strict=True)))
        return _fold(items, exact=exact, rel_tol=rel_tol)
    if isinstance(stated, float) or isinstance(recomputed, float):
        both = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (stated, recomputed))
        if not both:
            return path, 0.0
        diff = relative_difference(float(stated), float(recomputed))
        return (None if agrees(stated, recomputed, exact=exact, rel_tol=rel_tol) else path), diff
    return (None if stated == recomputed and type(stated) is type(recomputed) else path), 0.0


def _fold(items: Any, *, exact: bool, rel_tol: float) -> tuple[str | None, float]:
    first: str | None = None
    largest = 0.0
    for a, b, where in items:
        mismatch, diff = compare_tree(a, b, exact=exact, rel_tol=rel_tol, path=where)
        first = first or mismatch
        largest = max(largest, diff)
    return first, largest
