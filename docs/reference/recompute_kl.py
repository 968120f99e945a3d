"""Auditor's check: recompute a certificate's secondary metrics (KL divergence, top-1/top-5 agreement) from
the per-window measures in its evidence.

Usage: python docs/reference/recompute_kl.py reports/<run_id>/evaluation.cert.json

Written from docs/reference/statistics.md ("KL divergence and top-1 agreement"); it imports nothing from
invarlock and needs only the standard library and numpy. Every value must match exactly except the two
interval bounds, which use the standard library's NormalDist for the normal CDF and its inverse (invarlock
uses scipy.special, which differs in the last bits): those must agree to 1e-9 relative. Exit status 0 when
every value matches.
"""

from __future__ import annotations

import hashlib
import math
import sys
from statistics import NormalDist

import numpy as np

MANTISSAS = ("1.00", "1.26", "1.58", "2.00", "2.51", "3.16", "3.98", "5.01", "6.31", "7.94")
EDGES = [float(f"{m}e{d}") for d in range(-8, 2) for m in MANTISSAS] + [1e2]
INTERVAL_RTOL = 1e-9
_N = NormalDist()


def interval(n: np.ndarray, x: np.ndarray, key: bytes, b: int, alpha: float) -> list[float]:
    """Window-bootstrap BCa interval of Σx/Σn with the certificate's resampling (statistics.md §3)."""
    theta, k = float(x.sum() / n.sum()), len(n)
    if np.all(x / n == (x / n)[0]):
        return [theta, theta]
    words = np.frombuffer(hashlib.shake_256(key).digest(8 * b * k), dtype="<u8").reshape(b, k)
    idx = (words % np.uint64(k)).astype(np.int64)
    reps = np.cumsum(x[idx], axis=1)[:, -1] / np.cumsum(n[idx], axis=1)[:, -1]
    z0 = _N.inv_cdf(float(np.clip(np.count_nonzero(reps < theta) / b, 1e-6, 1 - 1e-6)))
    loo = (x.sum() - x) / (n.sum() - n)
    dev = loo.mean() - loo
    denom = 6.0 * float((dev**2).sum()) ** 1.5
    levels = [alpha / 2, 1 - alpha / 2]
    if denom != 0.0 and math.isfinite(denom):
        a = float((dev**3).sum()) / denom
        levels = [_N.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))) for z in (_N.inv_cdf(q) for q in levels)]
    return [float(v) for v in np.quantile(reps, levels)]


def quantile(histogram: list[int], q: float, largest: float) -> float:
    """Upper edge of the bin holding the ceil(q*N)-th smallest token KL, capped by the largest token KL."""
    rank, seen = max(1, math.ceil(q * sum(histogram))), 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return min(EDGES[index] if index < len(EDGES) else math.inf, largest)
    raise ValueError("empty histogram")


def recompute(cert: dict) -> dict:
    """The secondary metrics of the gated arm (final, or preview after a rollback), from its comparisons."""
    arm_name = "final" if cert["evidence"]["final"] is not None else "preview"
    rows = cert["evidence"][arm_name]["comparisons"]
    boot, policy = cert["bootstrap"], cert["policy"]["resolved"]
    material = f"invarlock/bootstrap/v1\x00{boot['seed']}\x00{cert['dataset']['window_plan_digest']}\x00{arm_name}"
    key = hashlib.sha256(material.encode()).digest()
    b, alpha = policy["replicates"], policy["gates"]["alpha"]
    n = np.asarray([r["positions"] for r in rows], dtype=np.float64)
    kl = np.asarray([r["kl_sum"] for r in rows], dtype=np.float64)
    agree = np.asarray([r["top1_agree"] for r in rows], dtype=np.float64)
    merged = [sum(column) for column in zip(*(r["kl_histogram"] for r in rows), strict=True)]
    largest = max(r["kl_max"] for r in rows)
    tokens = sum(r["positions"] for r in rows)
    return {
        "arm": arm_name,
        "kl.tokens": tokens,
        "kl.mean": float(kl.sum() / n.sum()),
        "kl.ci": interval(n, kl, key, b, alpha),
        "kl.median": quantile(merged, 0.5, largest),
        "kl.p90": quantile(merged, 0.9, largest),
        "kl.p99": quantile(merged, 0.99, largest),
        "kl.max": largest,
        "top1": 100.0 * float(agree.sum() / n.sum()),
        "top1.ci": [100.0 * v for v in interval(n, agree, key, b, alpha)],
        "top5_overlap": 100.0 * sum(r["top5_overlap"] for r in rows) / (5 * tokens),
    }


def stated(cert: dict) -> dict:
    """The same values as the certificate states them."""
    sm = cert["secondary_metrics"]
    kl, top = sm["kl_divergence"], sm["top1_agreement"]
    return {
        "arm": sm["arm"],
        "kl.tokens": kl["tokens"],
        "kl.mean": kl["mean"],
        "kl.ci": kl["ci"],
        "kl.median": kl["median"],
        "kl.p90": kl["p90"],
        "kl.p99": kl["p99"],
        "kl.max": kl["max"],
        "top1": top["top1"],
        "top1.ci": top["ci"],
        "top5_overlap": top["top5_overlap"],
    }


def agrees(name: str, ours: object, theirs: object) -> bool:
    if name.endswith(".ci") and isinstance(ours, list) and isinstance(theirs, list):
        return all(math.isclose(a, b, rel_tol=INTERVAL_RTOL, abs_tol=1e-300) for a, b in zip(ours, theirs, strict=True))
    return ours == theirs


if __name__ == "__main__":
    # beside this script: run it as `python docs/reference/<script>.py`
    from cert_file import read_certificate, recomputed, refuse

    certificate = read_certificate(sys.argv, "python docs/reference/recompute_kl.py CERT")
    if certificate.get("secondary_metrics") is None:
        refuse(f"{sys.argv[1]}: the certificate has no secondary metrics (no KL measures in its evidence)")
    ours, theirs = recomputed(sys.argv[1], lambda: (recompute(certificate), stated(certificate)))
    ok = True
    for name in ours:
        same = agrees(name, ours[name], theirs[name])
        ok = ok and same
        print(f"{'ok  ' if same else 'DIFF'}  {name}: {ours[name]!r}  stated {theirs[name]!r}")
    sys.exit(0 if ok else 1)
