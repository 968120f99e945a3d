"""The baseline's side of lockstep scoring kept after its model is released: a run that holds one model at a time
still measures KL and top-1 agreement (eval.sequential, docs/reference/sequential.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from invarlock.domain.model import PairedScore
from invarlock.domain.windows import TokenWindow

from .model import LoadedModel, ModelRunner, Progress


class KeptReference(Protocol):
    """The baseline's side of lockstep scoring, kept for some windows so that the baseline itself can be released
    before the subject loads (eval.sequential with paired measures): a causal LM keeps each window's final hidden
    states (on disk) and its LM head. Pairing a subject with it gives what the baseline's `score_pair` gives, bit
    for bit, both models' scores included."""

    @property
    def batch_size(self) -> int:
        """The baseline's ModelRunner.batch_size: `keep` and `score_pair` run passes of this many windows."""
        ...

    def keep(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> None:
        """Run the baseline over `windows` as far as pairing needs (a causal LM: its body, not its head) and keep
        each one's reference; `progress(k)` after each batch. No scores: `score_pair` gives the baseline's, those
        of ModelRunner.score bit for bit. Raises as ModelRunner.score, and UsageError E104 when a window is too
        short to keep."""
        ...

    def check_room(self, tokens: int) -> None:
        """Before any `keep`: ResourceShortage E608 (the machine's, so a run it stops stays resumable), naming where
        it writes and how much it needs, when what `keep` would write for windows of `tokens` tokens in all does not
        fit there now (a causal LM: their final hidden states, on the temporary folder's disk), instead of once that
        disk fills during the pass; `keep` raises it too when the disk fills all the same."""
        ...

    def release_model(self) -> None:
        """Stop holding the baseline model: only what `score_pair` needs stays (for a causal LM its LM head)."""
        ...

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """ModelRunner.score_pair of the baseline with `other` over kept `windows`, from what was kept. Raises as
        ModelRunner.score_pair, and IntegrityError E605 for a window that was not kept."""
        ...

    def hold_once(self, other: LoadedModel) -> None:
        """Hold once what is kept here and `other` (the subject, as soon as it is loaded) have bit for bit in
        common (a causal LM: an LM head that the subject's edit left alone), so that it is not held twice while
        the subject is fingerprinted and measured; `score_pair` does it too. What this reference reads never
        changes: a later write to `other`'s weights goes to memory of its own. Nothing in common: nothing done."""
        ...

    def close(self) -> None:
        """Drop what was kept (its file). Idempotent."""
        ...


@runtime_checkable
class ReferenceKeeping(Protocol):
    """A ModelRunner that can keep its side of lockstep scoring after it is released (optional: without it, a
    run that holds one model at a time cannot measure KL and top-1 agreement)."""

    def kept_reference(self) -> KeptReference:
        """An empty KeptReference of this model. Raises UsageError E104 when this model's logits cannot be
        recomputed from what it would keep (a family whose LM head is not split off: causal_rows)."""
        ...
