"""The re-execution audit's dependencies on the recorded-state fakes, as the plugin and guard tests build them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from invarlock.application.verification.reexecute_request import ReexecutionDeps


def audit_deps(loader: Any, corpora: Any, edits: Mapping[str, Any] | None = None) -> ReexecutionDeps:
    """An audit with a fixed clock, stream id and tool version that records nothing (no store)."""
    return ReexecutionDeps(
        edits=edits if edits is not None else {},
        loader=loader,
        corpora=corpora,
        environment=lambda: {"python": "test"},
        clock=lambda: "2026-02-01T00:00:00.000000Z",
        new_stream_id=lambda: "audit-1",
        tool_version="0.0.test",
        store=None,
    )
