"""ModelRunner and WeightSource ports for Hugging Face masked LMs (`*ForMaskedLM`, BERT family).

Per window, the runner masks the window with domain.masking (keyed by the window's `mask_seed`, the run's
dataset seed, and its digest: both models see the same input), feeds `[CLS] + masked ids + [SEP]` and
scores the original id at each masked position: `tokens_scored` = the masked count, `nll_sum` = the sum of
their negative log likelihoods in nats (float64), the masked-LM perplexity's evidence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from invarlock.domain.errors import UsageError
from invarlock.domain.masking import mask_window
from invarlock.domain.model import ActivationStats, PairedScore, WindowScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import ModelRunner, Progress

from .hf_forward import model_forward
from .hf_nll import window_nll
from .hf_taps import tapped
from .hf_weights import HFWeights
from .window_batches import batches, pad_rows


class HFMaskedLMModel(HFWeights):
    """A masked LM in memory: masked-token NLL sums (alone or in lockstep) and its weights."""

    def __init__(self, module: Any, tokenizer: Any, *, ref: str, batch_size: int | None = None) -> None:
        super().__init__(module, tokenizer, ref=ref, adapter="hf_mlm", batch_size=batch_size)
        inner = self.tokenizer().inner
        special = (inner.cls_token_id, inner.sep_token_id, inner.mask_token_id)
        if any(token is None for token in special):
            raise UsageError("E104", f"{ref}: the tokenizer lacks [CLS]/[SEP]/[MASK] ids", "use a BERT-family MLM")
        self._cls, self._sep, self._mask = (int(t) for t in special)

    def _inputs(self, batch: Sequence[TokenWindow]) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
        """The batch's `[CLS] + masked ids + [SEP]` and, per window, the masked positions (in window ids)."""
        masked = []
        for w in batch:
            if w.mask_seed is None:
                raise UsageError(
                    "E104",
                    "adapter hf_mlm scores masked windows keyed by the dataset seed",
                    "use eval.metric.kind ppl_mlm",
                )
            masked.append(mask_window(w.tokens, seed=w.mask_seed, mask_id=self._mask, vocab_size=self._vocab()))
        rows = [(self._cls, *m.input_ids, self._sep) for m in masked]
        return torch.tensor(rows, dtype=torch.long, device=self.device), [m.positions for m in masked]

    def _vocab(self) -> int:
        return int(self.module.config.vocab_size)

    def _logits(self, ids: torch.Tensor) -> torch.Tensor:
        with model_forward(self.ref):
            return self.module(input_ids=ids.to(self.device), attention_mask=torch.ones_like(ids)).logits

    def _scores(
        self, batch: Sequence[TokenWindow], positions: list[tuple[int, ...]], logits: torch.Tensor
    ) -> list[WindowScore]:
        scores = []
        for i, (w, where) in enumerate(zip(batch, positions, strict=True)):
            at = torch.tensor(where, dtype=torch.long, device=logits.device)
            targets = torch.tensor([w.tokens[p] for p in where], dtype=torch.long, device=logits.device)
            nll = window_nll(logits[i, at + 1], targets, w.window_id)  # +1: [CLS] comes first
            scores.append(WindowScore(window_id=w.window_id, tokens_scored=len(where), nll_sum=nll))
        return scores

    def score(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> Iterator[WindowScore]:
        """Per window, the masked count and the float64 NLL sum (nats) of the original ids at the masked positions.

        Raises:
            UsageError: E104 when a window carries no `mask_seed`.
            AbortError: E402 when a masked position's loss is non-finite.
        """
        return self._scored(windows, progress, pad_to=self.batch_size)

    def _scored(self, windows: Sequence[TokenWindow], progress: Progress | None, pad_to: int) -> Iterator[WindowScore]:
        """Scores per batch, each pass padded to `pad_to` windows (window_batches.token_ids says why; 0: not padded, for
        the activation taps, which sum every row of a pass); the padding's outputs are dropped."""
        for batch in batches(windows, self.batch_size):
            ids, positions = self._inputs(batch)
            with torch.inference_mode():  # left before yielding: the caller must not run in inference mode
                scores = self._scores(batch, positions, self._logits(pad_rows(ids, pad_to)))
            yield from scores
            if progress is not None:
                progress(len(batch))

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """Both models score the same masked batch; each PairedScore carries both WindowScores (no comparison).

        Raises:
            UsageError: E104 when `other` is not an `HFMaskedLMModel`, or as `score`.
            AbortError: E402 as `score`.
        """
        if not isinstance(other, HFMaskedLMModel):
            raise UsageError(
                "E104",
                f"lockstep masked-LM scoring needs two hf_mlm models, got {type(other).__name__}",
                "load both models with the same adapter",
            )
        for batch in batches(windows, self.batch_size):
            ids, positions = self._inputs(batch)
            ids = pad_rows(ids, self.batch_size)
            with torch.inference_mode():
                mine = self._scores(batch, positions, self._logits(ids))
                others = other._scores(batch, positions, other._logits(ids))
            for b, s in zip(mine, others, strict=True):
                yield PairedScore(window_id=b.window_id, baseline=b, subject=s, comparison=None)
            if progress is not None:
                progress(len(batch))

    def activation_stats(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
        """Score `windows` (as `score`) while a forward hook sums each tapped module's outputs in float64."""
        return tapped(self.module, weights, lambda: list(self._scored(windows, progress, pad_to=0)))
