"""The weight guards' large-matrix path (min side > exact_max_dim) against the exact spectrum: cost and accuracy.

Two seeded synthetic n × n matrices (default n = 8192, float32 as the guards receive weights), each
`W = s·Z + L` with a known bulk scale s = 0.02:

- `planted`: Z iid standard normal, L = 8 planted rank-one spikes of strengths 2·(mn)^{1/4}·s·(1 … 4.5), all
  above the BBP threshold (mn)^{1/4}·s, so the true outlier count is 8;
- `heavy_tailed`: a trained-like matrix: Z Student-t with 5 degrees of freedom scaled to unit variance (heavier
  tails than a Gaussian, as trained weights have) and L = 64 rank-one components with power-law strengths
  σ_i = 6·(mn)^{1/4}·s·i^{-0.6}, which decay into the bulk as a trained weight's spectrum does.

For each: the wall of `spectrum.measure` on the large path (the default exact_max_dim 4096: Lanczos top-k and
the bulk scale median-matched on a seeded sample of exact_max_dim // 2 columns) and of the exact spectrum (the
exact path's Gram eigenvalues, what a matrix up to exact_max_dim gets; `--svd`: a full `svdvals`), and what
the spectral and RMT guards read from each: σ_max, the bulk scale, the edge λ₊, the edge ratio e = σ_max/λ₊
and the outlier count k, with the relative errors of the large path against the exact spectrum measured as the
exact path measures it, the count of exact singular values above the large path's threshold, and the true
count (known by construction) for `planted`.

Usage:
    python benchmarks/large_matrix.py                  # two 8192² matrices; 10–20 minutes on 2 cores
    python benchmarks/large_matrix.py --n 1500 --exact-max-dim 1000 --svd   # quick, against a full SVD
    python benchmarks/large_matrix.py --json
    OMP_NUM_THREADS=1 python benchmarks/large_matrix.py --only heavy_tailed   # CPU-time ratio on a busy machine
    python benchmarks/large_matrix.py --peak           # and the large path's allocation peak (a run of its own)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy
import scipy.linalg
from bench_output import machine
from invarlock.domain.guards import spectrum

SCALE = 0.02


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192, help="side of the square matrices (default 8192)")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--exact-max-dim", type=int, default=spectrum.EXACT_MAX_DIM, help="the large path's limit")
    parser.add_argument("--svd", action="store_true", help="reference by a full svdvals (else the Gram eigenvalues)")
    parser.add_argument("--only", choices=["planted", "heavy_tailed"], help="measure one of the two matrices")
    parser.add_argument("--peak", action="store_true", help="measure the large path once more under tracemalloc")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def low_rank(rng: np.random.Generator, n: int, strengths: np.ndarray) -> np.ndarray:
    """Σ σ_i u_i v_iᵀ with orthonormal u, v (QR of n × k Gaussians)."""
    k = len(strengths)
    u, _ = np.linalg.qr(rng.standard_normal((n, k)))
    v, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return np.asarray((u * strengths) @ v.T)


def planted(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bbp = math.sqrt(n) * SCALE  # (mn)^{1/4}·s for m = n
    spikes = 2.0 * bbp * (1.0 + 0.5 * np.arange(8))
    return (SCALE * rng.standard_normal((n, n)) + low_rank(rng, n, spikes)).astype(np.float32)


def heavy_tailed(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    dof = 5.0
    z = rng.standard_t(dof, size=(n, n)) / math.sqrt(dof / (dof - 2.0))
    spikes = 6.0 * math.sqrt(n) * SCALE * np.arange(1, 65, dtype=np.float64) ** -0.6
    return (SCALE * z + low_rank(rng, n, spikes)).astype(np.float32)


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """The result, the wall and this process's CPU time (on a shared machine the CPU time is the cost that
    load does not inflate, provided BLAS runs one thread: OMP_NUM_THREADS=1)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def traced_peak_mib(fn: Callable[[], Any]) -> float:
    """The peak of memory allocated while `fn` runs, in MiB (numpy reports its arrays to tracemalloc): what the
    large path holds beyond the float32 matrix it is given. Measured in a run of its own, as tracing slows it."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def reference(w: np.ndarray, svd: bool) -> tuple[np.ndarray, float, float, str]:
    """The exact singular values: a full `svdvals` when `svd`, else the exact path's own Gram eigenvalues
    (what every matrix up to exact_max_dim gets; they agree with svdvals to ~1e-11 at the top, see the docs)."""
    if svd:
        values, wall, cpu = timed(lambda: scipy.linalg.svdvals(w.astype(np.float64)))
        return values, wall, cpu, "svdvals"
    values, wall, cpu = timed(lambda: spectrum.singular_values(spectrum.gram(w)))
    return values, wall, cpu, "gram_eigvalsh"


def figures(name: str, w: np.ndarray, args: argparse.Namespace, truth: int | None) -> dict[str, Any]:
    large, large_s, large_cpu = timed(lambda: spectrum.measure(w, exact_max_dim=args.exact_max_dim))
    ref, ref_s, ref_cpu, method = reference(w, args.svd)
    m, n = spectrum.tall(w).shape
    scale = spectrum.bulk_scale(ref, m, n)  # the exact path's estimator, on the exact spectrum
    edge = scale * (math.sqrt(m) + math.sqrt(n))
    threshold = spectrum.outlier_threshold(scale, m, n, spectrum.TW_QUANTILE)
    e_large, e_exact = large.sigma / large.edge, float(ref[0]) / edge
    return {
        "matrix": name,
        "shape": list(w.shape),
        "large_path": f"{large.scale_method}/{large.spectrum_method}",
        "sample_cols": spectrum.scale_sample_cols(min(w.shape), args.exact_max_dim),
        "large_s": round(large_s, 1),
        "reference": method,
        "reference_s": round(ref_s, 1),
        "large/reference": round(large_s / ref_s, 3),
        "large_cpu_s": round(large_cpu, 1),
        "reference_cpu_s": round(ref_cpu, 1),
        "large/reference_cpu": round(large_cpu / ref_cpu, 3),
        "sigma_rel_err": rel(large.sigma, float(ref[0])),
        "true_scale": SCALE,
        "large_scale": large.bulk_scale,
        "exact_scale": scale,
        "scale_rel_err": rel(large.bulk_scale, scale),
        "edge_rel_err": rel(large.edge, edge),
        "edge_ratio_large": e_large,
        "edge_ratio_exact": e_exact,
        "ln_edge_ratio_diff": math.log(e_large / e_exact),
        "outliers_large": large.outliers,
        "outliers_exact": int(np.count_nonzero(ref > threshold)),
        "reference_above_large_threshold": int(np.count_nonzero(ref > large.outlier_threshold)),
        "outliers_true": truth,
        "matrix_mib": round(w.nbytes / 2**20, 1),
        "large_peak_mib": (
            round(traced_peak_mib(lambda: spectrum.measure(w, exact_max_dim=args.exact_max_dim)), 1)
            if args.peak
            else None
        ),
    }


def main() -> None:
    args = parse_args()
    rows = []
    if args.only in (None, "planted"):
        rows.append(figures("planted", planted(args.n, args.seed), args, truth=8))
    if args.only in (None, "heavy_tailed"):
        rows.append(figures("heavy_tailed", heavy_tailed(args.n, args.seed), args, truth=None))
    result = {
        "exact_max_dim": args.exact_max_dim,
        "rows": rows,
        "machine": machine(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    if args.json:
        print(json.dumps(result))
        return
    for row in rows:
        print(" ".join(f"{k}={v}" for k, v in row.items()))
    print({k: v for k, v in result.items() if k != "rows"})


if __name__ == "__main__":
    main()
