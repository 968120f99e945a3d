"""The guard heat map as inline SVG: layers across, matrix types down, flagged matrices outlined.

Colour runs from blue (value −extent) through white (0) to red (+extent); a matrix without a value is grey.
Every cell has a <title> with the matrix name and the exact value, so hovering shows the full number.
"""

from __future__ import annotations

from .cells import short
from .heatmap import Entry, Grid
from .svg import WIDTH, label, svg
from .visible import escape

LEFT, TOP, ROW = 130, 34, 16
_BLUE, _RED, _WHITE, _NONE = (9, 105, 218), (207, 34, 46), (255, 255, 255), "#d0d7de"


def colour(value: float | None, extent: float) -> str:
    """The fill for `value` on a ±extent diverging scale (grey for no value, white when extent is 0)."""
    if value is None:
        return _NONE
    t = max(-1.0, min(1.0, value / extent)) if extent > 0.0 else 0.0
    end = _RED if t > 0 else _BLUE
    rgb = (round(w + (e - w) * abs(t)) for w, e in zip(_WHITE, end, strict=True))
    return "#" + "".join(f"{v:02x}" for v in rgb)


def _cell(entry: Entry, x: float, y: float, w: float, grid: Grid) -> str:
    value = "no value" if entry.value is None else repr(entry.value)
    tip = f"{entry.name}: {grid.statistic} = {value}" + (" (flagged)" if entry.flagged else "")
    cls = "cell flagged" if entry.flagged else "cell"
    fill = colour(entry.value, grid.extent)
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{ROW - 2}" class="{cls}" fill="{fill}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _column_width(grid: Grid) -> float:
    columns = max(len(grid.layers), len(grid.outside), 1)
    return max(min(22.0, (WIDTH - LEFT - 10) / columns), 3.0)


def _layer_labels(grid: Grid, w: float) -> list[str]:
    step = max(1, round(24 / w))
    return [
        label(LEFT + i * w + w / 2, TOP - 6, str(layer), cls="lbl small")
        for i, layer in enumerate(grid.layers)
        if i % step == 0
    ]


def _legend(grid: Grid, y: float) -> list[str]:
    parts = [label(LEFT - 8, y + 11, "colour scale", "end")]
    for i in range(11):
        fill = colour(grid.extent * (i - 5) / 5, grid.extent)
        parts.append(f'<rect x="{LEFT + i * 18}" y="{y}" width="18" height="12" class="cell" fill="{fill}"/>')
    parts += [
        label(LEFT, y + 26, short(-grid.extent), "start"),
        label(LEFT + 198, y + 26, short(grid.extent), "end"),
    ]
    parts.append(f'<rect x="{LEFT + 220}" y="{y}" width="18" height="12" class="cell flag-key" fill="#ffffff"/>')
    parts.append(label(LEFT + 244, y + 11, "outlined: flagged by the guard", "start"))
    parts.append(f'<rect x="{LEFT + 440}" y="{y}" width="18" height="12" fill="{_NONE}"/>')
    return [*parts, label(LEFT + 464, y + 11, "no value", "start")]


def heat_map(grid: Grid) -> str:
    """The grid as SVG; cells of flagged matrices (and only those) carry class `flagged` (a heavy outline)."""
    w = _column_width(grid)
    parts = [label(LEFT - 8, TOP - 6, "layer →", "end"), *_layer_labels(grid, w)]
    for row, kind in enumerate(grid.types):
        y = TOP + row * ROW
        parts.append(label(LEFT - 8, y + ROW - 5, kind, "end"))
        for col, layer in enumerate(grid.layers):
            entry = grid.cells.get((layer, kind))
            if entry is not None:
                parts.append(_cell(entry, LEFT + col * w, y, w - 1, grid))
    y = TOP + len(grid.types) * ROW
    if grid.outside:
        parts.append(label(LEFT - 8, y + ROW - 5, "outside the layers", "end"))
        parts += [_cell(e, LEFT + i * w, y, w - 1, grid) for i, e in enumerate(grid.outside)]
        y += ROW
    parts += _legend(grid, y + 10)
    title = f"{grid.guard}: {grid.statistic} per matrix, {len(grid.flagged)} flagged"
    return svg(int(y + 46), title, [label(4, 14, title, "start"), *parts])
