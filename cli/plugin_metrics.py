"""Third-party metric kinds: the composition root supplies the domain's metric registry with the kinds installed
plugins declare under `invarlock.metrics`, each imported only when a config, run or certificate names it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NoReturn

from invarlock.domain import events as ev
from invarlock.domain.errors import InvarlockError, UsageError
from invarlock.domain.metrics import METRICS, Metric
from invarlock.ports.store import EventStore

from .plugin_guards import require_plugin_guards
from .plugin_install import install_hint
from .registry import PluginEntry, Registry

# The members of the Metric protocol (domain/metrics/base.py) a plugin's object must have.
_MEMBERS = (
    "kind", "unit", "direction", "gating_basis", "per_model_scores", "policy_section", "arm_statistic", "assess",
    "scored_tokens", "identity", "flags", "catastrophe", "overhead",
)  # fmt: skip


def plugin_metric(kind: str, registry: Registry) -> Metric | None:
    """The Metric a third-party entry `kind` of `invarlock.metrics` provides (an instance, or a class called
    without arguments), or None when no plugin declares `kind`.

    Raises:
        UsageError: E220 when its module fails to import; E223 when the object is not a Metric of that kind.
    """
    entry = registry.entry("metrics", kind)
    if entry is None or entry.builtin:
        return None
    found = registry.load("metrics", kind)
    try:
        metric = found() if isinstance(found, type) else found
        missing = [name for name in _MEMBERS if not hasattr(metric, name)]
        stated = None if missing else metric.kind
    except Exception as exc:  # third-party construction code can raise anything: one E223 line, not a traceback
        _refuse(kind, entry, f"building it raised {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
    if missing or stated != kind:
        _refuse(kind, entry, f"it lacks {', '.join(missing)}" if missing else f"its kind is '{stated}'")
    checked: Metric = metric
    return checked


def _refuse(kind: str, entry: PluginEntry, why: str) -> NoReturn:
    raise UsageError(
        "E223",
        f"metric plugin '{kind}' ({entry.origin}) is not a metric of kind '{kind}': {why}",
        f"fix or uninstall {entry.distribution}; domain/metrics/base.py defines the Metric protocol",
    )


def require_metric_kind(kind: str, environment: Mapping[str, str], registry: Registry) -> None:
    """E222 when `kind` (a certificate's or a recorded run's) came from a plugin that is not installed here.

    `environment` is the run's recorded provenance environment, whose `plugin.metrics.<kind>` names the
    distribution and version that computed it. A kind no plugin recorded is left to verify's own check.
    """
    recorded = environment.get(f"plugin.metrics.{kind}")
    if kind in METRICS or recorded is None or registry.entry("metrics", kind) is not None:
        return
    raise UsageError(
        "E222",
        f"metric kind '{kind}' was computed by the plugin {recorded}, which is not installed",
        install_hint(recorded),
    )


def require_recorded_kind(store: EventStore, run_id: str, registry: Registry) -> None:
    """require_metric_kind and require_plugin_guards for the kind and environment `run_id`'s run_started event
    recorded (nothing when the stream does not start with one: replay reports that itself)."""
    records = store.read(run_id)
    if not records or records[0].type != "run_started":
        return
    try:
        started = ev.decode_event(records[0].type, records[0].version, records[0].payload)
    except InvarlockError:
        return  # replay's chain and decoding checks name what is wrong with it
    if isinstance(started, ev.RunStarted):
        section = started.config.get("eval")
        metric = section.get("metric") if isinstance(section, dict) else None
        kind = metric.get("kind") if isinstance(metric, dict) else None
        if isinstance(kind, str):
            require_metric_kind(kind, started.environment, registry)
        require_plugin_guards(started.environment, registry, started.config)
