"""Ports whose implementation is chosen by name from the plugin registry: model loaders by adapter name and
edits by edit name (corpus resolvers by provider name: routing_corpus.py). Each is imported when first used."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from invarlock.domain.errors import UsageError
from invarlock.domain.model import LoadOptions
from invarlock.ports.corpus import Tokenizer
from invarlock.ports.edits import Edit
from invarlock.ports.loader import (
    ContextLimit,
    MatrixNames,
    MatrixShapes,
    ModelLoader,
    OptionsCheck,
    ScoredKinds,
    SequentialSupport,
    ShapeSettings,
)
from invarlock.ports.model import LoadedModel

from .plugin_adapters import LOADER_MEMBERS, MODEL_MEMBERS, checked, plugin_object
from .plugin_inputs import checked_tokenizer, fault_of
from .registry import Registry


def _known(registry: Registry, group: str) -> str:
    if not any(e.builtin for e in registry.entries if e.group == group):  # metadata of a source tree never installed
        return "invarlock's own entry points are missing: reinstall it (pip install -e . or pip install invarlock)"
    return f"known: {', '.join(registry.names(group))} (`invarlock plugins {group}`)"


def instance(registry: Registry, group: str, name: str, cache: dict[str, Any], code: str, what: str) -> Any:
    """The object built by the factory `name` of `group`, once per name."""
    if name not in cache:
        try:
            factory = registry.load(group, name)
        except KeyError:
            raise UsageError(code, f"unknown {what} '{name}'", _known(registry, group)) from None
        if not callable(factory):  # an entry point without ":attribute" names a module: it was E999
            entry = registry.entry(group, name)
            said = f"{what} plugin '{name}'" + (f" ({entry.origin})" if entry is not None else "")
            raise UsageError(
                "E223",
                f"{said} names a {type(factory).__name__}, which cannot be called",
                "its entry point must name the class or function that makes it (module:attribute)",
            )
        cache[name] = factory()
    return cache[name]


def preload(registry: Registry, uses: Iterable[tuple[str, str]]) -> None:
    """Import the entries a run uses before it starts, so that a missing extra (E105) or a broken plugin (E220)
    stops it before its first event; unknown names are left to the use case's own errors."""
    for group, name in uses:
        if name in registry.names(group):
            registry.load(group, name)


_TOKENIZER = "Tokenizer (ports/corpus.py)"


T = TypeVar("T")


