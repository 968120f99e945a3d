"""A recorded policy as the release that recorded it resolved it: the tier defaults a later release changed,
set back (domain/policy.py's CHANGED_DEFAULTS holds them). Re-exported through policy.re_resolve."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from .policy_sections import Policy


def as_released(
    policy: Policy, released: str | None, changed: Iterable[tuple[str, str, tuple[int, ...], object]]
) -> Policy:
    """`policy` with each default a later release changed (`changed`: guard, setting, the first release with the
    new value, the value every earlier release resolved) set back to its value in the release `released` (a tool
    version; None or unreadable: this release's). A config cannot override these settings
    (policy_overrides.GUARD_OVERRIDABLE)."""
    release = _release(released)
    guards = policy.guards
    for guard, setting, since, before in changed:
        if release is not None and release < since:
            section = msgspec.structs.replace(getattr(guards, guard), **{setting: before})
            guards = msgspec.structs.replace(guards, **{guard: section})
    return policy if guards is policy.guards else msgspec.structs.replace(policy, guards=guards)


def _release(version: str | None) -> tuple[int, ...] | None:
    """(major, minor, patch) of a tool version ("0.3.6", "0.3.7.dev1"); None when absent or not of that form."""
    parts = (version or "").split(".")[:3]
    return tuple(int(p) for p in parts) if len(parts) == 3 and all(p.isdigit() for p in parts) else None


def released_before(version: str | None, release: tuple[int, ...]) -> bool:
    """Whether the tool version `version` is a release earlier than `release`; False when it is absent or not of
    the form major.minor.patch (read as this release, as `as_released` reads it)."""
    of = _release(version)
    return of is not None and of < release
