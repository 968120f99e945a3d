"""Auditor's check: recompute an `embedding_cosine` certificate's mean cosines, interval and drift from its evidence.

Usage: python docs/reference/recompute_embedding.py reports/<run_id>/evaluation.cert.json

Written from docs/reference/statistics.md ("Embedding cosine"); it imports nothing from invarlock. Like
recompute_ci.py it needs numpy and scipy.special (ndtr/ndtri: the standard library's NormalDist differs from
them in the last bits, so it could not reproduce the interval bit for bit). Exit status 0 when every value
matches exactly.
"""

from __future__ import annotations

import hashlib
import math
import sys

import numpy as np
from scipy.special import ndtr, ndtri


def cosines(arm: dict) -> np.ndarray:
    return np.asarray([row["cosine"] for row in arm["comparisons"]], dtype=np.float64)


def interval(c: np.ndarray, boot: dict, plan_digest: str, arm: str) -> tuple[str, float, float, str]:
    """Window bootstrap (BCa) of the mean cosine: the primary metric's resampling with every window weighing 1."""
    theta = float(c.sum() / len(c))
    material = f"invarlock/bootstrap/v1\x00{boot['seed']}\x00{plan_digest}\x00{arm}"
    key = hashlib.sha256(material.encode()).digest()
    b, alpha, k = boot["replicates"], boot["alpha"], len(c)
    if np.all(c == c[0]):
        return "degenerate", theta, theta, key.hex()
    words = np.frombuffer(hashlib.shake_256(key).digest(8 * b * k), dtype="<u8").reshape(b, k)
    idx = (words % np.uint64(k)).astype(np.int64)
    reps = np.cumsum(c[idx], axis=1)[:, -1] / np.cumsum(np.ones_like(c)[idx], axis=1)[:, -1]
    z0 = float(ndtri(np.clip(np.count_nonzero(reps < theta) / b, 1e-6, 1 - 1e-6)))
    loo = (c.sum() - c) / (k - 1.0)
    dev = loo.mean() - loo
    denom = 6.0 * float((dev**2).sum()) ** 1.5
    method, levels = "percentile", [alpha / 2, 1 - alpha / 2]
    if denom != 0.0 and math.isfinite(denom):
        a = float((dev**3).sum()) / denom
        method, levels = "bca", [float(ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))) for z in map(ndtri, levels)]
    lo, hi = (float(x) for x in np.quantile(reps, levels))
    return method, lo, hi, key.hex()


def recompute_rollback(cert: dict) -> dict:
    """A rollback certificate's preview mean and min cosine (the catastrophe rule reads the mean) and its
    bootstrap's method and key, keyed to the preview arm; it states no interval."""
    preview = cosines(cert["evidence"]["preview"])
    method, _, _, key = interval(preview, cert["bootstrap"], cert["dataset"]["window_plan_digest"], "preview")
    mean = float(preview.sum()) / len(preview)
    return {"preview_mean_cosine": mean, "preview_min_cosine": float(preview.min()), "method": method, "key": key}


def stated_rollback(cert: dict) -> dict:
    pm, boot = cert["primary_metric"], cert["bootstrap"]
    preview = pm["preview"]
    return {
        "preview_mean_cosine": preview["mean_cosine"],
        "preview_min_cosine": preview["min_cosine"],
        "method": boot["method"],
        "key": boot["key"],
    }


def recompute(cert: dict) -> dict:
    """Mean and min cosine of both arms, the final arm's interval, its method and key, and the drift."""
    evidence, plan = cert["evidence"], cert["dataset"]["window_plan_digest"]
    preview, final = cosines(evidence["preview"]), cosines(evidence["final"])
    method, lo, hi, key = interval(final, cert["bootstrap"], plan, "final")
    mean_final, mean_preview = float(final.sum()) / len(final), float(preview.sum()) / len(preview)
    return {
        "final_mean_cosine": mean_final,
        "final_min_cosine": float(final.min()),
        "preview_mean_cosine": mean_preview,
        "preview_min_cosine": float(preview.min()),
        "ci": [lo, hi],
        "display_ci": [lo, hi],
        "drift": mean_final - mean_preview,
        "method": method,
        "key": key,
    }


def stated(cert: dict) -> dict:
    """The same values as the certificate states them."""
    pm, boot = cert["primary_metric"], cert["bootstrap"]
    return {
        "final_mean_cosine": pm["final"]["mean_cosine"],
        "final_min_cosine": pm["final"]["min_cosine"],
        "preview_mean_cosine": pm["preview"]["mean_cosine"],
        "preview_min_cosine": pm["preview"]["min_cosine"],
        "ci": pm["ci"],
        "display_ci": pm["display_ci"],
        "drift": pm["drift"],
        "method": boot["method"],
        "key": boot["key"],
    }


if __name__ == "__main__":
    # beside this script: run it as `python docs/reference/<script>.py`
    from cert_file import read_certificate, recomputed, scored_arm

    certificate = read_certificate(sys.argv, "python docs/reference/recompute_embedding.py CERT", ("embedding_cosine",))
    if scored_arm(sys.argv[1], certificate) == "preview":  # a rollback: the preview arm that decided it
        print("rollback: the preview arm's statistics and its bootstrap (method, key); a rollback states no interval")
        pair = (recompute_rollback, stated_rollback)
    else:
        pair = (recompute, stated)
    ours, theirs = recomputed(sys.argv[1], lambda: (pair[0](certificate), pair[1](certificate)))
    for name in ours:
        print(f"{'ok  ' if ours[name] == theirs[name] else 'DIFF'}  {name}: {ours[name]!r}  stated {theirs[name]!r}")
    sys.exit(0 if ours == theirs else 1)
