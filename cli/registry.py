"""Plugins by entry point: the built-ins and third-party distributions register through the same groups.

Groups (`invarlock.<group>`): `adapters` (adapter name → ModelLoader factory), `edits` (edit name → Edit
factory), `datasets` (provider name → CorpusResolver factory), `metrics` (kind → Metric, cli/plugin_metrics.py)
and `guards` (listed; only the built-in ones run). Discovery reads distribution metadata only: a module is
imported when its entry is first used, so `verify` and `replay` never import a model runtime, and a plugin that
fails to import breaks nothing that does not use it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from invarlock.domain.errors import UsageError

from . import console

GROUPS = ("adapters", "edits", "guards", "datasets", "metrics")
BUILTIN_DISTRIBUTION = "invarlock"


@dataclass(frozen=True)
class PluginEntry:
    """One named entry of a group: where it points and the distribution that declared it."""

    group: str
    name: str
    value: str
    distribution: str
    version: str
    shadowed_by: str | None = None  # the origin of the entry that owns the name when this one lost it

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION

    @property
    def origin(self) -> str:
        return "built-in" if self.builtin else f"{self.distribution} {self.version}"


@dataclass(frozen=True)
class PluginStatus:
    """An entry and whether importing it worked (`error` is one line when it did not)."""

    entry: PluginEntry
    error: str | None


MESSAGE_CHARS = 240  # of a plugin's exception text in a one-line error (a 10 MB message was printed whole)


def exception_line(exc: BaseException) -> str:
    """`Type: the first line of its text`, cut at MESSAGE_CHARS; the type alone when the text is empty or cannot be
    had (a plugin's exception whose __str__ raised was E999, blaming InvarLock)."""
    try:
        text = str(exc)
    except KeyboardInterrupt:
        raise
    except BaseException:  # a __str__ that raises anything, sys.exit included
        text = ""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if len(first) > MESSAGE_CHARS:
        first = first[:MESSAGE_CHARS] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _load(point: metadata.EntryPoint) -> Any:
    if point.pattern.match(point.value) is None:  # importlib's own error: "'NoneType' object has no attribute 'group'"
        raise ValueError(f"its entry point {point.value!r} is not of the form 'module:attribute'")
    with console.others_print_to_stderr():  # a plugin that prints on import
        return point.load()


@dataclass
class Registry:
    """The entries of every group; built-ins own their names, then the first distribution (by name) does."""

    entries: list[PluginEntry]
    _points: dict[tuple[str, str, str], metadata.EntryPoint] = field(default_factory=dict, repr=False)
    _loaded: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    @classmethod
    def discover(cls, path: list[str] | None = None) -> Registry:
        """Read the `invarlock.*` entry points of the distributions on `path` (default: sys.path)."""
        found: list[tuple[PluginEntry, metadata.EntryPoint]] = []
        seen: set[str] = set()
        for dist in metadata.distributions(path=path if path is not None else sys.path):
            name = dist.metadata["Name"] or "?"
            if name.lower() in seen:  # the same distribution twice on the path: the first one imports
                continue
            seen.add(name.lower())
            for point in dist.entry_points:
                group = point.group.removeprefix("invarlock.")
                if point.group.startswith("invarlock.") and group in GROUPS:
                    entry = PluginEntry(group, point.name, point.value, name, dist.version or "?")
                    found.append((entry, point))
        return cls._of(found)

    @classmethod
    def _of(cls, found: list[tuple[PluginEntry, metadata.EntryPoint]]) -> Registry:
        found.sort(key=lambda pair: (not pair[0].builtin, pair[0].distribution.lower(), pair[0].group, pair[0].name))
        owners: dict[tuple[str, str], PluginEntry] = {}
        entries, points = [], {}
        for entry, point in found:
            owner = owners.setdefault((entry.group, entry.name), entry)
            if owner is not entry:
                entry = PluginEntry(**{**entry.__dict__, "shadowed_by": owner.origin})
            entries.append(entry)
            points[(entry.group, entry.name, entry.distribution)] = point
        return cls(entries, points)

    def names(self, group: str) -> tuple[str, ...]:
        """The usable names of `group`, built-ins first."""
        return tuple(e.name for e in self.entries if e.group == group and e.shadowed_by is None)

    def entry(self, group: str, name: str) -> PluginEntry | None:
        return next((e for e in self.entries if (e.group, e.name) == (group, name) and e.shadowed_by is None), None)

    def load(self, group: str, name: str) -> Any:
        """The object `name` of `group` points to, imported on first use.

        Raises:
            UsageError: E220 when a third-party entry's module fails to import (naming the distribution to fix);
                a built-in's import error propagates as it is (ModuleNotFoundError of a missing extra).
            KeyError: when no entry has that name (callers raise their own E-code listing `names`).
        """
        key = (group, name)
        if key not in self._loaded:
            entry = self.entry(group, name)
            if entry is None:
                raise KeyError(name)
            point = self._points[(group, name, entry.distribution)]
            if entry.builtin:  # a missing extra (E105) or a bug: the CLI's error mapping says which
                self._loaded[key] = point.load()
                return self._loaded[key]
            try:
                self._loaded[key] = _load(point)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # any import-time failure of third-party code (a module calling sys.exit
                # included: it ended the command silently with the plugin's exit code) is one E220 line
                raise UsageError(
                    "E220",
                    f"{group[:-1]} plugin '{name}' ({entry.origin}) failed to load: {exception_line(exc)}",
                    f"fix or uninstall {entry.distribution}; `invarlock plugins {group}` lists what loads",
                ) from exc
        return self._loaded[key]

    def loaded_plugins(self) -> list[PluginEntry]:
        """The third-party entries this process has imported (whose code may be running)."""
        loaded = (self.entry(group, name) for group, name in self._loaded)
        return [entry for entry in loaded if entry is not None and not entry.builtin]

    def status(self, groups: Iterable[str] = GROUPS) -> list[PluginStatus]:
        """Every entry of `groups` with the outcome of importing it (shadowed entries are not imported)."""
        return [self.check(entry) for entry in self.entries if entry.group in groups]

    def check(self, entry: PluginEntry) -> PluginStatus:
        """Import `entry` and say whether that worked; a broken entry never breaks the listing."""
        if entry.shadowed_by is not None:
            return PluginStatus(entry, f"name already taken by {entry.shadowed_by}")
        try:
            self.load(entry.group, entry.name)
        except Exception as exc:  # third-party import-time code can raise anything: reported, not raised
            cause = exc.__cause__ if isinstance(exc, UsageError) and exc.__cause__ else exc
            return PluginStatus(entry, exception_line(cause))
        return PluginStatus(entry, None)

    def provenance(self, used: Iterable[tuple[str, str]]) -> dict[str, str]:
        """`plugin.<group>.<name>` → "distribution version" for each third-party entry in `used`."""
        recorded = {}
        for group, name in used:
            entry = self.entry(group, name)
            if entry is not None and not entry.builtin:
                recorded[f"plugin.{group}.{name}"] = f"{entry.distribution} {entry.version}"
        return recorded


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process's registry, discovered once."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = Registry.discover()
    return _REGISTRY


def loaded_registry() -> Registry | None:
    """The process's registry when it has been discovered (None: no entry was loaded through it)."""
    return _REGISTRY
