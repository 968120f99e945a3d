"""What every layout shares: guard sections read as plain JSON values, and E601 for shapes it cannot draw."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.ports.report import CheckFailure

Layout = Callable[[c.Certificate, Sequence[CheckFailure]], str]

_UNALTERED = "pass the evaluation.cert.json that invarlock wrote, unaltered"


def guard_sections(cert: c.Certificate) -> dict[str, dict[str, Any]]:
    """Each guard's certificate section as plain JSON values: the one place the layouts read guards from."""
    return {guard: msgspec.to_builtins(section) for guard, section in cert.guards.items()}


def laid_out(layout: Layout, cert: c.Certificate, failures: Sequence[CheckFailure]) -> str:
    """`layout(cert, failures)`, or UsageError E601 when a free-form member has a shape it cannot express."""
    try:
        return layout(cert, failures)
    except (ArithmeticError, AttributeError, LookupError, TypeError, ValueError, RecursionError) as exc:
        # The certificate decoded but some free-form member has a shape the layout does not expect.
        raise UsageError("E601", f"certificate cannot be reported: {type(exc).__name__}: {exc}", _UNALTERED) from exc
