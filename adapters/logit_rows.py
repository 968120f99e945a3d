"""Per-row statistics of float32 logit rows, the one vocabulary-wide pass every CPU reduction is built from.

For a row x: its maximum m and the float64 partition sum S = Σ exp(x − m), so the NLL of target t is
m + log S − x_t. For a (baseline, subject) pair of rows, also T = Σ exp(x_b − m_b)·(x_b − x_s), so
KL(p_b ‖ p_s) = T / S_b − (m_b − m_s + log S_b − log S_s).

The arithmetic is specified, not left to a libm or a BLAS: exp(x) is 2^(k/16), k the integer nearest x·16/ln 2
(a 16-entry table and exponent bits), times a degree-6 Taylor polynomial of the Cody–Waite remainder
r = x − k·ln 2/16 (relative error < 1e-15; up to 0.3.1: 2^k and degree 11, < 1e-14, and about 20 % slower);
every sum runs in eight lanes (element i into lane i mod 8, in index order, from +0.0) combined by a fixed tree,
and no multiply-add is fused. The compiled kernel
(`_logit_rows.c`, both rows read once while they are in cache) and the numpy reference below perform the same
IEEE operations in the same order, hence give the same bits, on any CPU; where the kernel was not built (no C
compiler at install time) the reference runs, several times slower, with the same results. `KERNEL` says which.

`pair_stats_top` also gives each row's TOP largest logits' indices from the kernel's pass (its maximum loop keeps
block maxima, and only the blocks that can hold them are searched). Only where a row's TOP + 1 largest values are
strictly decreasing, so that every exact top-k answers the same indices in the same order; a tie there leaves
the row to the caller (-1s), whose top-k breaks ties its own way.
"""

from __future__ import annotations

import numpy as np
from invarlock.domain.errors import UsageError

try:
    from . import _logit_rows as _compiled  # type: ignore[attr-defined]
except ImportError:  # built only where a C compiler was found at install time (pyproject: optional)
    _compiled = None

KERNEL = "compiled" if _compiled is not None else "numpy reference"

FLOOR = -700.0  # exp(-700) ~ 1e-304: a term below it cannot change a sum that holds exp(0) = 1
LOG2E_16 = float.fromhex("0x1.71547652b82fep+4")  # 16 / ln 2
# x + MAGIC rounds x to an integer held in the low mantissa bits, offset by K_OFFSET = 16 * 1023: for x >= FLOOR the
# bits minus MAGIC_BITS (those of 0x1.8p52) are k + K_OFFSET >= 0, so a logical shift by 4 gives floor(k / 16) + 1023,
# the biased exponent of 2^floor(k/16) (the kernel's AVX2 has no arithmetic shift for 64-bit lanes), and the low 4
# bits are k mod 16
K_OFFSET = 16 * 1023
MAGIC = float.fromhex("0x1.8p52") + K_OFFSET
MAGIC_BITS = np.uint64(0x4338000000000000)
# fdlibm's split of ln 2, over 16: k * LN2_16_HI is exact for |k| < 2^20
LN2_16_HI = float.fromhex("0x1.62e42fee00000p-5")
LN2_16_LO = float.fromhex("0x1.a39ef35793c76p-37")
# 2^(j/16) for j = 0..15, correctly rounded
EXP2_16 = np.array(
    [
        float.fromhex(h)
        for h in (
            "0x1.0000000000000p+0",
            "0x1.0b5586cf9890fp+0",
            "0x1.172b83c7d517bp+0",
            "0x1.2387a6e756238p+0",
            "0x1.306fe0a31b715p+0",
            "0x1.3dea64c123422p+0",
            "0x1.4bfdad5362a27p+0",
            "0x1.5ab07dd485429p+0",
            "0x1.6a09e667f3bcdp+0",
            "0x1.7a11473eb0187p+0",
            "0x1.8ace5422aa0dbp+0",
            "0x1.9c49182a3f090p+0",
            "0x1.ae89f995ad3adp+0",
            "0x1.c199bdd85529cp+0",
            "0x1.d5818dcfba487p+0",
            "0x1.ea4afa2a490dap+0",
        )
    ]
)
# 1/k! for k = 6 down to 0, correctly rounded (Horner order)
TAYLOR = tuple(
    float.fromhex(h)
    for h in (
        "0x1.6c16c16c16c17p-10",
        "0x1.1111111111111p-7",
        "0x1.5555555555555p-5",
        "0x1.5555555555555p-3",
        "0x1.0000000000000p-1",
        "0x1.0000000000000p+0",
        "0x1.0000000000000p+0",
    )
)
LANES = 8
TOP = 5


def row_stats(rows: np.ndarray) -> np.ndarray:
    """(n, 2) float64: per row of the (n, vocab) float32 logits, (m, S)."""
    rows = _float32_rows(rows)
    out = np.empty((rows.shape[0], 2), dtype=np.float64)
    if _compiled is not None:
        _compiled.row_stats(rows, rows.shape[0], rows.shape[1], out)
        return out
    with np.errstate(invalid="ignore", over="ignore"):  # a NaN or +inf row: a non-finite S, as the kernel's
        peak = _max(rows)
        out[:, 0], out[:, 1] = peak, _lane_sum(_exp(rows - peak[:, None]))
    return out


def _same_shape(base: np.ndarray, subj: np.ndarray) -> None:
    """E104 for logit rows of two widths: the models have two vocabularies (an ONNX graph whose logits are not as
    wide as its config says, or states no vocab_size: the regression hunt's E999)."""
    if base.shape != subj.shape:
        raise UsageError(
            "E104",
            f"the baseline's logits are {base.shape[-1]} wide and the subject's {subj.shape[-1]}",
            "certify two models of one vocabulary: the same tokenizer and output head width",
        )


