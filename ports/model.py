"""Model ports by role: a `ModelRunner` scores token windows, a `WeightSource` exposes and writes weights.

A model as an adapter loads it is one object implementing both (`LoadedModel`); use cases take the narrow
port they use. Torch never appears in these interfaces. `variance_taps` lives on `WeightSource` (it names
weights, from the same architecture rules as `matrices`); `activation_stats` on `ModelRunner` (it runs
forward passes). `tokenizer` lives on `ModelRunner`: the runner consumes the ids that tokenizer produces. The
loader's role is in `loader.py`; the baseline's side of lockstep scoring kept past its release in `kept_reference.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from invarlock.domain.model import (
    ActivationStats,
    ModelIdentity,
    PairedScore,
    TensorCensus,
    WindowScore,
)
from invarlock.domain.windows import TokenWindow

from .corpus import Tokenizer

Progress = Callable[[int], None]


class NamedMatrix(Protocol):
    """One 2-D weight as an (out, in) float32 numpy `array` (a copy or a view: never write through it).

    `family` is "attn" | "ffn" | "embed" | "other"; `block` the transformer block index (None outside the
    blocks); `head` whether it is an untied output projection to the vocabulary (the LM head).
    """

    @property
    def name(self) -> str: ...

    @property
    def family(self) -> str: ...

    @property
    def block(self) -> int | None: ...

    @property
    def head(self) -> bool: ...

    @property
    def array(self) -> np.ndarray: ...


class ModelRunner(Protocol):
    """Runs a model forward over token windows: per-window scores, optionally with activation taps."""

    @property
    def batch_size(self) -> int:
        """Windows per forward pass. A pass of fewer windows (the last of a call) is padded to this many, so that
        a window's scores depend on its tokens and this size only: callers hand over multiples of it."""
        ...

    def tokenizer(self) -> Tokenizer:
        """The tokenizer whose ids this runner scores (the one the model was loaded with)."""
        ...

    def score(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> Iterator[WindowScore]:
        """Score each window independently (no carried context), in the order given.

        Causal LMs: every position after the first is predicted from the tokens before it inside the same
        window, so `tokens_scored = len(tokens) - 1`; `nll_sum` is the sum of token negative log
        likelihoods in nats, accumulated in float64. No BOS is prepended: the window's ids are fed as they
        are. Masked LMs: the window is masked by domain.masking (keyed by its `mask_seed` and digest) and
        `tokens_scored` is the masked count, `nll_sum` the NLL of the original ids there. `progress(k)` is
        called after each batch with the number of windows just finished. Batching is the adapter's business:
        scores do not depend on the batch size beyond float32 round-off.
        Raises AbortError E402 if any logit or loss is non-finite; UsageError E104 from a runner with no token
        likelihood (an encoder: its lockstep pairs carry paired measures only).
        """
        ...

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """Score `windows` with this model (the baseline) and `other` (the subject) in lockstep: each batch
        of ids is fed to both models before the next batch, so both models' outputs for the same windows
        are in memory together (the hook where paired measures such as KL or top-1 agreement are taken,
        without logit files). Yields one PairedScore per window, in the order given.

        `baseline`/`subject` are each model's WindowScore, equal to what `score` of that model gives for
        the window (up to float32 round-off), or None for a runner without per-model NLL sums (an
        encoder's embeddings). `comparison` holds whatever paired measures the runner takes (causal LMs:
        KL(baseline ‖ subject) and top-k agreement per position, summed over the window), None if it takes
        none. `progress(k)` as in `score`.
        Raises AbortError E402 as `score` (also for a non-finite paired measure); UsageError E104 when
        `other` is not a runner of the same adapter.
        """
        ...

    def activation_stats(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
        """Score `windows` (as `score` does) while summing the outputs of the modules owning `weights`
        (pre-residual, float64 sums). Returns the statistics keyed by weight name and the window scores."""
        ...


class WeightSource(Protocol):
    """The weights of a model in memory: identity, named matrices, census, scaling, writes and export."""

    def identity(self) -> ModelIdentity:
        """Fingerprint of the model as it is now: sha256 over every tensor's (name, dtype, shape, bytes),
        tokenizer and config digests, parameter count, dtype and device. Recomputed after an edit."""
        ...

    def matrices(self) -> Iterator[NamedMatrix]:
        """Every 2-D weight matrix once (a tied duplicate is listed under its first name), in the model's
        parameter order, as (out, in) float32 arrays with family, block index and head flag."""
        ...

    def census(self) -> TensorCensus:
        """Structural facts about every parameter (names, dtypes, shapes, finiteness, all-zero) and ties."""
        ...

    def unmapped(self) -> dict[str, str]:
        """The 2-D weights the adapter holds but cannot map to a model weight: name -> why ({} when it maps
        every one). Named by the model weight's name when the adapter can tell it, else by its storage name.
        They are absent from `matrices` and `variance_taps`; the identity lists them (`unmapped`) and the
        weight guards record them as not applicable."""
        ...

    def variance_taps(self) -> list[str]:
        """Weight names of the FFN output modules the variance guard taps (architecture rules), in order."""
        ...

    def assign(self, name: str, array: np.ndarray) -> None:
        """Overwrite weight `name` (any name of a tied group) in place with the (out, in) `array` (float32
        or float64), rounded once to nearest into the weight's own dtype and layout. Tied weights share
        the write (ties are kept). The written value becomes the weight's original for `scale_weights`.
        Raises ValueError for an unknown name, another dtype, or a shape other than the weight's (out, in)."""
        ...

    def scale_weights(self, factors: Mapping[str, float]) -> None:
        """Set each named weight to its original value times its factor; weights scaled before and absent
        from `factors` return to their original values (so `{}` undoes every scaling bit for bit)."""
        ...

    def export(self, directory: str | Path) -> Path:
        """Write the model as it is now (weights, config and tokenizer) to `directory`, in a form the
        adapter's loader loads back with the same identity digests."""
        ...


class LoadedModel(ModelRunner, WeightSource, Protocol):
    """A model held in memory by an adapter: both roles on one object."""


@runtime_checkable
class TapsOnlyRunner(Protocol):
    """A ModelRunner that can tap activations without scoring the windows (optional: callers that read only
    the statistics fall back to `activation_stats`)."""

    def activation_taps(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> dict[str, ActivationStats]:
        """The statistics `activation_stats` gives for the same arguments, bit for bit, from passes that may
        stop before the output head (a causal LM's logits over the vocabulary, which nothing reads here)."""
        ...


@runtime_checkable
class DuplicableModel(Protocol):
    """A LoadedModel that can duplicate itself in memory (optional: a model without `duplicate` is loaded again)."""

    def duplicate(self) -> LoadedModel | None:
        """An independent copy, as a second load of the same reference would give it: the same identity,
        tokenizer and batch size, no scaling originals; a write to either model's weights (`assign`,
        `scale_weights`) never shows in the other, though an adapter may hold the weights neither has written
        once; None when this model cannot be copied in memory (e.g. dispatched over several
        devices), and the caller loads the reference again. `invarlock run` edits a copy of the baseline
        instead of reading the checkpoint twice."""
        ...


@runtime_checkable
class WeightSharingModel(Protocol):
    """A LoadedModel that can hold the weights it has bit for bit in common with another model once (optional:
    a model without it keeps its own copy)."""

    def share_equal_weights(self, other: LoadedModel) -> int:
        """Each of this model's weights whose every bit, shape, dtype and device equal `other`'s weight of the
        same name now uses `other`'s memory, copy on write as after `duplicate` (a later write to either model
        never shows in the other); returns how many weights it shares. No value changes, so neither model's
        identity does. A subject checkpoint whose edit left the embedding, the LM head or the norms alone holds
        them once, and lockstep scoring may then run both heads as one."""
        ...
