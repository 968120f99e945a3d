"""Inline SVG figures for the HTML report: the ratio/CI number line and the per-window Δ histogram."""

from __future__ import annotations

from html import escape

from .figures import Bin

WIDTH, PAD = 720, 40


def _x(value: float, lo: float, hi: float) -> float:
    return PAD + (value - lo) / (hi - lo) * (WIDTH - 2 * PAD)


def _label(x: float, y: float, words: str, anchor: str = "middle", cls: str = "lbl") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(words)}</text>'


def _span(points: list[float]) -> tuple[float, float]:
    lo, hi = min(points), max(points)
    pad = max((hi - lo) * 0.15, 1e-3)
    return lo - pad, hi + pad


def number_line(ratio: float | None, ci: tuple[float, float] | None, limit: float | None, label: str) -> str:
    """An SVG axis with 1.0, the tier limit (red marker), the CI interval (bar) and the ratio (dot)."""
    points = [1.0, *(p for p in (ratio, limit) if p is not None), *(ci or ())]
    lo, hi = _span(points)
    parts = [f'<line x1="{PAD}" y1="70" x2="{WIDTH - PAD}" y2="70" class="axis"/>']
    parts += [_label(PAD, 95, f"{lo:.4f}", "start"), _label(WIDTH - PAD, 95, f"{hi:.4f}", "end")]
    one = _x(1.0, lo, hi)
    parts += [f'<line x1="{one:.1f}" y1="55" x2="{one:.1f}" y2="85" class="one"/>', _label(one, 50, "1.0")]
    if limit is not None:
        lx = _x(limit, lo, hi)
        parts += [f'<line x1="{lx:.1f}" y1="25" x2="{lx:.1f}" y2="90" class="limit"/>']
        parts += [_label(lx, 20, f"limit {limit:g}", cls="lbl limit-lbl")]
    if ci is not None:
        a, b = _x(ci[0], lo, hi), _x(ci[1], lo, hi)
        parts += [f'<rect x="{a:.1f}" y="62" width="{max(b - a, 2.0):.1f}" height="16" class="ci"/>']
        parts += [_label(PAD, 112, f"CI [{ci[0]:.4f}, {ci[1]:.4f}]", "start")]
    if ratio is not None:
        parts += [f'<circle cx="{_x(ratio, lo, hi):.1f}" cy="70" r="6" class="ratio"/>']
        parts += [_label(PAD, 130, f"{label}: {ratio:.4f}", "start")]
    title = "Ratio and confidence interval against the tier limit"
    return _svg(140, title, parts)


def delta_histogram(bins: list[Bin], title: str) -> str:
    """SVG bars of how many windows fall in each ΔlogNLL bin (nats/token), with the range labelled."""
    if not bins:
        return _svg(40, title, [_label(WIDTH / 2, 25, "no windows scored in this arm")])
    top = max(b.count for b in bins)
    slot = (WIDTH - 2 * PAD) / len(bins)
    parts = [f'<line x1="{PAD}" y1="150" x2="{WIDTH - PAD}" y2="150" class="axis"/>']
    for i, b in enumerate(bins):
        h = 120 * b.count / top
        x = PAD + i * slot
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{150 - h:.1f}" width="{max(slot - 2, 1):.1f}" height="{h:.1f}" class="bar">'
            f"<title>{escape(f'[{b.lo:.5g}, {b.hi:.5g}]: {b.count} windows')}</title></rect>"
        )
    parts += [_label(PAD, 168, f"{bins[0].lo:.4g}", "start"), _label(WIDTH - PAD, 168, f"{bins[-1].hi:.4g}", "end")]
    parts += [
        _label(WIDTH / 2, 168, "ΔlogNLL per token (subject − baseline)"),
        _label(PAD, 20, f"{title} (tallest bar: {top} windows)", "start"),
    ]
    return _svg(180, title, parts)


def _svg(height: int, title: str, parts: list[str]) -> str:
    body = "".join(parts)
    return (
        f'<svg role="img" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}"><title>{escape(title)}</title>{body}</svg>'
    )
