"""What `certify` and `run` print about the certificate they issued: one JSON line (--json) or the human
summary (verdict, interval, secondary metrics, failed gates, reused baseline scores, monitored guards, paths)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from invarlock.domain import certificate as c
from invarlock.domain.guards.sections import InvariantsSection
from invarlock.domain.metrics import BUILTIN_KINDS

from . import console


def _report(cert: c.Certificate, path: Path, opts: dict[str, Any]) -> None:
    pm = cert.primary_metric
    summary = {
        "run_id": cert.run_id,
        "verdict": cert.verdict.status,
        "status": cert.status,
        "ratio": pm.ratio_vs_baseline,
        "display_ci": pm.display_ci,
        "ci_approximate": pm.ci_approximate,
        "preview_ratio": pm.preview.ratio,
        "preview_mean_cosine": pm.preview.mean_cosine,
        "failed": [f.flag for f in cert.verdict.failed],
        "guards": {name: section.verdict for name, section in cert.guards.items()},
        "secondary": _secondary(cert.secondary_metrics),
        "certificate": str(path),
        "events": opts["events"],
    }
    if opts["export_dir"]:  # a rolled-back subject is not exported: say so, as the human summary does
        summary["exported"] = opts["export_dir"] if cert.status == "completed" else None
    if opts["as_json"]:
        console.out(json.dumps(summary))
        return
    _say(cert, path, opts)


def _say(cert: c.Certificate, path: Path, opts: dict[str, Any]) -> None:
    """The human summary (dropped by `invarlock --quiet`): verdict, interval, failed gates, paths."""
    pm = cert.primary_metric
    echo = console.say
    limit = cert.policy.resolved["gates"]["ratio_limit"]
    if pm.preview.delta_pp is not None:
        echo(_accuracy_headline(cert))
    elif pm.kind not in BUILTIN_KINDS and pm.display_ci is not None and pm.ratio_vs_baseline is not None:
        lo, hi = pm.display_ci  # a plugin's own numbers: its interval need not be a ratio's, nor its gate this limit
        echo(
            f"Verdict: {console.verdict(cert.verdict.status)}  {pm.kind} {pm.ratio_vs_baseline:.4f}  "
            f"interval [{lo:.4f}, {hi:.4f}] ({pm.unit}; the plugin's gates decide)"
        )
    elif pm.display_ci is not None and pm.ratio_vs_baseline is not None:
        lo, hi = pm.display_ci
        echo(
            f"Verdict: {console.verdict(cert.verdict.status)}  ratio {pm.ratio_vs_baseline:.4f}  "
            f"CI [{lo:.4f}, {hi:.4f}]  ({cert.policy.resolved['tier']} limit {limit})"
        )
    elif pm.display_ci is not None and pm.final is not None and pm.final.mean_cosine is not None:
        lo, hi = pm.display_ci
        limit = cert.policy.resolved.get("embedding", {}).get("min_cosine")
        echo(
            f"Verdict: {console.verdict(cert.verdict.status)}  mean cosine {pm.final.mean_cosine:.6f}  "
            f"CI [{lo:.6f}, {hi:.6f}]  ({cert.policy.resolved['tier']} lower limit {limit})"
        )
    else:
        stated = (("ratio", pm.preview.ratio), ("mean cosine", pm.preview.mean_cosine))
        statistic, value = next(((k, v) for k, v in stated if v is not None), ("statistic", math.nan))
        echo(f"Verdict: {console.verdict(cert.verdict.status)}  ROLLBACK: preview {statistic} {value:.4f}")
    for line in _interval_notes(cert):
        echo(line)
    sm = cert.secondary_metrics
    if sm is not None:
        kl, top = sm.kl_divergence, sm.top1_agreement
        echo(
            f"  KL {kl.mean:.3g} nats/token CI [{kl.ci[0]:.3g}, {kl.ci[1]:.3g}]  p99 {kl.p99:.3g}  "
            f"top-1 agreement {top.top1:.2f} % CI [{top.ci[0]:.2f}, {top.ci[1]:.2f}]  ({sm.arm} arm)"
        )
    for failed in cert.verdict.failed:
        echo(f"  failed {failed.flag}: {failed.reason}")
    for line in _baseline_lines(cert.provenance.baseline_scoring or []):
        echo(line)
    for line in _monitored(cert):
        echo(line)
    echo(f"Certificate: {path}")
    if opts["export_dir"] and cert.status == "completed":
        repaired = cert.guard_overhead.repaired_weights if cert.guard_overhead else []
        echo(f"Subject exported: {opts['export_dir']}  ({len(repaired)} weights repaired by guards)")
    elif opts["export_dir"]:
        echo(f"Subject not exported to {opts['export_dir']}: the run rolled back")
    echo(f"Run: {cert.run_id}  (events: {opts['events']})")


def _interval_notes(cert: c.Certificate) -> list[str]:
    """What the headline's interval does not say: too few final windows for it to be exact, which the dev profile
    does not gate (a 2-window run printed a confident PASS), and an interval that is a point (every window's Δ
    equal), which no resampling widened."""
    pm, gates = cert.primary_metric, cert.policy.resolved
    if pm.final is None:
        return []
    notes = []
    if pm.ci_approximate:
        floor = gates["gates"]["min_windows_ci"]
        gated = "" if gates["profile"] != "dev" else "; the dev profile does not gate it, ci and release do"
        notes.append(f"  NOTE: the interval is approximate: {pm.final.windows} final windows < {floor}{gated}")
    if cert.bootstrap.method == "degenerate":
        notes.append("  NOTE: every final window's difference is the same: the interval is that one value (degenerate)")
    return notes


def _baseline_lines(scoring: list[c.BaselineScoring]) -> list[str]:
    """Where the baseline scores came from when an earlier identical scoring was found (one line per source)."""
    arms: dict[tuple[bool, str, str | None], list[str]] = {}
    for s in scoring:
        arms.setdefault((s.reused, s.source_run_id, s.reason), []).append(s.arm)
    return [
        f"  baseline scores ({'/'.join(names)}) reused from run {run_id}"
        if reused
        else f"  NOTE: baseline re-scored ({'/'.join(names)}) although run {run_id} scored it identically: {reason}"
        for (reused, run_id, reason), names in arms.items()
    ]


def _accuracy_headline(cert: c.Certificate) -> str:
    """Accuracy of both models, Δ (pp) with its interval and the agreement, or the rollback's preview Δ."""
    pm = cert.primary_metric
    if pm.final is None or pm.display_ci is None:
        delta = pm.preview.value("delta_pp")
        return f"Verdict: {console.verdict(cert.verdict.status)}  ROLLBACK: preview Δaccuracy {delta:+.2f} pp"
    f, (lo, hi) = pm.final, pm.display_ci
    return (
        f"Verdict: {console.verdict(cert.verdict.status)}  accuracy {f.value('baseline_accuracy'):.2f}% -> "
        f"{f.value('subject_accuracy'):.2f}%  Δ {f.value('delta_pp'):+.2f} pp  CI [{lo:+.2f}, {hi:+.2f}]  "
        f"agreement {f.value('agreement'):.2f}%  ({cert.policy.resolved['tier']})"
    )


def _secondary(sm: c.SecondaryMetrics | None) -> dict[str, Any] | None:
    if sm is None:
        return None
    kl, top = sm.kl_divergence, sm.top1_agreement
    return {"arm": sm.arm, "kl_mean": kl.mean, "kl_ci": kl.ci, "kl_p99": kl.p99, "top1": top.top1, "top1_ci": top.ci}


def _monitored(cert: c.Certificate) -> list[str]:
    """One line per guard in monitor mode that found violations (they do not fail the verdict)."""
    lines = []
    for name, section in sorted(cert.guards.items()):
        violations = [] if isinstance(section, InvariantsSection) else section.violations
        if section.mode == "monitor" and section.verdict == "fail" and violations:
            names = ", ".join(v.name for v in violations[:3])
            more = f" and {len(violations) - 3} more" if len(violations) > 3 else ""
            lines.append(f"  monitor {name}: {len(violations)} violation(s), not gating: {names}{more}")
    if cert.guard_overhead is not None:
        o = cert.guard_overhead
        lines.append(f"  guard repairs on {len(o.repaired_weights)} weight(s): PPL guarded/bare {o.ratio:.4f}")
    return lines