def pair_stats(base: np.ndarray, subj: np.ndarray) -> np.ndarray:
    """(n, 5) float64: per row pair of two (n, vocab) float32 logit arrays, (m_b, S_b, m_s, S_s, T)."""
    base, subj = _float32_rows(base), _float32_rows(subj)
    _same_shape(base, subj)
    out = np.empty((base.shape[0], 5), dtype=np.float64)
    if _compiled is not None:
        _compiled.pair_stats(base, subj, base.shape[0], base.shape[1], out)
        return out
    with np.errstate(invalid="ignore", over="ignore"):  # a NaN or +inf row: non-finite sums, as the kernel's
        peak_b, peak_s = _max(base), _max(subj)
        wide_b, wide_s = base.astype(np.float64), subj.astype(np.float64)
        exp_b = _exp(wide_b - peak_b[:, None])
        out[:, 0], out[:, 1] = peak_b, _lane_sum(exp_b)
        out[:, 2], out[:, 3] = peak_s, _lane_sum(_exp(wide_s - peak_s[:, None]))
        out[:, 4] = _lane_sum(exp_b * (wide_b - wide_s))
    return out


def pair_stats_top(base: np.ndarray, subj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pair_stats' (n, 5) rows, and (n, 2, TOP) int64: per row pair, the indices of the baseline row's and the
    subject row's TOP largest logits, largest first; -1s for a row whose TOP + 1 largest values (NaN ignored)
    are not strictly decreasing, whose partition sum is not finite (a NaN or +inf logit), or that has at most
    TOP logits."""
    base, subj = _float32_rows(base), _float32_rows(subj)
    _same_shape(base, subj)
    if _compiled is None:
        stats = pair_stats(base, subj)
        top = np.stack([_distinct_top(base), _distinct_top(subj)], axis=1)
    else:
        stats, top = np.empty((base.shape[0], 5)), np.empty((base.shape[0], 2, TOP), dtype=np.int64)
        _compiled.pair_stats_top(base, subj, base.shape[0], base.shape[1], stats, top)
    with np.errstate(invalid="ignore"):
        top[~np.isfinite(stats[:, [1, 3]])] = -1
    return stats, top


def pair_kl(stats: np.ndarray) -> np.ndarray:
    """Per row, KL(p_b ‖ p_s) = T / S_b − (m_b − m_s + log S_b − log S_s) from pair_stats' (n, 5) rows; NaN or
    ±inf where a row was not finite."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shift = (stats[:, 0] - stats[:, 2]) + np.log(stats[:, 1]) - np.log(stats[:, 3])
        kl: np.ndarray = stats[:, 4] / stats[:, 1] - shift
    return kl


def _float32_rows(rows: np.ndarray) -> np.ndarray:
    if rows.ndim != 2:
        raise ValueError(f"logit rows must be 2-D (positions, vocab), got shape {rows.shape}")
    return np.ascontiguousarray(rows, dtype=np.float32)


def _distinct_top(rows: np.ndarray) -> np.ndarray:
    """(n, TOP) int64: each row's TOP largest values' indices, largest first, where its TOP + 1 largest values
    (NaN ignored) are strictly decreasing; -1s elsewhere (the kernel's row_top, by a partition instead)."""
    top = np.full((rows.shape[0], TOP), -1, dtype=np.int64)
    if rows.shape[1] <= TOP:
        return top
    clean = np.where(np.isnan(rows), -np.inf, rows)
    some = np.argpartition(-clean, TOP, axis=1)[:, : TOP + 1]
    order = np.take_along_axis(some, np.argsort(-np.take_along_axis(clean, some, axis=1), axis=1), axis=1)
    values = np.take_along_axis(clean, order, axis=1)
    distinct = np.all(values[:, :-1] > values[:, 1:], axis=1)
    top[distinct] = order[distinct, :TOP]
    return top


def _max(rows: np.ndarray) -> np.ndarray:
    """Row maxima as float64, NaN ignored (as the kernel's compare-and-select); -inf for an all-NaN row."""
    return np.fmax.reduce(rows, axis=1, initial=-np.inf).astype(np.float64)


def _exp(x: np.ndarray) -> np.ndarray:
    """exp of float64 x <= 0 by the kernel's operations: clamp at FLOOR, k = round(16x / ln 2), r = x − k ln 2/16 in
    two steps, Horner over TAYLOR, times EXP2_16[k mod 16], times 2^floor(k/16) built from the exponent bits."""
    x = np.maximum(x, FLOOR)
    kd = x * LOG2E_16 + MAGIC
    k = kd - MAGIC
    r = x - k * LN2_16_HI
    r = r - k * LN2_16_LO
    p = TAYLOR[0] * r + TAYLOR[1]
    for c in TAYLOR[2:]:
        p = p * r + c
    ki = kd.view(np.uint64) - MAGIC_BITS  # k + K_OFFSET
    scale = ((ki >> np.uint64(4)) << np.uint64(52)).view(np.float64)
    result: np.ndarray = (p * EXP2_16[ki & 15]) * scale
    return result


def _lane_sum(terms: np.ndarray) -> np.ndarray:
    """Per row: LANES running sums from +0.0 (element i into lane i mod LANES, in order), then the fixed tree
    ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))."""
    rows, n = terms.shape
    padded = np.zeros((rows, LANES + n + (-n) % LANES), dtype=np.float64)
    padded[:, LANES : LANES + n] = terms
    lane = np.add.accumulate(padded.reshape(rows, -1, LANES), axis=1)[:, -1]
    a, b, c, d, e, f, g, h = lane.T
    result: np.ndarray = ((a + b) + (c + d)) + ((e + f) + (g + h))
    return result
