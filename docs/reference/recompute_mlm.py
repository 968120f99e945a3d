"""Auditor's check for a `ppl_mlm` certificate: every window's masked count, and the masks themselves.

Usage: python docs/reference/recompute_mlm.py reports/<run_id>/evaluation.cert.json

Written from docs/reference/statistics.md ("Masked-LM perplexity"); it imports nothing from invarlock (stdlib
and numpy). The ratio and its interval are those of ppl_causal over the same evidence columns: run
recompute_ci.py on the same certificate for them. `mask()` recomputes a window's masked input from its token
ids (from the corpus: the certificate holds only their digest), the dataset seed, the [MASK] id and the
vocabulary size. Exit status 0 when every window scored ⌈0.15 · seq_len⌉ masked positions.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np


def masked_count(seq_len: int) -> int:
    return max(1, -(-3 * seq_len // 20))


def window_digest(tokens: list[int]) -> str:
    return hashlib.blake2b(np.asarray(tokens, dtype="<u4").tobytes(), digest_size=16).hexdigest()


def mask(tokens: list[int], seed: int, mask_id: int, vocab_size: int) -> tuple[list[int], list[int]]:
    """(masked input ids, sorted masked positions) of a window: rank positions by shake_256 words, take the
    first ⌈0.15 L⌉; per chosen position, second word mod 10 → [MASK] (0–7), random id (8), unchanged (9)."""
    key = hashlib.sha256(f"invarlock/mlm-mask/v1\x00{seed}\x00{window_digest(tokens)}".encode()).digest()
    length = len(tokens)
    words = np.frombuffer(hashlib.shake_256(key).digest(24 * length), dtype="<u8").reshape(3, length)
    ranked = sorted(range(length), key=lambda p: (int(words[0][p]), p))
    chosen = sorted(ranked[: masked_count(length)])
    out = list(tokens)
    for p in chosen:
        kind = int(words[1][p]) % 10
        if kind < 8:
            out[p] = mask_id
        elif kind == 8:
            out[p] = int(words[2][p]) % vocab_size
    return out, chosen


def bad_counts(cert: dict) -> list[str]:
    want = masked_count(cert["dataset"]["seq_len"])
    arms = [(name, cert["evidence"][name]) for name in ("preview", "final") if cert["evidence"][name] is not None]
    return [
        f"{name} window {wid}: {n} ≠ {want}"
        for name, arm in arms
        for wid, n in zip(arm["window_ids"], arm["tokens_scored"], strict=True)
        if n != want
    ]


if __name__ == "__main__":
    # beside this script: run it as `python docs/reference/<script>.py`
    from cert_file import read_certificate, recomputed

    certificate = read_certificate(sys.argv, "python docs/reference/recompute_mlm.py CERT", ("ppl_mlm",))
    problems = recomputed(sys.argv[1], lambda: bad_counts(certificate))
    print("\n".join(problems) or f"ok  every window scored {masked_count(certificate['dataset']['seq_len'])} tokens")
    sys.exit(1 if problems else 0)
