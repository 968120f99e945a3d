"""The guard functions on JSON-shaped records, as a certificate holds them: the guard math tests write
their cases as plain rows and read outcomes as plain JSON, the typed records sit in between."""

from __future__ import annotations

from typing import Any

import msgspec
from invarlock.domain.guards import rmt, spectral, variance
from invarlock.domain.guards.rmt_records import RmtMeasurements
from invarlock.domain.guards.settings import RmtSettings, SpectralSettings, VarianceSettings
from invarlock.domain.guards.spectral_records import SpectralMeasurements
from invarlock.domain.guards.variance_records import ABPass, VarianceMeasurements
from invarlock.domain.model import ActivationStats


def spectral_evaluate(rows: list[dict[str, Any]], settings: SpectralSettings) -> Any:
    measured = msgspec.convert({"matrices": rows}, SpectralMeasurements)
    return msgspec.to_builtins(spectral.evaluate(measured, settings))


def rmt_evaluate(rows: list[Any], settings: RmtSettings) -> Any:
    measured = msgspec.convert({"matrices": msgspec.to_builtins(rows)}, RmtMeasurements)
    return msgspec.to_builtins(rmt.evaluate(measured, settings))


def _ab(ab: dict[str, Any]) -> ABPass:
    tokens = [int(t) for t in ab["tokens"]]
    return ABPass(
        window_ids=list(range(len(tokens))), tokens=tokens, nll_without=ab["nll_without"], nll_with=ab["nll_with"]
    )


def variance_evaluate(
    taps: list[dict[str, Any]], ab: dict[str, Any] | None, settings: VarianceSettings, *, key: bytes, replicates: int
) -> Any:
    data = {
        "targets": "changed",
        "calibration": {"window_ids": [], "window_digests": []},
        "taps": taps,
        "ab": None if ab is None else msgspec.to_builtins(_ab(ab)),
        "repaired_weights_sha256": None,
    }
    measured = msgspec.convert(data, VarianceMeasurements)
    return msgspec.to_builtins(variance.evaluate(measured, settings, key=key, replicates=replicates))


def propose(std_baseline: float, std_subject: float, settings: VarianceSettings) -> Any:
    return msgspec.to_builtins(variance.propose(std_baseline, std_subject, settings))


def ab_gate(ab: dict[str, Any], settings: VarianceSettings, *, key: bytes, replicates: int) -> Any:
    return msgspec.to_builtins(variance.ab_gate(_ab(ab), settings, key=key, replicates=replicates))


def std_of(stats: dict[str, Any]) -> float:
    return variance.std_of(ActivationStats(**stats))
