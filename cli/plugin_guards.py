"""Third-party guards: the composition root supplies the domain with the guards installed plugins declare under
`invarlock.guards`, each imported only when a config, run or certificate names it (docs/plugins.md, Guards)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from invarlock.domain.errors import UsageError
from invarlock.ports.guards import GUARD_MEMBERS, PluginGuard

from .plugin_install import install_hint
from .registry import PluginEntry, Registry

_PREFIX = "plugin.guards."


def plugin_guard_of(name: str, registry: Registry) -> PluginGuard | None:
    """The PluginGuard a third-party entry `name` of `invarlock.guards` provides (an instance, or a class called
    without arguments), or None when no plugin declares `name`.

    Raises:
        UsageError: E220 when its module fails to import; E223 when the object is not a guard named `name`.
    """
    entry = registry.entry("guards", name)
    if entry is None or entry.builtin:
        return None
    found = registry.load("guards", name)
    try:
        guard: Any = found() if isinstance(found, type) else found
        missing = [member for member in GUARD_MEMBERS if not hasattr(guard, member)]
        stated, settings = (None, ()) if missing else (guard.name, guard.settings)
    except Exception as exc:  # third-party construction code can raise anything: one E223 line, not a traceback
        _refuse(name, entry, f"building it raised {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
    if missing:
        _refuse(name, entry, f"it lacks {', '.join(missing)}")
    if stated != name:
        _refuse(name, entry, f"its name is {stated!r}")
    if not isinstance(settings, tuple) or not all(isinstance(s, str) for s in settings):
        _refuse(name, entry, "its settings are not a tuple of threshold names")
    checked: PluginGuard = guard
    return checked


def _refuse(name: str, entry: PluginEntry, why: str) -> NoReturn:
    raise UsageError(
        "E223",
        f"guard plugin '{name}' ({entry.origin}) is not a guard named '{name}': {why}",
        f"fix or uninstall {entry.distribution}; ports/guards.py defines the PluginGuard protocol",
    )


def require_plugin_guards(environment: Mapping[str, str], registry: Registry, config: Mapping[str, object]) -> None:
    """E222 when a plugin guard the run recorded (`plugin.guards.<name>` in its provenance environment) and ran (its
    `config` names it in guards.order) is not installed here: verify and replay need its `decide` to re-derive its
    verdict. An entry for a guard the order does not name is no reason to ask the recipient to install anything."""
    guards = config.get("guards")
    order = guards.get("order") if isinstance(guards, dict) else None
    ran = {g for g in order if isinstance(g, str)} if isinstance(order, list) else set()
    for key, recorded in sorted(environment.items()):
        name = key.removeprefix(_PREFIX)
        if key.startswith(_PREFIX) and name in ran and registry.entry("guards", name) is None:
            raise UsageError(
                "E222",
                f"guard '{name}' was computed by the plugin {recorded}, which is not installed",
                install_hint(recorded),
            )


def version_notes(environment: Mapping[str, str], registry: Registry) -> list[str]:
    """A line per plugin the run recorded (`plugin.<group>.<name>`) whose installed version differs: verify uses
    the installed one, which may compute otherwise (then a recomputation check fails)."""
    notes = []
    for key, recorded in sorted(environment.items()):
        group, _, name = key.removeprefix("plugin.").partition(".")
        entry = registry.entry(group, name) if key.startswith("plugin.") else None
        if entry is not None and not entry.builtin and f"{entry.distribution} {entry.version}" != recorded:
            notes.append(
                f"{group[:-1]} '{name}' was computed by {recorded}; {entry.distribution} {entry.version} is installed "
                "and verifies it"
            )
    return notes
