"""Weight-guard measurement reuse: the key that proves two runs measure their baseline's matrices identically,
and the baseline's per-matrix measurements read back from a run's spectral and RMT records."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from . import events as ev
from .canonical import canonical_bytes, sha256_hex
from .guards.results import RmtResult, SpectralResult
from .guards.spectrum import MatrixMeasure
from .run import RunState

# 2: matrices above rmt.exact_max_dim take their bulk scale from a column sample (mp_median_cols), no longer
# from the entry MAD, so a baseline measured before that must be measured again.
# 3: matrices are measured with a pinned BLAS thread count (environment `guard_blas_threads`). Earlier runs
# measured with the machine's default, whose bits depend on the core count; what keeps them from being reused is
# their environment, which lacks that entry (a candidate's key is recomputed at the current version).
# 4: Gram matrices are summed over row blocks (row_blocks.GRAM_BLOCK_BYTES), so a matrix larger than one block
# (the demo model's embedding) measures in other low bits than under 3's single product.
KEY_VERSION = 4


def guard_key_parts(state: RunState, key_version: int | None = None) -> dict[str, Any]:
    """What a baseline matrix's measurement depends on: the baseline's identity (weights digest, dtype, device,
    unmapped weights), the measuring settings of the policy (power iteration tolerance and cap, exact-spectrum
    size limit, Tracy–Widom quantile), the environment (numpy/scipy builds give the LAPACK results, and
    `guard_blas_threads` the threads they reduce over) and the tool version. The windows and the subject are
    not in it: the weight guards read no text. `key_version` (default KEY_VERSION) recomputes the key an
    earlier release recorded."""
    started = state.started
    spectral, rmt = started.policy.guards.spectral, started.policy.guards.rmt
    return {
        "key_version": KEY_VERSION if key_version is None else key_version,
        "tool_version": started.tool_version,
        "environment": started.environment,
        "baseline": msgspec.to_builtins(state.models["baseline"].identity),
        "spectral": {"power_tol": spectral.power_tol, "power_max_iter": spectral.power_max_iter},
        "rmt": {"exact_max_dim": rmt.exact_max_dim, "outlier_tw_quantile": rmt.outlier_tw_quantile},
    }


def guard_key(state: RunState, key_version: int | None = None) -> str:
    """sha256 over the canonical JSON of `guard_key_parts(state, key_version)`."""
    return sha256_hex(canonical_bytes(guard_key_parts(state, key_version)))


def key_version_of(key: str, state: RunState) -> int | None:
    """The key version (1 to KEY_VERSION) under which `state`'s guard key is `key`; None under none. A link
    recorded by an earlier release is checked under its own version: only new runs need the current one."""
    return next((v for v in range(KEY_VERSION, 0, -1) if guard_key(state, v) == key), None)


def baseline_measures(guards: Iterable[ev.GuardEvaluated]) -> dict[str, MatrixMeasure]:
    """Every baseline matrix measurement that a run's spectral and RMT records state together, by weight name
    ({} unless the run recorded both guards). A matrix whose two records disagree on σ_max is left out."""
    spectral = next((g.result for g in guards if isinstance(g.result, SpectralResult)), None)
    rmt = next((g.result for g in guards if isinstance(g.result, RmtResult)), None)
    if spectral is None or rmt is None:
        return {}
    sigmas = {m.name: m for m in spectral.measurements.matrices}
    measures = {}
    for row in rmt.measurements.matrices:
        s = sigmas.get(row.name)
        if s is None or s.sigma_baseline != row.baseline.sigma or "/" not in row.method[0]:
            continue
        scale_method, spectrum_method = row.method[0].split("/", 1)
        side = row.baseline
        measures[row.name] = MatrixMeasure(
            rows=row.rows,
            cols=row.cols,
            sigma=s.sigma_baseline,
            sigma_method=s.method[0],
            iterations=s.iterations[0],
            residual=s.residual[0],
            bulk_scale=side.bulk_scale,
            scale_method=scale_method,
            spectrum_method=spectrum_method,
            edge=side.edge,
            outlier_threshold=side.outlier_threshold,
            outliers=side.outliers,
        )
    return measures
