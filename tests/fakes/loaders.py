"""The fake model loader: loads FakeModels registered by reference (re-exported by tests/fakes/models.py)."""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from invarlock.domain.errors import UsageError
from invarlock.domain.model import LoadOptions

from tests.fakes.tokenizer import FakeTokenizer

if TYPE_CHECKING:
    from tests.fakes.models import FakeModel


@dataclass
class FakeLoader:
    """Loads FakeModels registered by reference; records what was loaded."""

    models: dict[str, FakeModel]
    loaded: list[str] = field(default_factory=list)
    options: list[LoadOptions] = field(default_factory=list)
    instances: list[FakeModel] = field(default_factory=list)
    tokenizers_loaded: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    contexts: dict[str, int] = field(default_factory=dict)  # reference -> its stated context (ContextLimit)
    # reference -> the adapter that runs it and the metric kinds it scores (ScoredKinds); unstated: not told
    kinds: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    # reference -> its 2-D parameter names (MatrixNames); unstated: not told
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # reference -> each 2-D parameter's shape (MatrixShapes); unstated: not told
    sizes: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)

    def _require(self, ref: str) -> None:
        if ref not in self.models:
            raise UsageError("E101", f"model path '{ref}' does not exist", "check the path")

    def load(self, ref: str, options: LoadOptions) -> FakeModel:
        self._require(ref)
        self.loaded.append(ref)
        self.options.append(options)
        original = self.models[ref]
        model = type(original)(
            ref=ref,
            quality=original.quality,
            tokenizer_flavour=original.tokenizer_flavour,
            weights={k: v.copy() for k, v in original.weights.items()},
            unmapped_weights=dict(original.unmapped_weights),
            loader=self,
            batch_size=options.batch_size or 8,
        )
        self.instances.append(model)
        return model

    @property
    def batch_sizes(self) -> list[int | None]:
        return [o.batch_size for o in self.options]

    def tokenizer(self, ref: str, *, adapter: str) -> FakeTokenizer:
        self._require(ref)
        self.tokenizers_loaded.append(ref)
        return FakeTokenizer(self.models[ref].tokenizer_flavour)

    def context_length(self, ref: str, *, adapter: str) -> int | None:
        self._require(ref)
        return self.contexts.get(ref)

    def scored_kinds(self, ref: str, *, adapter: str) -> tuple[str, tuple[str, ...]] | None:
        self._require(ref)
        return self.kinds.get(ref)

    def matrix_names(self, ref: str, *, adapter: str) -> tuple[str, ...] | None:
        self._require(ref)
        return self.names.get(ref)

    def matrix_shapes(self, ref: str, *, adapter: str) -> dict[str, tuple[int, ...]] | None:
        self._require(ref)
        return self.sizes.get(ref)


class ReleasingLoader(FakeLoader):
    """A FakeLoader that keeps no model alive itself, and notes which earlier models were alive at each load."""

    def __init__(self, models: dict[str, FakeModel]) -> None:
        super().__init__(models=models)
        self.alive_at_load: list[list[str]] = []
        self._refs: list[weakref.ref[FakeModel]] = []

    def load(self, ref: str, options: LoadOptions) -> FakeModel:
        gc.collect()
        self.alive_at_load.append([m.ref for r in self._refs if (m := r()) is not None])
        model = super().load(ref, options)
        self.instances.clear()
        self._refs.append(weakref.ref(model))
        return model


@dataclass
class HoldingLoader(FakeLoader):
    """A FakeLoader that tells whether a model may be held alone (ports.loader.SequentialSupport): the obstacle
    stated for its reference, or None (`stops`: those asked with `stated`, what stops a run that sets
    eval.sequential: true); records each question (reference, options, window tokens)."""

    obstacles: dict[str, str] = field(default_factory=dict)
    stops: dict[str, str] = field(default_factory=dict)
    asked: list[tuple[str, LoadOptions, int | None]] = field(default_factory=list)

    def sequential_obstacle(
        self, ref: str, options: LoadOptions, *, window_tokens: int | None, stated: bool = False
    ) -> str | None:
        self._require(ref)
        self.asked.append((ref, options, window_tokens))
        return (self.stops if stated else self.obstacles).get(ref)
