"""ModelRunner and WeightSource ports (one `LoadedModel`) for Hugging Face causal LMs (GPT-2, LLaMA family)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Self

import torch
from invarlock.domain.errors import UsageError
from invarlock.domain.model import ActivationStats, GGUFSource, PairedScore, WindowScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import ModelRunner, Progress

from .causal_lockstep import lockstep_pairs, require_causal
from .causal_reference import HiddenReference, kept_reference
from .causal_rows import MIN_ROWS, Head, reusing_output, split_head, window_logits
from .hf_forward import model_forward
from .hf_nll import blocks_score
from .hf_taps import tapped
from .hf_weights import HFMatrix, HFWeights
from .hf_zero_shot import zero_shot_pairs
from .window_batches import batches, token_ids

__all__ = ["HFCausalModel", "HFMatrix"]


class HFCausalModel(HFWeights):
    """A causal LM in memory, both roles: ModelRunner (scoring, taps) and WeightSource (HFWeights: weights, export).

    Args:
        module: The transformers `*ForCausalLM` model (already on its device, in eval mode).
        tokenizer: The matching transformers fast tokenizer.
        ref: The reference it was loaded from (recorded in the identity).
        adapter: Adapter name recorded in the identity (default: the class's ADAPTER).
        batch_size: Windows per forward pass; defaults to 8 on CPU and 32 on accelerators.
        gguf: The GGUF file the weights were dequantized from, if any.
    """

    ADAPTER = "hf_causal"

    def __init__(
        self,
        module: Any,
        tokenizer: Any,
        *,
        ref: str,
        adapter: str | None = None,
        batch_size: int | None = None,
        gguf: GGUFSource | None = None,
    ) -> None:
        adapter = adapter or self.ADAPTER
        super().__init__(module, tokenizer, ref=ref, adapter=adapter, batch_size=batch_size, gguf=gguf)
        self._head_logits: list[torch.Tensor] = []  # the head's output tensor, kept between passes (causal_hidden)

    def duplicate(self) -> Self | None:
        """HFWeights.duplicate, with a head output tensor of its own (lockstep holds both models' at once)."""
        twin = super().duplicate()
        if twin is not None:
            twin._head_logits = []
        return twin

    def score(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> Iterator[WindowScore]:
        """Per-window NLL sums (nats, float64) of tokens 1..L-1 given the tokens before them; no BOS added.

        Raises:
            AbortError: E402 when a logit or a token loss is non-finite.
        """
        return self._scores(windows, progress, pad_to=self.batch_size)

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """Both models run each batch (this model's batch size); then, one window at a time, both models'
        logits of it are made (causal_rows) and reduced: each model's NLL sums, KL(baseline ‖ subject), top-1
        and top-5 agreement (hf_kl).
        Labelled examples (windows with `candidates`) are classified zero-shot instead (hf_zero_shot): no
        per-model scores, a comparison with the gold label and both predictions.

        The other model may run elsewhere (an `onnx` model): any causal-logits runner pairs (causal_lockstep).

        Raises:
            UsageError: E104 when `other` is not a causal LM runner (for labelled examples: not hf_causal).
            AbortError: E402 as `score`.
        """
        if any(w.label is not None for w in windows):
            if not isinstance(other, HFCausalModel):
                raise UsageError(
                    "E104",
                    f"zero-shot classification in lockstep needs two hf_causal models, got {type(other).__name__}",
                    "load both models with the same adapter",
                )
            yield from self._zero_shot(other, windows, progress)
            return
        yield from lockstep_pairs(self, require_causal(other, "hf_causal"), windows, self.batch_size, progress)

    def _zero_shot(
        self, other: HFCausalModel, windows: Sequence[TokenWindow], progress: Progress | None
    ) -> Iterator[PairedScore]:
        for start in range(0, len(windows), self.batch_size):
            batch = windows[start : start + self.batch_size]
            yield from zero_shot_pairs(self._masked_logits, other._masked_logits, batch, self.batch_size)
            if progress is not None:
                progress(len(batch))

    def kept_reference(self) -> HiddenReference:
        """This model's side of lockstep scoring, kept after it is released (causal_reference): its windows' final
        hidden states and its LM head.

        Raises:
            UsageError: E104 when the head does not split off (causal_rows.split_head).
        """
        return kept_reference(self, split_head(self.module), getattr(self.module.config, "model_type", None))

    def _masked_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with model_forward(self.ref):
            return self.module(
                input_ids=ids.to(self.device), attention_mask=mask.to(self.device), use_cache=False
            ).logits

    def causal_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """The logits (batch, positions, vocab) of `ids`, on the model's device, in its dtype."""
        with model_forward(self.ref):
            return self.module(input_ids=ids.to(self.device), use_cache=False).logits

    def causal_hidden(self, ids: torch.Tensor) -> tuple[torch.Tensor, Head] | None:
        """The final hidden states of `ids` and the LM head (causal_rows.split_head), writing every call's logits
        into one tensor that this model keeps between calls (causal_rows.reusing_output): a window's logits are
        valid until this model's head is called again. None for a family whose logits are not exactly the
        head's output."""
        head = split_head(self.module)
        if head is None:
            return None
        with model_forward(self.ref):
            body = self.module.base_model(input_ids=ids.to(self.device), use_cache=False)
        return body.last_hidden_state, reusing_output(head, self._head_logits)

    def _score_batch(self, batch: Sequence[TokenWindow], pad_to: int) -> list[WindowScore]:
        """The batch's scores, its pass padded to `pad_to` windows (window_batches.token_ids; 0: not padded)."""
        ids = token_ids(batch, self.device, pad_to)
        with torch.inference_mode():
            rows = window_logits(self, ids, len(batch))  # passed on, not bound: one window's logits alive at once
            return [blocks_score(w, ids[i], next(rows)) for i, w in enumerate(batch)]

    def activation_stats(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
        """Score `windows` while a forward hook sums each tapped module's output values in float64. Partial
        batches are not padded here (the hooks sum every row of a pass); the audit re-taps the same
        calibration windows in the same batches."""
        return tapped(self.module, weights, lambda: list(self._scores(windows, progress, pad_to=0)))

    def activation_taps(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> dict[str, ActivationStats]:
        """`activation_stats`' statistics without the scores: where scoring splits the LM head off
        (causal_hidden) and every tapped module is in the body, the passes are the very body calls scoring
        makes, and the head (a fifth of the demo model's forward) and the NLLs are skipped."""
        if not self._taps_in_body(windows, weights):
            return self.activation_stats(windows, weights, progress)[0]
        return tapped(self.module, weights, lambda: self._bodies(windows, progress))[0]

    def _taps_in_body(self, windows: Sequence[TokenWindow], weights: Sequence[str]) -> bool:
        body = self.module.base_model
        inside = {f"{name}.weight" for name, _ in body.named_modules(prefix=self.module.base_model_prefix)}
        rows_split = all(len(w.tokens) - 1 >= MIN_ROWS for w in windows)  # as window_logits decides
        return rows_split and split_head(self.module) is not None and all(w in inside for w in weights)

    def _bodies(self, windows: Sequence[TokenWindow], progress: Progress | None) -> None:
        for batch in batches(windows, self.batch_size):
            with torch.inference_mode():
                self.causal_hidden(token_ids(batch, self.device))
            if progress is not None:
                progress(len(batch))

    def _scores(self, windows: Sequence[TokenWindow], progress: Progress | None, pad_to: int) -> Iterator[WindowScore]:
        for batch in batches(windows, self.batch_size):
            yield from self._score_batch(batch, pad_to)
            if progress is not None:
                progress(len(batch))
