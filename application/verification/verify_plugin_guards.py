"""verify's plugin guard checks: the verdict re-derived by calling the plugin's `decide` again on the recorded
measurements, under the certificate's policy or the recipient's (docs/plugins.md, Guards)."""

from __future__ import annotations

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError
from invarlock.domain.guards import sections as gs
from invarlock.domain.guards.plugin import decide, plugin_guard
from invarlock.domain.guards.plugin_records import PluginOutcome
from invarlock.domain.policy import Policy

from .verify_report import VerifyReport, diff


def rederived(name: str, section: gs.PluginSection, policy: Policy) -> gs.PluginSection:
    """The section with its outcome re-decided by the plugin under `policy`'s settings of `name`.

    Raises:
        InvarlockError: E222 when the plugin is not installed, E202 when `policy` has no settings for it,
            E604 when a recorded measurement is not finite.
    """
    guard = plugin_guard(name)
    if guard is None:
        origin = f"{section.distribution} {section.version}"
        raise InvarlockError("E222", f"guard {name} ({origin}) is not installed", f"install {origin} to verify it")
    settings = (policy.plugin_guards or {}).get(name)
    if settings is None:
        raise InvarlockError("E202", f"the policy has no settings for the plugin guard {name}", f"set guards.{name}")
    outcome = decide(guard, section.measurements, settings)
    return msgspec.structs.replace(section, mode=settings.mode, verdict=outcome.verdict, violations=outcome.violations)


def check(cert: c.Certificate, name: str, section: gs.PluginSection, policy: Policy, report: VerifyReport) -> None:
    """The recorded verdict, violations and mode equal what the plugin decides again from the measurements, and
    the section names the distribution the provenance records."""
    try:
        again = rederived(name, section, policy)
    except (InvarlockError, ValueError, ArithmeticError, TypeError) as exc:
        report.add(f"guard:{name}", False, f"measurements cannot be re-decided: {exc}")
        return
    stated = PluginOutcome(verdict=section.verdict, violations=section.violations)
    derived = PluginOutcome(verdict=again.verdict, violations=again.violations)
    where = diff(msgspec.to_builtins(stated), msgspec.to_builtins(derived), f"guards.plugins.{name}")
    problem = None if where is None and section.mode == again.mode else f"guard outcome altered at {where or 'mode'}"
    problem = problem or recorded_origin(cert, name, section)
    detail = f"plugin {section.distribution} {section.version} re-decided the recorded measurements"
    report.add(f"guard:{name}", problem is None, problem or detail)


def recorded_origin(cert: c.Certificate, name: str, section: gs.PluginSection) -> str | None:
    """Why the section's distribution disagrees with the provenance's `plugin.guards.<name>` (None if it agrees)."""
    stated = cert.provenance.environment.get(f"plugin.guards.{name}")
    mine = f"{section.distribution} {section.version}"
    return None if stated == mine else f"section names {mine}, provenance {stated}"
