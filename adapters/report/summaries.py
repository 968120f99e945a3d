"""What the HTML pictures show, as tables for the Markdown report: the guard grid per matrix type and the
per-window series (Δ, KL, cosine) by their extremes."""

from __future__ import annotations

import statistics

from invarlock.domain import certificate as c

from .cells import Cell, num
from .figures import Point, Table, cosine_points, delta_points, kl_points, plotted_arm
from .heatmap import Entry, Grid, guard_grids


def _largest(entries: list[tuple[str, Entry]]) -> tuple[Cell, str]:
    valued = [(where, e.value) for where, e in entries if e.value is not None]
    if not valued:
        return "—", "—"
    where, value = max(valued, key=lambda pair: abs(pair[1]))
    return num(value), where


def _row(kind: str, entries: list[tuple[str, Entry]]) -> list[Cell]:
    value, where = _largest(entries)
    flagged = ", ".join(where for where, e in entries if e.flagged) or "none"
    return [kind, str(len(entries)), value, where, flagged]


def grid_table(grid: Grid) -> Table:
    """Per matrix type: how many layers, the value largest in magnitude and its layer, the flagged layers."""
    rows = []
    for kind in grid.types:
        entries = [(str(layer), grid.cells[(layer, kind)]) for layer in grid.layers if (layer, kind) in grid.cells]
        rows.append(_row(kind, entries))
    if grid.outside:
        rows.append(_row("outside the layers", [(e.name, e) for e in grid.outside]))
    title = f"{grid.guard} · {grid.statistic} by matrix type ({len(grid.flagged)} flagged)"
    return Table(
        title,
        ["matrix type", "matrices", "value of largest magnitude", "at layer (or matrix)", "flagged at layer"],
        rows,
    )


def grid_tables(cert: c.Certificate) -> list[Table]:
    """One summary table per weight guard the certificate measured."""
    return [grid_table(g) for g in guard_grids(cert)]


def _series_row(name: str, unit: str, points: list[Point]) -> list[Cell]:
    low = min(points, key=lambda p: p[1])
    high = max(points, key=lambda p: p[1])
    median = statistics.median(v for _, v in points)
    return [name, unit, str(len(points)), num(low[1]), str(low[0]), num(median), num(high[1]), str(high[0])]


def window_table(cert: c.Certificate) -> Table | None:
    """Each per-window series of the plotted arm by min, median and max (with the windows where they fall)."""
    arm_name, arm = plotted_arm(cert)
    series = [
        ("ΔlogNLL", "nats/token", delta_points(arm)),
        ("mean KL", "nats/token", kl_points(arm)),
        ("cosine", "cosine", cosine_points(arm)),
    ]
    rows = [_series_row(name, unit, points) for name, unit, points in series if points]
    if not rows:
        return None
    headers = ["series", "unit", "windows", "min", "min at window", "median", "max", "max at window"]
    return Table(f"Per-window figures ({arm_name} arm)", headers, rows)
