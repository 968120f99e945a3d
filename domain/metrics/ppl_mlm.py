"""`ppl_mlm`: the token-weighted masked-LM perplexity ratio, subject over baseline, on paired windows.

The evidence columns are those of `ppl_causal` with another meaning of a window's tokens: `tokens_scored`
is the masked count of domain.masking (⌈0.15 · seq_len⌉, the same for every window, so verify checks it
from `seq_len`) and the NLL sums are over the original ids at the masked positions. The ratio, its
interval, gates, catastrophe, drift and guard overhead are ppl_causal's, code and policy alike.
"""

from __future__ import annotations

from ..masking import masked_count
from .ppl_causal import PplCausal


class PplMlm(PplCausal):
    """Perplexity of a masked LM at deterministically masked positions: lower is better, gated like ppl_causal."""

    kind = "ppl_mlm"
    unit = "masked-LM perplexity"

    def scored_tokens(self, seq_len: int) -> tuple[int, str]:
        """A masked LM scores the ⌈0.15 · seq_len⌉ masked positions of each window."""
        return masked_count(seq_len), "⌈0.15 · seq_len⌉ masked positions"


PPL_MLM = PplMlm()
