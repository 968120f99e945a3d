"""Auditor's check for metric kind `accuracy`: recompute both arms' accuracies, Δ (pp), agreement, drift and the
final arm's BCa interval of Δ from the certificate's evidence rows (label, baseline_pred, subject_pred).

Usage: python docs/reference/recompute_accuracy.py reports/<run_id>/evaluation.cert.json

Written from docs/reference/statistics.md ("Classification accuracy"); it imports nothing from invarlock and
needs only the standard library and numpy. The normal CDF and its inverse come from statistics.NormalDist,
which may differ from scipy's in the last bits, so the interval is compared to 1e-9 pp; every other value
must match exactly. Exit status 0 when every value matches.
"""

from __future__ import annotations

import hashlib
import math
import sys
from statistics import NormalDist

import numpy as np

_N = NormalDist()
INTERVAL_TOL_PP = 1e-9


def label_problem(cert: dict) -> str | None:
    """The first gold label or prediction that is not a class index: an integer from 0, below the number of the
    run config's label words where it has them (a zero-shot run); None when every one is."""
    metric = cert.get("provenance", {}).get("config", {}).get("eval", {}).get("metric", {})
    words = metric.get("label_words") if isinstance(metric, dict) else None
    count, bound = (len(words), "the label words' count") if isinstance(words, list) else (2**63, "2**63")
    for name in ("preview", "final"):
        for row in (cert["evidence"].get(name) or {}).get("comparisons") or ():
            for key in ("label", "baseline_pred", "subject_pred"):
                value = row.get(key)
                if type(value) is not int or not 0 <= value < count:
                    return f"{name} {key} {value!r} is not a class index (an integer from 0 below {bound})"
    return None


def _correct(arm: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = arm["comparisons"]
    y = np.asarray([r["label"] for r in rows], dtype=np.int64)
    b = np.asarray([r["baseline_pred"] for r in rows], dtype=np.int64)
    s = np.asarray([r["subject_pred"] for r in rows], dtype=np.int64)
    return (b == y).astype(np.float64), (s == y).astype(np.float64), b == s


def arm_statistic(arm: dict) -> dict:
    """windows, tokens, both accuracies (%), Δ (pp) and agreement (%) of one evidence arm."""
    cb, cs, agree = _correct(arm)
    n = len(cb)
    return {
        "windows": n,
        "tokens": int(sum(arm["tokens_scored"])),
        "baseline_accuracy": 100.0 * float(cb.sum()) / n,
        "subject_accuracy": 100.0 * float(cs.sum()) / n,
        "delta_pp": 100.0 * float((cs - cb).sum()) / n,
        "agreement": 100.0 * float(agree.sum()) / n,
    }


def interval(cert: dict) -> tuple[str, float, float, str]:
    """(method, lo, hi, key) of the BCa interval of Δ over the final arm's examples, unit weights."""
    boot = cert["bootstrap"]
    cb, cs, _ = _correct(cert["evidence"]["final"])
    d = 100.0 * cs - 100.0 * cb
    n = np.ones_like(d)
    theta = float(d.sum() / n.sum())
    material = f"invarlock/bootstrap/v1\x00{boot['seed']}\x00{cert['dataset']['window_plan_digest']}\x00final"
    key = hashlib.sha256(material.encode()).digest()
    if np.all(d == d[0]):
        return "degenerate", theta, theta, key.hex()
    b, alpha, k = boot["replicates"], boot["alpha"], len(d)
    words = np.frombuffer(hashlib.shake_256(key).digest(8 * b * k), dtype="<u8").reshape(b, k)
    idx = (words % np.uint64(k)).astype(np.int64)
    reps = np.cumsum(d[idx], axis=1)[:, -1] / np.cumsum(n[idx], axis=1)[:, -1]
    z0 = _N.inv_cdf(min(max(np.count_nonzero(reps < theta) / b, 1e-6), 1 - 1e-6))
    loo = (d.sum() - d) / (n.sum() - n)
    dev = loo.mean() - loo
    denom = 6.0 * float((dev**2).sum()) ** 1.5
    method, levels = "percentile", [alpha / 2, 1 - alpha / 2]
    if denom != 0.0 and math.isfinite(denom):
        a = float((dev**3).sum()) / denom
        method = "bca"
        levels = [_N.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))) for z in (_N.inv_cdf(q) for q in levels)]
    lo, hi = (float(x) for x in np.quantile(reps, levels))
    return method, lo, hi, key.hex()


def check(cert: dict) -> list[tuple[str, bool, object, object]]:
    """(name, matches, recomputed, stated) for every accuracy value the certificate states."""
    pm, ev = cert["primary_metric"], cert["evidence"]
    problem = label_problem(cert)
    if problem is not None:  # no accuracy is recomputed from rows that name no class
        return [("labels", False, problem, None)]
    out = []
    arms = [("preview", ev["preview"])] + ([("final", ev["final"])] if ev["final"] is not None else [])
    for name, arm in arms:
        ours = arm_statistic(arm)
        out += [(f"{name}.{k}", v == pm[name][k], v, pm[name][k]) for k, v in ours.items()]
    if ev["final"] is not None:
        drift = pm["final"]["delta_pp"] - pm["preview"]["delta_pp"]
        out.append(("drift", drift == pm["drift"], drift, pm["drift"]))
        method, lo, hi, key = interval(cert)
        close = all(abs(x - y) <= INTERVAL_TOL_PP for x, y in zip((lo, hi), pm["ci"], strict=True))
        out += [
            ("method", method == cert["bootstrap"]["method"], method, cert["bootstrap"]["method"]),
            ("key", key == cert["bootstrap"]["key"], key, cert["bootstrap"]["key"]),
            ("ci", close and pm["ci"] == pm["display_ci"], [lo, hi], pm["ci"]),
        ]
    return out


if __name__ == "__main__":
    # beside this script: run it as `python docs/reference/<script>.py`
    from cert_file import read_certificate, recomputed

    certificate = read_certificate(sys.argv, "python docs/reference/recompute_accuracy.py CERT", ("accuracy",))
    results = recomputed(sys.argv[1], lambda: check(certificate))
    for name, ok, ours, theirs in results:
        print(f"{'ok  ' if ok else 'DIFF'}  {name}: {ours!r}  stated {theirs!r}")
    sys.exit(0 if all(ok for _, ok, _, _ in results) else 1)
