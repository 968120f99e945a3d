"""The fixed bins of per-token KL divergence: every histogram (adapter), quantile (domain) and recompute
script uses these edges, defined once here.

Edges are the decimal numbers m × 10^d for the ten mantissas of MANTISSAS (10^(k/10) rounded to three
digits) and every decade d from -8 to 1, plus 1e2: 101 edges, each a literal that every language parses to
the same float64. Bin 0 holds KL < 1e-8 (including zero and float64 round-off below zero), bin i (1..100)
holds EDGES[i-1] ≤ KL < EDGES[i], bin 101 holds KL ≥ 1e2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MANTISSAS = ("1.00", "1.26", "1.58", "2.00", "2.51", "3.16", "3.98", "5.01", "6.31", "7.94")
EDGES: tuple[float, ...] = (*(float(f"{m}e{d}") for d in range(-8, 2) for m in MANTISSAS), 1e2)
BINS = len(EDGES) + 1
QUANTILE_RULE = (
    "q-quantile = min(upper edge of the bin holding the ceil(q*N)-th smallest token KL, largest token KL); "
    "bins: [0,1e-8), then m*10^d for m in 1.00 1.26 1.58 2.00 2.51 3.16 3.98 5.01 6.31 7.94, d=-8..1, "
    "then [1e2, inf)"
)


def upper_edge(index: int) -> float:
    """The exclusive upper edge of bin `index` (inf for the overflow bin)."""
    return EDGES[index] if index < len(EDGES) else math.inf


def quantile(histogram: Sequence[int], q: float, largest: float) -> float:
    """The conservative q-quantile (0 < q ≤ 1) of the tokens counted in `histogram` by QUANTILE_RULE: never
    below the exact quantile, never above the largest token KL. Raises ValueError on an empty histogram."""
    total = sum(histogram)
    if total <= 0 or len(histogram) != BINS:
        raise ValueError(f"a KL histogram needs {BINS} bins and at least one token")
    rank, seen = max(1, math.ceil(q * total)), 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return min(upper_edge(index), largest)
    raise AssertionError("unreachable: the ranks cover the histogram")


def within_one_bin(stated: Sequence[int], recomputed: Sequence[int]) -> bool:
    """Whether two histograms of the same tokens differ only by tokens that moved to an adjacent bin (a token
    KL at a bin edge may land on either side on another build): the same bins and total, and at every edge the
    counts below it differ by at most the tokens either histogram holds in the two bins beside it."""
    if len(stated) != BINS or len(recomputed) != BINS or sum(stated) != sum(recomputed):
        return False
    below_stated = below_recomputed = 0
    for k in range(BINS - 1):
        below_stated, below_recomputed = below_stated + stated[k], below_recomputed + recomputed[k]
        beside = min(stated[k] + stated[k + 1], recomputed[k] + recomputed[k + 1])
        if abs(below_stated - below_recomputed) > beside:
            return False
    return True
