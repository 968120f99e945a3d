"""A decoder with a sequence-classification head (`*ForSequenceClassification`) as a ModelRunner for `accuracy`.

The prediction of an example is the argmax of the head's logits over the prompt (the text, or the template
filled with it); label words are not used. Each example is fed alone (no padding), so the head pools exactly
the example's own last token whatever the model's pad-token settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.model import PairedScore, WindowComparison, WindowScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import ModelRunner, Progress

from .hf_causal import HFCausalModel
from .hf_forward import model_forward

Head = Callable[[torch.Tensor], torch.Tensor]  # (1, L) ids -> (1, labels) logits


def head_prediction(head: Head, window: TokenWindow, labels: int) -> int:
    """The label of largest logit for one example (the lowest index on a tie).

    Raises UsageError E201 when the gold label is outside the head's labels, AbortError E402 for a
    non-finite logit."""
    if window.label is None or not 0 <= window.label < labels:
        raise UsageError(
            "E201",
            f"example {window.window_id} has label {window.label}, the head has {labels} labels",
            "use a model whose head has one output per label of the dataset",
        )
    with torch.inference_mode():
        logits = head(torch.tensor([window.tokens], dtype=torch.long))[0]
    if not bool(torch.isfinite(logits).all()):
        raise AbortError("E402", f"non-finite head logit for example {window.window_id}", "check the model")
    return int(torch.argmax(logits))


class HFSequenceClassifier(HFCausalModel):
    """A `*ForSequenceClassification` decoder: weights, guards and edits as a causal LM's (same blocks; the
    head is `score`), scoring by paired predictions only."""

    ADAPTER = "hf_seqcls"

    @property
    def labels(self) -> int:
        """How many outputs the head has."""
        return int(self.module.config.num_labels)

    def _head(self, ids: torch.Tensor) -> torch.Tensor:
        with model_forward(self.ref):
            return self.module(input_ids=ids.to(self.device), use_cache=False).logits

    def score(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> Iterator[WindowScore]:
        """A classification head gives no token NLL (UsageError E104)."""
        raise UsageError("E104", "adapter hf_seqcls has no token NLL to score", "use eval.metric.kind: accuracy")

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """Per example, both heads' predictions (this model the baseline) and the gold label; no per-model NLL."""
        if not isinstance(other, HFSequenceClassifier):
            raise UsageError("E104", "lockstep scoring needs two hf_seqcls models", "load both with adapter hf_seqcls")
        for w in windows:
            mine, others = head_prediction(self._head, w, self.labels), head_prediction(other._head, w, other.labels)
            pair = WindowComparison(
                window_id=w.window_id, positions=1, label=w.label, baseline_pred=mine, subject_pred=others
            )
            yield PairedScore(window_id=w.window_id, baseline=None, subject=None, comparison=pair)
            if progress is not None:
                progress(1)
