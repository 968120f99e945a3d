"""The model loader's role: it resolves a reference to a loaded model, and tells what it can without loading
weights (optional capabilities the preflight asks, so that a run fails before any load, not after)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from invarlock.domain.model import LoadOptions

from .corpus import Tokenizer
from .model import LoadedModel


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
class OptionsCheck(Protocol):
    """A ModelLoader that tells, without loading weights, whether it can load a model with the given options (a dtype
    or device map its runtime does not take). Optional: a loader without it refuses them when it loads."""

    def check_options(self, ref: str, options: LoadOptions) -> object:
        """Raise the UsageError (E104) the load of `ref` with `options` would raise for the options themselves; the
        value returned is the loader's own."""
        ...


@runtime_checkable
class MatrixShapes(Protocol):
    """A ModelLoader that tells, without loading weights, the shape of each of a model's 2-D parameters (optional: a
    plan a weight's shape refuses, such as `remove_top_singular`'s k, fails when the edit applies otherwise)."""

    def matrix_shapes(self, ref: str, *, adapter: str) -> Mapping[str, tuple[int, ...]] | None:
        """Each 2-D parameter of `ref` loaded by `adapter` (as MatrixNames names them) and its (out, in) shape, or
        None when the loader cannot tell them without the weights. Raises the UsageErrors of
        `ModelLoader.tokenizer`."""
        ...


@runtime_checkable
class SequentialSupport(Protocol):
    """A ModelLoader that tells, without loading weights, whether a run may hold a model alone: the baseline released
    before the subject loads, its side of KL and top-1 agreement kept (ReferenceKeeping). Optional: a run whose config
    leaves `eval.sequential` unset holds both models of a loader without it."""

    def sequential_obstacle(
        self, ref: str, options: LoadOptions, *, window_tokens: int | None, stated: bool = False
    ) -> str | None:
        """Why `ref` loaded with `options` should be held beside the other model (e.g. an LM head that does not split
        off its body, a device where holding one model at a time was never measured, windows of `window_tokens`
        tokens too short to keep; None: the run measures no paired measures), or None when it may be held alone.
        `stated`: the config sets `eval.sequential: true`, so only what stops such a run counts (its side of KL
        and top-1 agreement cannot be kept), not what was merely never measured. Raises the UsageErrors of
        `ModelLoader.tokenizer`."""
        ...
