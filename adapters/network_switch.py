"""INVARLOCK_ALLOW_NETWORK: downloads from a hub happen only when it is "1". Any other value is refused, not read
as "off": a user who wrote `true` or `yes` meant on and would otherwise get errors about missing files."""

from __future__ import annotations

import os

from invarlock.domain.errors import UsageError

NETWORK_ENV = "INVARLOCK_ALLOW_NETWORK"


def network_allowed() -> bool:
    """True for "1", False when unset, empty or "0"; UsageError E200 naming the variable otherwise."""
    value = os.environ.get(NETWORK_ENV, "")
    if value in ("", "0", "1"):
        return value == "1"
    shown = value.encode("utf-8", "backslashreplace").decode()
    raise UsageError(
        "E200", f"{NETWORK_ENV}={shown!r} is neither 1 (network on) nor 0 (off)",
        f"set {NETWORK_ENV}=1 to allow downloads from a hub, or unset it",
    )  # fmt: skip
