"""Where the composition root hands in third-party metric kinds (`use_plugin_kinds`).

Kept outside `domain.metrics` so that installing the resolver imports no statistics code (scipy): commands
such as `invarlock runs` install it through the composition root and never look a kind up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invarlock.domain.metrics.base import Metric

Resolver = Callable[[str], "Metric | None"]
_resolver: Resolver | None = None


def use_plugin_kinds(resolve: Resolver | None) -> None:
    """Let the composition root supply kinds `domain.metrics` does not define (third-party plugins).

    `resolve(kind)` returns the plugin's Metric for `kind`, or None when no installed plugin provides it; it is
    asked once per unknown kind, and a metric it returns is kept under its kind. None removes the resolver
    (the kinds it supplied stay until the process ends).
    """
    global _resolver
    _resolver = resolve


def plugin_resolver() -> Resolver | None:
    """The resolver installed by `use_plugin_kinds`, if any."""
    return _resolver
