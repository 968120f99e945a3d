"""Model ports by role: a `ModelRunner` scores token windows, a `WeightSource` exposes and writes weights.

A model as an adapter loads it is one object implementing both (`LoadedModel`); use cases take the narrow
port they use. Torch never appears in these interfaces. `variance_taps` lives on `WeightSource` (it names
weights, from the same architecture rules as `matrices`); `activation_stats` on `ModelRunner` (it runs
forward passes). `tokenizer` lives on `ModelRunner`: the runner consumes the ids that tokenizer produces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from invarlock.domain.model import (
    ActivationStats,
    LoadOptions,
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


class ModelLoader(Protocol):
    """Resolves a model reference (local path, `hf:ID`, `gguf:FILE`, or a demo name like `demo:smollm2-135m`)."""

    def load(self, ref: str, options: LoadOptions) -> LoadedModel:
        """Load offline with `options`: on its device, or spread by its placement (a device map: a loader that
        cannot place a model refuses one with E104, never loading without it). Raises UsageError (E101 missing
        path, E102 not a model, E103 not offline-available, E104 unknown adapter/device/dtype/device map) with a
        one-line message and a fix."""
        ...

    def tokenizer(self, ref: str, *, adapter: str) -> Tokenizer:
        """Load only the tokenizer of `ref`, offline and without its weights, so that the windows can be
        planned (and a corpus that is too small refused) before any model is loaded. It is the tokenizer
        `load(ref, options)` gives (same digest). Raises the UsageErrors of `load` for the reference."""
        ...


@runtime_checkable
class ShapeSettings(Protocol):
    """A ModelLoader that tells, without loading weights, the settings that fix a model's weight shapes
    (optional: a loader without it is not asked, and models of other shapes are told apart once the weight
    guards pair their matrices)."""

    def shape_settings(self, ref: str, *, adapter: str) -> Mapping[str, int] | None:
        """The checkpoint's settings that fix its weight matrices' shapes and count (hidden size, layers, FFN
        size, under its config's names), or None when the adapter cannot read them without the weights. Raises the
        UsageErrors of `ModelLoader.tokenizer`."""
        ...


@runtime_checkable
class ContextLimit(Protocol):
    """A ModelLoader that knows, without loading weights, the most positions a model's forward pass takes
    (optional: a loader without it is not asked, and a window too long for its model fails when scored)."""

    def context_length(self, ref: str, *, adapter: str) -> int | None:
        """The positions one forward pass of `ref` can take (e.g. its config's position table), or None when the
        model states no bound the adapter enforces. Raises the UsageErrors of `ModelLoader.tokenizer`."""
        ...


@runtime_checkable
class ScoredKinds(Protocol):
    """A ModelLoader that tells, without loading weights, which built-in primary metric kinds the adapter running
    a model scores (optional: a loader without it is not asked, and a kind its adapter does not score fails once
    the preview arm is scored, after both loads and the guards)."""

    def scored_kinds(self, ref: str, *, adapter: str) -> tuple[str, tuple[str, ...]] | None:
        """The adapter that runs `ref` (`adapter` itself, or the one `auto` picks) and the `eval.metric.kind`s of
        this release whose evidence it scores; None when the loader cannot tell. Raises the UsageErrors of
        `ModelLoader.tokenizer`."""
        ...


@runtime_checkable
class MatrixNames(Protocol):
    """A ModelLoader that tells, without loading weights, the names of a model's 2-D parameters as its loaded
    WeightSource names them (optional: a loader without it is not asked, and an edit naming a weight the model
    lacks fails when it applies, after the loads)."""

    def matrix_names(self, ref: str, *, adapter: str) -> tuple[str, ...] | None:
        """Every 2-D parameter name of `ref` loaded by `adapter`, tied aliases included, or None when the loader
        cannot tell them without the weights. Raises the UsageErrors of `ModelLoader.tokenizer`."""
        ...


@runtime_checkable
class SequentialSupport(Protocol):
    """A ModelLoader that tells, without loading weights, whether a run may hold a model alone: the baseline released
    before the subject loads, its side of KL and top-1 agreement kept (ReferenceKeeping). Optional: a run whose config
    leaves `eval.sequential` unset holds both models of a loader without it."""

    def sequential_obstacle(self, ref: str, options: LoadOptions, *, window_tokens: int | None) -> str | None:
        """Why `ref` loaded with `options` should be held beside the other model (e.g. an LM head that does not split
        off its body, a device where holding one model at a time was never measured, windows of `window_tokens`
        tokens too short to keep; None: the run measures no paired measures), or None when it may be held alone.
        Raises the UsageErrors of `ModelLoader.tokenizer`."""
        ...
