"""Paired per-example outcomes of a classification metric as a strip of squares (inline SVG).

One square per example in plan order, coloured by who got it right: both (green), only the baseline (red: the
edit broke it), only the subject (blue), neither (grey). Each square's <title> names the example, its gold
label and both predictions.
"""

from __future__ import annotations

from invarlock.domain.model import WindowComparison

from .svg import label, svg
from .visible import escape

SIDE, PER_ROW, LEFT, TOP = 14, 44, 40, 30
# (baseline correct, subject correct) -> (fill, legend words)
OUTCOMES = {
    (True, True): ("#1a7f37", "both correct"),
    (True, False): ("#cf222e", "only the baseline correct"),
    (False, True): ("#0969da", "only the subject correct"),
    (False, False): ("#8c959f", "both wrong"),
}


def _square(i: int, row: WindowComparison) -> str:
    fill, words = OUTCOMES[(row.baseline_pred == row.label, row.subject_pred == row.label)]
    x, y = LEFT + (i % PER_ROW) * SIDE, TOP + (i // PER_ROW) * SIDE
    preds = f"baseline {row.baseline_pred}, subject {row.subject_pred}"
    tip = f"example {row.window_id}: label {row.label}, {preds} ({words})"
    return (
        f'<rect x="{x}" y="{y}" width="{SIDE - 2}" height="{SIDE - 2}" fill="{fill}" class="outcome">'
        f"<title>{escape(tip)}</title></rect>"
    )


def outcome_strip(rows: list[WindowComparison], title: str) -> str:
    """The squares of `rows` (comparisons with a label and both predictions) and a legend below them."""
    parts = [label(LEFT, 16, f"{title} ({len(rows)} examples, plan order)", "start")]
    parts += [_square(i, row) for i, row in enumerate(rows)]
    y = TOP + ((len(rows) + PER_ROW - 1) // PER_ROW) * SIDE + 10
    x = LEFT
    for fill, words in OUTCOMES.values():
        parts += [
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{fill}"/>',
            label(x + 16, y + 10, words, "start"),
        ]
        x += 36 + 7 * len(words)  # about 7 px per character of the 12 px label
    return svg(y + 22, title, parts)
