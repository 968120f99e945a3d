"""Deterministic masked-LM masking (masked-LM perplexity): which positions of a window are masked, and with what.

No mask file: the mask is a function of (dataset seed, window digest, window length) alone, so both models
see the same masked inputs and verify knows every window's masked count from its digest and `seq_len`.

Rule (docs/reference/statistics.md, masked-LM perplexity): k = ⌈0.15 · L⌉ of the window's L positions are
masked. Words w are the little-endian u64 words of shake_256(sha256("invarlock/mlm-mask/v1" ‖ seed ‖
digest)), three per position: positions are ranked by their first word (ties by position) and the k first
are chosen; a chosen position's second word mod 10 gives 80/10/10 ([MASK] for 0–7, a random id for 8,
unchanged for 9) and its third word mod vocab_size the random id. Every chosen position is scored.
"""

from __future__ import annotations

import hashlib

import msgspec
import numpy as np

from .errors import UsageError
from .windows import window_digest

MASK_RULE = "mlm-mask/v1: k = ceil(0.15 L) positions by shake_256 rank; 80/10/10 by word mod 10"
_NUMERATOR, _DENOMINATOR = 3, 20  # 15 %


class MaskedWindow(msgspec.Struct, frozen=True, kw_only=True):
    """A window's masked input ids (same length as its tokens) and the sorted positions to predict."""

    input_ids: tuple[int, ...]
    positions: tuple[int, ...]


def masked_count(seq_len: int) -> int:
    """How many of a window's `seq_len` positions are masked: ⌈0.15 · seq_len⌉ (at least 1)."""
    return max(1, -(-_NUMERATOR * seq_len // _DENOMINATOR))


def _words(seed: int, digest: str, length: int) -> np.ndarray:
    key = hashlib.sha256(f"invarlock/mlm-mask/v1\x00{seed}\x00{digest}".encode()).digest()
    return np.frombuffer(hashlib.shake_256(key).digest(24 * length), dtype="<u8").reshape(3, length)


def mask_window(tokens: tuple[int, ...], *, seed: int, mask_id: int, vocab_size: int) -> MaskedWindow:
    """The masked input of a window of token ids under the dataset `seed` (rule in the module docstring).

    Raises:
        UsageError: E104 when the window is empty, `vocab_size` < 1 or `mask_id` is outside the vocabulary.
    """
    if not tokens or vocab_size < 1 or not 0 <= mask_id < vocab_size:
        raise UsageError(
            "E104",
            "masked-LM scoring needs a non-empty window and a [MASK] id in the vocabulary",
            "use a model whose tokenizer defines a mask token (a masked LM)",
        )
    ids = np.asarray(tokens, dtype=np.int64)
    words = _words(seed, window_digest(ids), len(ids))
    order = np.lexsort((np.arange(len(ids)), words[0]))
    chosen = np.sort(order[: masked_count(len(ids))])
    kind = words[1][chosen] % np.uint64(10)
    replaced = ids.copy()
    replaced[chosen[kind < 8]] = mask_id
    random = chosen[kind == 8]
    replaced[random] = (words[2][random] % np.uint64(vocab_size)).astype(np.int64)
    return MaskedWindow(input_ids=tuple(int(t) for t in replaced), positions=tuple(int(p) for p in chosen))
