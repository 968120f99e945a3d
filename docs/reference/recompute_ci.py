"""Auditor's check: recompute a certificate's final-arm ratio and confidence interval from its evidence.

Usage: python docs/reference/recompute_ci.py reports/<run_id>/evaluation.cert.json

Written from docs/reference/statistics.md; it deliberately imports nothing from invarlock. It needs numpy and
scipy.special (ndtr/ndtri, the normal CDF and its inverse: the standard library's NormalDist differs from them
in the last bits, so it cannot reproduce the interval bit for bit). Exit status 0 when every value matches.
"""

from __future__ import annotations

import hashlib
import math
import sys

import numpy as np
from scipy.special import ndtr, ndtri


def recompute(cert: dict, name: str = "final") -> dict:
    """Ratio, log-space CI, ratio CI, bootstrap method and key of the arm `name` (the final arm; a rollback's
    preview arm), computed from the evidence."""
    arm, boot = cert["evidence"][name], cert["bootstrap"]
    n, lb, ls = (np.asarray(arm[k], dtype=np.float64) for k in ("tokens_scored", "baseline_nll", "subject_nll"))
    nd = ls - lb  # n_i * Δ_i, exactly as the certificate's statistic uses it
    theta = float(nd.sum() / n.sum())
    material = f"invarlock/bootstrap/v1\x00{boot['seed']}\x00{cert['dataset']['window_plan_digest']}\x00{name}"
    key = hashlib.sha256(material.encode()).digest()
    b, alpha, k = boot["replicates"], boot["alpha"], len(n)
    if np.all(nd / n == (nd / n)[0]):
        method, lo, hi = "degenerate", theta, theta
    else:
        words = np.frombuffer(hashlib.shake_256(key).digest(8 * b * k), dtype="<u8").reshape(b, k)
        idx = (words % np.uint64(k)).astype(np.int64)
        reps = np.cumsum(nd[idx], axis=1)[:, -1] / np.cumsum(n[idx], axis=1)[:, -1]
        z0 = float(ndtri(np.clip(np.count_nonzero(reps < theta) / b, 1e-6, 1 - 1e-6)))
        loo = (nd.sum() - nd) / (n.sum() - n)
        dev = loo.mean() - loo
        denom = 6.0 * float((dev**2).sum()) ** 1.5
        method, levels = "percentile", [alpha / 2, 1 - alpha / 2]
        if denom != 0.0 and math.isfinite(denom):
            a = float((dev**3).sum()) / denom
            zq = [float(ndtri(q)) for q in levels]
            method, levels = "bca", [float(ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))) for z in zq]
        lo, hi = (float(x) for x in np.quantile(reps, levels))
    ratio = math.exp(float(nd.sum()) / float(n.sum()))
    return {
        "ratio": ratio,
        "ci": [lo, hi],
        "display_ci": [math.exp(lo), math.exp(hi)],
        "method": method,
        "key": key.hex(),
    }


def recompute_rollback(cert: dict) -> dict:
    """A rollback certificate's preview ratio (the catastrophe rule reads it), perplexities and its bootstrap's
    method and key, keyed to the preview arm; it states no interval."""
    arm = cert["evidence"]["preview"]
    n, lb, ls = (np.asarray(arm[k], dtype=np.float64) for k in ("tokens_scored", "baseline_nll", "subject_nll"))
    ours = recompute(cert, "preview")
    baseline_ppl, subject_ppl = math.exp(float(lb.sum() / n.sum())), math.exp(float(ls.sum() / n.sum()))
    return {
        "ratio": ours["ratio"],
        "baseline_ppl": baseline_ppl,
        "subject_ppl": subject_ppl,
        "method": ours["method"],
        "key": ours["key"],
    }


def stated_rollback(cert: dict) -> dict:
    preview, boot = cert["primary_metric"]["preview"], cert["bootstrap"]
    return {
        "ratio": preview["ratio"],
        "baseline_ppl": preview["baseline_ppl"],
        "subject_ppl": preview["subject_ppl"],
        "method": boot["method"],
        "key": boot["key"],
    }


def stated(cert: dict) -> dict:
    """The same values as the certificate states them."""
    pm, boot = cert["primary_metric"], cert["bootstrap"]
    return {
        "ratio": pm["ratio_vs_baseline"],
        "ci": pm["ci"],
        "display_ci": pm["display_ci"],
        "method": boot["method"],
        "key": boot["key"],
    }


if __name__ == "__main__":
    # beside this script: run it as `python docs/reference/<script>.py`
    from cert_file import read_certificate, recomputed, refuse, scored_arm

    certificate = read_certificate(sys.argv, "python docs/reference/recompute_ci.py CERT")
    rollback = scored_arm(sys.argv[1], certificate) == "preview"
    scored = certificate["evidence"]["preview" if rollback else "final"]
    if not {"baseline_nll", "subject_nll"} <= set(scored):
        kind = certificate["primary_metric"].get("kind")
        refuse(f"{sys.argv[1]}: kind {kind!r} has no NLL columns: use recompute_accuracy.py or recompute_embedding.py")
    if rollback:  # the preview arm that decided it
        print(
            "rollback: the preview arm's ratio, perplexities and bootstrap (method, key); a rollback states no interval"
        )
    pair = (recompute_rollback, stated_rollback) if rollback else (recompute, stated)
    ours, theirs = recomputed(sys.argv[1], lambda: (pair[0](certificate), pair[1](certificate)))
    for name in ours:
        print(f"{'ok  ' if ours[name] == theirs[name] else 'DIFF'}  {name}: {ours[name]!r}  stated {theirs[name]!r}")
    sys.exit(0 if ours == theirs else 1)
