"""An exception a third-party plugin's own code raised, told as one E224 line naming the plugin.

A plugin is input the user installed: when its code raises anything but an InvarLock error (which it may raise
itself, e.g. E204 for a bad plan) while a command uses it, the command names the plugin and its distribution
instead of an "unexpected error; report it" (E999) that blames InvarLock. Whose code raised is read from the
traceback: the innermost frame in a module of a third-party entry this process has loaded."""

from __future__ import annotations

from types import TracebackType

from invarlock.domain.errors import InvarlockError, UsageError

from .registry import PluginEntry, Registry, exception_line

CODE = "E224"


def _package(module: str) -> str:
    """The package a module belongs to: its top-level name (an entry's helpers count as the plugin's code), but
    the module itself for one inside invarlock's own package, whose other modules are not the plugin's."""
    top = module.split(".", 1)[0]
    return module if top == "invarlock" else top


def _module(entry: PluginEntry) -> str:
    return entry.value.partition(":")[0].strip()


def _frames(tb: TracebackType | None) -> list[tuple[str, str]]:
    """(module, qualified function name) of each frame of `tb`, outermost first."""
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        frames.append((str(tb.tb_frame.f_globals.get("__name__", "")), getattr(code, "co_qualname", code.co_name)))
        tb = tb.tb_next
    return frames


def plugin_fault(exc: BaseException, registry: Registry | None) -> UsageError | None:
    """E224 naming the loaded third-party entry whose code raised `exc`, or None when no plugin's code is on its
    traceback (an InvarLock bug stays E999) or `exc` is an InvarLock error already. A plugin calling `sys.exit`
    counts: its SystemExit ended the command silently, with the exit status it chose (0 read as PASS)."""
    if registry is None or isinstance(exc, (KeyboardInterrupt, InvarlockError)):
        return None
    loaded = registry.loaded_plugins()
    packages = {_package(_module(e)) for e in loaded}
    found = [(module, name) for module, name in _frames(exc.__traceback__) if _package(module) in packages]
    if not found:
        return None
    module, function = found[-1]
    entries = [e for e in loaded if _package(_module(e)) == _package(module)]
    exact = [e for e in entries if _module(e) == module]
    raised = exception_line(exc)
    return UsageError(
        CODE,
        f"{_who(exact if len(exact) == 1 else entries)} raised {raised} (in {module}.{function})",
        f"fix or uninstall {entries[0].distribution}, or report it to its authors (`invarlock --verbose` prints "
        "the traceback)",
    )


def _who(entries: list[PluginEntry]) -> str:
    if len(entries) == 1:
        entry = entries[0]
        return f"{entry.group[:-1]} plugin '{entry.name}' ({entry.origin})"
    named = ", ".join(f"{e.group[:-1]} '{e.name}'" for e in entries)
    return f"plugin {entries[0].origin} ({named})"
