"""Pairing of a certificate's evidence against its window plan (used to build and to verify).

The primary metric's statistics live in domain/metrics/ (one module per kind)."""

from __future__ import annotations

import itertools

from . import certificate as c
from .examples import EXAMPLE_STRIDE


def _spans_overlap(ids: list[int], seq_len: int, stride: int) -> int:
    if stride == EXAMPLE_STRIDE:  # labelled examples are separate texts: only the same example twice overlaps
        return sum(1 for a, b in itertools.pairwise(sorted(ids)) if a == b)
    starts = sorted(i * stride for i in ids)
    return sum(1 for a, b in itertools.pairwise(starts) if b < a + seq_len or b == a)


def pairing_section(evidence: c.Evidence, dataset: c.DatasetSection) -> c.PairingSection:
    """Match fraction against the plan, measured overlap of token spans, and why pairing failed (if it did)."""
    arms = [("preview", evidence.preview, dataset.windows.preview)]
    if evidence.final is not None:
        arms.append(("final", evidence.final, dataset.windows.final))
    planned = sum(n for _, _, n in arms)
    ids = [i for _, a, _ in arms for i in a.window_ids]
    paired = len(ids)
    overlap = _spans_overlap(ids, dataset.seq_len, dataset.stride) / paired if paired else 1.0
    reason = None
    for name, arm, n in arms:
        if len(arm.window_ids) != n:
            reason = f"{name}_count_mismatch: {len(arm.window_ids)} scored, {n} planned"
    if len(set(ids)) != len(ids):
        reason = "duplicate_window_ids"
    elif overlap > 0:
        reason = "overlapping_windows"
    match = min(paired, planned) / planned if planned else 0.0
    return c.PairingSection(match_fraction=match, overlap_fraction=overlap, paired_windows=paired, reason=reason)
