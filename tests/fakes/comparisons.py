"""The fakes' paired measures of one window: stand-ins for a classifier's predictions and for the causal
measures (KL, top-1/top-5 agreement), used by FakeModel.score_pair."""

from __future__ import annotations

import bisect
from typing import TYPE_CHECKING

from invarlock.domain.metrics.kl_bins import BINS, EDGES
from invarlock.domain.model import PairedScore, WindowComparison, WindowScore
from invarlock.domain.windows import TokenWindow

if TYPE_CHECKING:
    from tests.fakes.models import FakeModel


def _predict(w: TokenWindow, quality: float) -> int:
    """A stand-in classifier: right unless the window's token sum hits one of its error residues; a `quality`
    above 1 (a lossy edit) adds errors in proportion."""
    labels, h = len(w.candidates or ()) or 2, sum(w.tokens)
    wrong = h % 7 == 0 or h % 97 < (quality - 1.0) * 300
    return ((w.label or 0) + 1) % labels if wrong else (w.label or 0)


def _classified(w: TokenWindow, baseline: FakeModel, subject: FakeModel) -> PairedScore:
    pair = WindowComparison(
        window_id=w.window_id,
        positions=1,
        label=w.label,
        baseline_pred=_predict(w, baseline.quality),
        subject_pred=_predict(w, subject.quality),
    )
    return PairedScore(window_id=w.window_id, baseline=None, subject=None, comparison=pair)


def _compare(w: TokenWindow, mine: WindowScore, theirs: WindowScore) -> WindowComparison:
    """Fake causal measures of one window: every position has the same KL, half the squared per-token NLL
    gap; positions whose argmax disagree grow with the gap (all agree when the fakes score alike)."""
    positions = mine.tokens_scored
    gap = abs(theirs.nll_sum - mine.nll_sum) / positions
    kl = gap * gap / 2.0
    agree = positions - min(positions, round(positions * min(1.0, gap)))
    histogram = [0] * BINS
    histogram[bisect.bisect_right(EDGES, kl)] = positions
    return WindowComparison(
        window_id=w.window_id,
        positions=positions,
        kl_sum=kl * positions,
        kl_max=kl,
        kl_histogram=tuple(histogram),
        top1_agree=agree,
        top5_overlap=4 * positions + agree,
    )
