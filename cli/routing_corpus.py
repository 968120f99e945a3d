"""The corpus resolver chosen by provider name from the plugin registry, imported when first used."""

from __future__ import annotations

from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.ports.corpus import CorpusResolver, CorpusSource, LabelledSource

from .plugin_adapters import plugin_object
from .plugin_inputs import CheckedLabelledSource, CheckedSource, fault_of
from .registry import Registry
from .routing import instance

_RESOLVER = "CorpusResolver (ports/corpus.py)"
_SOURCE = "CorpusSource (ports/corpus.py)"
_LABELLED = "LabelledSource (ports/corpus.py)"


class RegistryCorpusResolver:
    """A CorpusResolver that hands each provider name to the resolver registered for it."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._resolvers: dict[str, Any] = {}

    def _resolver(self, provider: str) -> CorpusResolver:
        found = instance(self._registry, "datasets", provider, self._resolvers, "E301", "corpus provider")
        resolver: CorpusResolver = plugin_object(found, ("open",), "datasets", provider, _RESOLVER, self._registry)
        return resolver

    def open(
        self,
        provider: str,
        *,
        path: str | None = None,
        text_field: str = "text",
        split: str = "validation",
        name: str | None = None,
        config: str | None = None,
        revision: str | None = None,
    ) -> CorpusSource:
        hub = _hub(name, config, revision)
        source = self._resolver(provider).open(provider, path=path, text_field=text_field, split=split, **hub)
        checked: CorpusSource = self._checked(provider, source, ("info", "texts"), CheckedSource, _SOURCE)
        return checked

    def open_labelled(
        self,
        provider: str,
        *,
        path: str | None = None,
        text_field: str = "text",
        label_field: str = "label",
        split: str = "validation",
        name: str | None = None,
        config: str | None = None,
        revision: str | None = None,
    ) -> LabelledSource:
        resolver = self._resolver(provider)
        if not hasattr(resolver, "open_labelled"):
            raise UsageError("E301", f"{provider!r} is not a labelled dataset provider", "use one that has labels")
        hub = _hub(name, config, revision)
        fields = {"text_field": text_field, "label_field": label_field}
        source = resolver.open_labelled(provider, path=path, split=split, **fields, **hub)
        checked: LabelledSource = self._checked(
            provider, source, ("info", "examples"), CheckedLabelledSource, _LABELLED
        )
        return checked

    def _checked(
        self, provider: str, source: Any, members: tuple[str, ...], wrapper: type[CheckedSource], protocol: str
    ) -> Any:
        """A built-in provider's `source` as it is; a plugin's checked for `members`, then wrapped in its checks."""
        entry = self._registry.entry("datasets", provider)
        if entry is None or entry.builtin:
            return source
        own = plugin_object(source, members, "datasets", provider, protocol, self._registry)
        return wrapper(own, fault_of(entry, protocol.split()[0], protocol))


def _hub(name: str | None, config: str | None, revision: str | None) -> dict[str, str]:
    """The hub keys that are set: a resolver of providers without them (a plugin's) is called without them."""
    given = {"name": name, "config": config, "revision": revision}
    return {key: value for key, value in given.items() if value is not None}
