"""Inline SVG figures for the HTML report: the headline number line, the Δ histogram and per-window plots.

Every drawn number has a <title> carrying its exact value; coordinates are printed to one decimal so the
same certificate always gives the same bytes.
"""

from __future__ import annotations

from .cells import beside, limit_text, short
from .figures import Bin, Point
from .headline import Headline
from .visible import escape

WIDTH, PAD = 720, 40


def _x(value: float, lo: float, hi: float) -> float:
    return PAD + (value - lo) / (hi - lo) * (WIDTH - 2 * PAD)


def label(x: float, y: float, words: str, anchor: str = "middle", cls: str = "lbl") -> str:
    """An SVG <text> element with `words` escaped."""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(words)}</text>'


def _span(points: list[float]) -> tuple[float, float]:
    lo, hi = min(points), max(points)
    pad = max((hi - lo) * 0.15, 1e-3 * max(abs(lo), abs(hi), 1e-3))
    return lo - pad, hi + pad


def _marker(x: float, y1: int, y2: int, cls: str, tip: str) -> str:
    return f'<line x1="{x:.1f}" y1="{y1}" x2="{x:.1f}" y2="{y2}" class="{cls}"><title>{escape(tip)}</title></line>'


def number_line(h: Headline) -> str:
    """An SVG axis with the no-change reference, the limit (red marker), the CI (bar) and the value (dot)."""
    points = [h.reference, *(p for p in (h.value, h.limit) if p is not None), *(h.ci or ())]
    lo, hi = _span(points)
    parts = [f'<line x1="{PAD}" y1="70" x2="{WIDTH - PAD}" y2="70" class="axis"/>']
    parts += [label(PAD, 95, short(lo), "start"), label(WIDTH - PAD, 95, short(hi), "end")]
    ref = _x(h.reference, lo, hi)
    parts += [_marker(ref, 55, 85, "one", f"no change: {h.reference!r}"), label(ref, 50, f"{h.reference:g}")]
    if h.limit is not None:
        lx = _x(h.limit, lo, hi)
        parts += [_marker(lx, 25, 90, "limit", f"limit: {h.limit!r}")]
        parts += [label(lx, 20, f"limit {limit_text(h.limit)}", cls="lbl limit-lbl")]
    if h.ci is not None:
        a, b = _x(h.ci[0], lo, hi), _x(h.ci[1], lo, hi)
        tip = escape(f"CI [{h.ci[0]!r}, {h.ci[1]!r}]")
        parts += [
            f'<rect x="{a:.1f}" y="62" width="{max(b - a, 2.0):.1f}" height="16" class="ci"><title>{tip}</title></rect>'
        ]
        parts += [label(PAD, 112, f"CI [{beside(h.ci[0], h.limit)}, {beside(h.ci[1], h.limit)}]", "start")]
    if h.value is not None:
        tip = escape(f"{h.label}: {h.value!r}")
        parts += [f'<circle cx="{_x(h.value, lo, hi):.1f}" cy="70" r="6" class="ratio"><title>{tip}</title></circle>']
    parts += [label(PAD, 130, h.label if h.value is None else f"{h.label}: {beside(h.value, h.limit)}", "start")]
    return svg(140, "Headline statistic and confidence interval against the limit", parts)


def delta_histogram(bins: list[Bin], title: str) -> str:
    """SVG bars of how many windows fall in each ΔlogNLL bin (nats/token), with the range labelled."""
    if not bins:
        return svg(40, title, [label(WIDTH / 2, 25, "no per-window ΔlogNLL in this arm")])
    top = max(b.count for b in bins)
    slot = (WIDTH - 2 * PAD) / len(bins)
    parts = [f'<line x1="{PAD}" y1="150" x2="{WIDTH - PAD}" y2="150" class="axis"/>']
    for i, b in enumerate(bins):
        h = 120 * b.count / top
        x = PAD + i * slot
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{150 - h:.1f}" width="{max(slot - 2, 1):.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(f'[{b.lo!r}, {b.hi!r}]: {b.count} windows')}</title></rect>"
        )
    parts += [label(PAD, 168, short(bins[0].lo), "start"), label(WIDTH - PAD, 168, short(bins[-1].hi), "end")]
    parts += [
        label(WIDTH / 2, 168, "ΔlogNLL per token (subject − baseline)"),
        label(PAD, 20, f"{title} (tallest bar: {top} windows)", "start"),
    ]
    return svg(180, title, parts)


def window_plot(points: list[Point], title: str, unit: str, reference: float) -> str:
    """One bar per window in plan order, from `reference` (0 for Δ and KL, 1 for a cosine) to its value."""
    lo, hi = _span([reference, *(v for _, v in points)])
    left, top, bottom = 90, 30, 170

    def y(v: float) -> float:
        return bottom - (v - lo) / (hi - lo) * (bottom - top)

    slot = (WIDTH - PAD - left) / len(points)
    parts = [f'<line x1="{left}" y1="{y(reference):.1f}" x2="{WIDTH - PAD}" y2="{y(reference):.1f}" class="axis"/>']
    for i, (window, value) in enumerate(points):
        y0, y1 = sorted((y(reference), y(value)))
        tip = escape(f"window {window}: {value!r}")
        parts.append(
            f'<rect x="{left + i * slot:.1f}" y="{y0:.1f}" width="{max(slot - 1, 0.5):.1f}" '
            f'height="{max(y1 - y0, 0.5):.1f}" class="bar win"><title>{tip}</title></rect>'
        )
    low, high = min(v for _, v in points), max(v for _, v in points)
    for value in [reference, *([low] if low < reference else []), *([high] if high > reference else [])]:
        parts.append(label(left - 4, y(value) + 4, short(value), "end", "lbl small"))
    parts += [label(left, 16, f"{title} ({len(points)} windows, plan order)", "start")]
    parts += [label((left + WIDTH - PAD) / 2, bottom + 18, f"window (plan order) · bar: {unit}, from {reference:g}")]
    return svg(bottom + 26, title, parts)


def svg(height: int, title: str, parts: list[str]) -> str:
    """An <svg> element of the report's width with an accessible title."""
    body = "".join(parts)
    return (
        f'<svg role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}"><title>{escape(title)}</title>{body}</svg>'
    )
