"""ModelRunner and WeightSource ports for Hugging Face encoders (BERT family): pooled sentence embeddings.

The runner embeds each window the sentence-transformers way: the window's ids are fed as
`[CLS] + ids + [SEP]` (the tokenizer's own special ids), the last hidden states are mean-pooled over the
attention mask (special tokens included, as sentence-transformers does) and L2-normalised. An encoder has
no token likelihood: `score` and `activation_stats` refuse with UsageError E104 (the variance guard's A/B
pass and the guard-overhead check need per-model NLL sums), and the lockstep `score_pair` yields only the
paired measure, the cosine of the two models' embeddings of the same window, in float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import torch
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.model import ActivationStats, PairedScore, WindowComparison, WindowScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import ModelRunner, Progress

from .hf_forward import model_forward
from .hf_weights import HFWeights
from .window_batches import batches, pad_rows

_NO_NLL_HINT = "use eval.metric.kind embedding_cosine, and drop variance from guards.order for an encoder"


class HFEncoderModel(HFWeights):
    """An encoder (`AutoModel`, e.g. all-MiniLM-L6-v2) in memory: embeddings in lockstep, and its weights."""

    def __init__(self, module: Any, tokenizer: Any, *, ref: str, batch_size: int | None = None) -> None:
        super().__init__(module, tokenizer, ref=ref, adapter="hf_encoder", batch_size=batch_size)
        inner = self.tokenizer().inner
        if inner.cls_token_id is None or inner.sep_token_id is None:
            raise UsageError("E104", f"{ref}: the tokenizer has no [CLS]/[SEP] ids", "use a BERT-family encoder")
        self._cls, self._sep = int(inner.cls_token_id), int(inner.sep_token_id)

    def score(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> Iterator[WindowScore]:
        """Refused: an encoder has no token NLL (UsageError E104)."""
        self._no_nll("score windows by NLL")

    def activation_stats(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
        """Refused: the variance guard scores NLL with its taps, which an encoder has not (UsageError E104)."""
        self._no_nll("run the variance guard (its A/B pass compares NLL sums)")

    def _no_nll(self, what: str) -> NoReturn:
        raise UsageError("E104", f"adapter hf_encoder cannot {what}: an encoder has no token likelihood", _NO_NLL_HINT)

    def embed(self, windows: Sequence[TokenWindow], pad_to: int = 0) -> torch.Tensor:
        """(len(windows), hidden) float64 mean-pooled, L2-normalised embeddings of windows of one length; with
        `pad_to`, the pass is padded to that many rows with the windows again (window_batches.token_ids says why).

        Raises:
            AbortError: E402 when an embedding is non-finite or zero.
            UsageError: E201 when a window and its two special tokens exceed the model's positions.
        """
        longest = int(self.module.config.max_position_embeddings) - 2
        if len(windows[0].tokens) > longest:
            raise UsageError(
                "E201", f"{self.ref} embeds at most {longest} tokens per window", f"set dataset.seq_len <= {longest}"
            )
        ids = torch.tensor([(self._cls, *w.tokens, self._sep) for w in windows], dtype=torch.long, device=self.device)
        ids = pad_rows(ids, pad_to)
        mask = torch.ones_like(ids)
        with torch.inference_mode(), model_forward(self.ref):
            hidden = self.module(input_ids=ids, attention_mask=mask).last_hidden_state[: len(windows)]
        mask = mask[: len(windows)]
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = ((hidden * weights).sum(dim=1) / weights.sum(dim=1)).double()
        norms = pooled.norm(dim=-1, keepdim=True)
        if not bool(torch.isfinite(pooled).all()) or bool((norms == 0).any()):
            bad = next(w.window_id for w, n in zip(windows, norms, strict=True) if not (torch.isfinite(n) and n > 0))
            raise AbortError("E402", f"non-finite or zero embedding of window {bad}", "check the model's weights")
        return pooled / norms

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """Per window, the float64 cosine of this model's (baseline) and `other`'s (subject) embeddings.

        Raises:
            UsageError: E104 when `other` is not an `HFEncoderModel`.
            AbortError: E402 when an embedding is non-finite or zero.
        """
        if not isinstance(other, HFEncoderModel):
            raise UsageError(
                "E104",
                f"lockstep embedding needs two hf_encoder models, got {type(other).__name__}",
                "load both models with the same adapter",
            )
        for batch in batches(windows, self.batch_size):
            pad = self.batch_size
            cosines = (self.embed(batch, pad) * other.embed(batch, pad)).sum(dim=-1).tolist()
            for window, cosine in zip(batch, cosines, strict=True):
                comparison = WindowComparison(window_id=window.window_id, positions=len(window.tokens), cosine=cosine)
                yield PairedScore(window_id=window.window_id, baseline=None, subject=None, comparison=comparison)
            if progress is not None:
                progress(len(batch))
