"""Comparing two certificates of the same evidence issued by different runs (a sequential run and one holding
both models): everything but what differs between any two runs."""

from __future__ import annotations

from typing import Any

PER_RUN = ("run_id", "issued_at", "seconds")  # ids, clocks, guard timings
UNCOMPARED = ("provenance", "digest", "signature")  # the recorded config (it names the mode) and what hashes it


def comparable(certificate: dict[str, Any]) -> dict[str, Any]:
    """A certificate's JSON less its provenance, digest and signature, and less every run id, clock and timing."""
    return _untimed({k: v for k, v in certificate.items() if k not in UNCOMPARED})


def _untimed(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items() if k not in PER_RUN}
    if isinstance(data, list):
        return [_untimed(v) for v in data]
    return data
