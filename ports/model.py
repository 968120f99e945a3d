"""Model ports: load a model by reference, score windows, expose weights and fingerprints."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from invarlock.domain.model import ActivationStats, ModelIdentity, TensorCensus, WindowScore
from invarlock.domain.windows import TokenWindow

from .corpus import Tokenizer

Progress = Callable[[int], None]


class NamedMatrix(Protocol):
    """A 2-D weight: `name`, `family` ("attn" | "ffn" | "embed" | "other") and a float32 numpy `array`."""

    name: str
    family: str
    array: np.ndarray


class LoadedModel(Protocol):
    """A model held in memory by an adapter. Torch never appears in this interface."""

    def identity(self) -> ModelIdentity:
        """Fingerprint of the model as it is now: sha256 over every tensor's (name, dtype, shape, bytes),
        tokenizer and config digests, parameter count, dtype and device. Recomputed after an edit."""
        ...

    def tokenizer(self) -> Tokenizer:
        """The tokenizer the model was loaded with."""
        ...

    def score(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> Iterator[WindowScore]:
        """Score each window independently (no carried context), in the order given.

        Causal LMs: every position after the first is predicted from the tokens before it inside the same
        window, so `tokens_scored = len(tokens) - 1`; `nll_sum` is the sum of token negative log
        likelihoods in nats, accumulated in float64. No BOS is prepended: the window's ids are fed as they
        are. `progress(k)` is called after each batch with the number of windows just finished.
        Raises AbortError E402 if any logit or loss is non-finite.
        """
        ...

    def matrices(self) -> Iterator[NamedMatrix]:
        """Every 2-D weight matrix with its family, as float32 numpy arrays (copies or read-only views)."""
        ...

    def census(self) -> TensorCensus:
        """Structural facts about every parameter (names, dtypes, shapes, finiteness, all-zero) and ties."""
        ...

    def variance_taps(self) -> list[str]:
        """Weight names of the FFN output modules the variance guard taps (architecture rules), in order."""
        ...

    def activation_stats(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
        """Score `windows` (as `score` does) while summing the outputs of the modules owning `weights`
        (pre-residual, float64 sums). Returns the statistics keyed by weight name and the window scores."""
        ...

    def scale_weights(self, factors: Mapping[str, float]) -> None:
        """Set each named weight to its original value times its factor; weights scaled before and absent
        from `factors` return to their original values (so `{}` undoes every scaling bit for bit)."""
        ...

    def export(self, directory: str | Path) -> Path:
        """Write the model as it is now (safetensors weights, config and tokenizer) to `directory`."""
        ...


class ModelLoader(Protocol):
    """Resolves a model reference (local path, `hf:ID`, or a demo name like `demo:smollm2-135m`)."""

    def load(self, ref: str, *, adapter: str, device: str, dtype: str, batch_size: int | None = None) -> LoadedModel:
        """Load offline. Raises UsageError (E101 missing path, E102 not a model, E103 not offline-available,
        E104 unknown adapter/device/dtype) with a one-line message and a fix."""
        ...

    def tokenizer(self, ref: str, *, adapter: str) -> Tokenizer:
        """Load only the tokenizer of `ref`, offline and without its weights, so that the windows can be
        planned (and a corpus that is too small refused) before any model is loaded. It is the tokenizer
        `load(ref, ...)` gives (same digest). Raises the UsageErrors of `load` for the reference."""
        ...
