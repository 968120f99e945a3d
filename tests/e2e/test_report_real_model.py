"""`invarlock report html|md` of the demo model's int8 certificate (the session's `int8_run`): every figure draws
the certificate's own numbers."""

from __future__ import annotations

import html
import re

import pytest
from invarlock.adapters.report.cells import short
from invarlock.domain import certificate as c

from .conftest import CompletedRun
from .conftest import invarlock_in_process as invarlock

pytestmark = pytest.mark.hf

TITLED_BAR = re.compile(r'class="bar win"><title>window (\d+): ([^<]+)</title>')
SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def _report(run: CompletedRun, fmt: str) -> str:
    out = run.root / f"report.{fmt}"
    result = invarlock("report", fmt, run.cert, "-o", out, cwd=run.root)
    assert result.code == 0, result.stderr
    return out.read_text(encoding="utf-8")


def _plot(page: str, caption: str) -> dict[int, float]:
    [svg] = [s for s in SVG.findall(page) if caption in s]
    return {int(w): float(v) for w, v in TITLED_BAR.findall(svg)}


def test_int8_report_draws_the_certificates_per_window_delta_and_heat_maps(int8_run: CompletedRun) -> None:
    assert int8_run.result.code == 0, int8_run.result.stderr
    cert = c.from_bytes(int8_run.cert.read_bytes())
    page = _report(int8_run, "html")
    assert "NOT VERIFIED" not in page and "<b>PASS</b>" in page
    final = cert.evidence.final
    assert final is not None
    base, subj = final.nll()
    deltas = {w: (s - b) / t for w, b, s, t in zip(final.window_ids, base, subj, final.tokens_scored, strict=True)}
    assert _plot(page, "ΔlogNLL per window") == deltas
    spectral, rmt = cert.guards.spectral, cert.guards.rmt
    assert spectral is not None and rmt is not None
    for guard, matrices, violations in (
        ("spectral", spectral.measurements.matrices, spectral.violations),
        ("rmt", rmt.measurements.matrices, rmt.violations),
    ):
        [svg] = [s for s in SVG.findall(page) if f"<title>{guard}: " in s]
        cells = re.findall(r'class="cell( flagged)?"[^>]*><title>([^:<]+):', svg)
        assert {html.unescape(name) for _, name in cells} == {m.name for m in matrices} and len(matrices) > 200
        assert {name for flag, name in cells if flag} == {v.name for v in violations}
    ratio = cert.primary_metric.ratio_vs_baseline
    assert ratio is not None and f'title="{ratio!r}"' in page


def test_int8_markdown_states_the_same_ratio_and_per_window_extremes(int8_run: CompletedRun) -> None:
    cert = c.from_bytes(int8_run.cert.read_bytes())
    md = _report(int8_run, "md")
    ratio = cert.primary_metric.ratio_vs_baseline
    assert ratio is not None and f"- final ratio: {short(ratio)}" in md
    final = cert.evidence.final
    assert final is not None
    base, subj = final.nll()
    deltas = [(s - b) / t for b, s, t in zip(base, subj, final.tokens_scored, strict=True)]
    row = next(line for line in md.splitlines() if line.startswith("| ΔlogNLL | nats/token |"))
    assert f"| {len(deltas)} | {short(min(deltas))} |" in row and f"| {short(max(deltas))} |" in row


def test_int8_report_draws_the_lockstep_kl_per_window_and_the_secondary_metrics(int8_run: CompletedRun) -> None:
    cert = c.from_bytes(int8_run.cert.read_bytes())
    final, sm = cert.evidence.final, cert.secondary_metrics
    assert final is not None and final.comparisons is not None and sm is not None
    page = _report(int8_run, "html")
    kl = {r.window_id: r.kl_sum / r.positions for r in final.comparisons if r.kl_sum is not None}
    assert _plot(page, "mean KL per token") == kl and len(kl) == len(final.window_ids)
    assert max(kl.values()) > 0.0  # int8 moves the logits: every window has some KL
    for value in (sm.kl_divergence.mean, sm.kl_divergence.p99, sm.top1_agreement.top1):
        assert f'title="{value!r}"' in page
    md = _report(int8_run, "md")
    assert f"| top-1 agreement | {sm.top1_agreement.top1:.2f} % |" in md