class RegistryModelLoader:
    """A ModelLoader that hands each reference to the loader registered for its adapter name."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._loaders: dict[str, Any] = {}

    def _loader(self, adapter: str) -> ModelLoader:
        found = instance(self._registry, "adapters", adapter, self._loaders, "E104", "adapter")
        loader: ModelLoader = checked(found, LOADER_MEMBERS, adapter, "ModelLoader", self._registry)
        return loader

    def load(self, ref: str, options: LoadOptions) -> LoadedModel:
        model = self._loader(options.adapter).load(ref, options)
        loaded: LoadedModel = checked(model, MODEL_MEMBERS, options.adapter, "LoadedModel", self._registry)
        return loaded

    def tokenizer(self, ref: str, *, adapter: str) -> Tokenizer:
        tokenizer = self._loader(adapter).tokenizer(ref, adapter=adapter)
        entry = self._registry.entry("adapters", adapter)
        if entry is None or entry.builtin:
            return tokenizer
        checked: Tokenizer = checked_tokenizer(
            plugin_object(
                tokenizer, ("encode", "separator_id", "digest"), "adapters", adapter, _TOKENIZER, self._registry
            ),
            fault_of(entry, "Tokenizer", _TOKENIZER),
        )
        return checked

    def _builtin(self, adapter: str, port: type[T]) -> T | None:
        """The built-in `adapter`'s loader when it implements the optional `port`; None for a plugin's loader, which
        is not asked what it tells without loading weights."""
        entry = self._registry.entry("adapters", adapter)
        loader = self._loader(adapter)
        return loader if entry is not None and entry.builtin and isinstance(loader, port) else None

    def shape_settings(self, ref: str, *, adapter: str) -> Mapping[str, int] | None:
        """A built-in adapter's shape settings; a plugin's loader is not asked (ports/loader.py: ShapeSettings)."""
        loader = self._builtin(adapter, ShapeSettings)
        return None if loader is None else loader.shape_settings(ref, adapter=adapter)

    def scored_kinds(self, ref: str, *, adapter: str) -> tuple[str, tuple[str, ...]] | None:
        """A built-in adapter's scored kinds; a plugin's loader is not asked (ports/loader.py: ScoredKinds)."""
        loader = self._builtin(adapter, ScoredKinds)
        return None if loader is None else loader.scored_kinds(ref, adapter=adapter)

    def matrix_names(self, ref: str, *, adapter: str) -> tuple[str, ...] | None:
        """A built-in adapter's 2-D parameter names; a plugin's loader is not asked (ports/loader.py: MatrixNames)."""
        loader = self._builtin(adapter, MatrixNames)
        return None if loader is None else loader.matrix_names(ref, adapter=adapter)

    def check_options(self, ref: str, options: LoadOptions) -> None:
        """A built-in adapter's check of the load options; a plugin's loader is not asked (ports/loader.py:
        OptionsCheck)."""
        loader = self._builtin(options.adapter, OptionsCheck)
        if loader is not None:
            loader.check_options(ref, options)

    def matrix_shapes(self, ref: str, *, adapter: str) -> Mapping[str, tuple[int, ...]] | None:
        """A built-in adapter's 2-D parameter shapes; a plugin's loader is not asked (ports/loader.py: MatrixShapes)."""
        loader = self._builtin(adapter, MatrixShapes)
        return None if loader is None else loader.matrix_shapes(ref, adapter=adapter)

    def context_length(self, ref: str, *, adapter: str) -> int | None:
        loader = self._loader(adapter)
        found = loader.context_length(ref, adapter=adapter) if isinstance(loader, ContextLimit) else None
        entry = self._registry.entry("adapters", adapter)
        if found is None or entry is None or entry.builtin or (type(found) is int and found >= 1):
            return found
        raise UsageError(
            "E223",
            f"adapter plugin '{adapter}' ({entry.origin}): its ModelLoader's context_length() returned {found!r}",
            f"fix or uninstall {entry.distribution}; ports/loader.py: ContextLimit gives None or the positions (>= 1)",
        )

    def sequential_obstacle(
        self, ref: str, options: LoadOptions, *, window_tokens: int | None, stated: bool = False
    ) -> str | None:
        """A built-in adapter's answer; a plugin adapter's models are held together unless the config says
        otherwise and measures no KL (ports/loader.py: SequentialSupport)."""
        if stated and window_tokens is None:
            return None
        entry = self._registry.entry("adapters", options.adapter)
        if entry is None or not entry.builtin:
            return f"adapter plugin '{options.adapter}' is not known to keep its side of KL"
        loader = self._loader(options.adapter)
        if not isinstance(loader, SequentialSupport):
            return f"the {options.adapter} adapter keeps no side of KL"
        return loader.sequential_obstacle(ref, options, window_tokens=window_tokens, stated=stated)


class RegistryEdits(Mapping[str, Edit]):
    """The edits by name; an edit's module is imported when the edit is first looked up."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._edits: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Edit:
        if name not in self._registry.names("edits"):
            raise KeyError(name)
        found = instance(self._registry, "edits", name, self._edits, "E204", "edit")
        edit: Edit = plugin_object(found, ("apply",), "edits", name, "Edit (ports/edits.py)", self._registry)
        return edit

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry.names("edits"))

    def __len__(self) -> int:
        return len(self._registry.names("edits"))
