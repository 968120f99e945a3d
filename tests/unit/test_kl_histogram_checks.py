"""The KL histogram checks a forger met (the forger-vs-audit hunt): a resealed certificate moved 62 of a
window's 63 token KLs to the lowest bin (the median KL 0.00316 -> 1e-08) and passed plain verify, whose bound on
kl_sum was positions × kl_max (2.4 for a stated 0.231), and passed the audit on another build, which compared
histograms only bit for bit. kl_sum is now bounded by each bin's upper edge (capped at kl_max), and an audit on
another build lets a token move to an adjacent bin, no further."""

from __future__ import annotations

import pytest
from invarlock.domain.metrics import kl_bins
from invarlock.domain.metrics.secondary import KlRow, consistent


def _histogram(**counts: int) -> tuple[int, ...]:
    """Counts by bin index, e.g. _histogram(b0=3, b51=2)."""
    hist = [0] * kl_bins.BINS
    for name, count in counts.items():
        hist[int(name[1:])] = count
    return tuple(hist)


def _bin(value: float) -> int:
    return next(i for i in range(kl_bins.BINS) if value < kl_bins.upper_edge(i))


def _row(values: list[float]) -> KlRow:
    hist = [0] * kl_bins.BINS
    for v in values:
        hist[_bin(v)] += 1
    n = len(values)
    return KlRow(
        window_id=0,
        positions=n,
        kl_sum=sum(values),
        kl_max=max(values),
        kl_histogram=tuple(hist),
        top1_agree=n,
        top5_overlap=n,
    )


def test_an_honest_row_is_consistent_and_the_forged_one_is_not() -> None:
    values = [0.003 + 0.0005 * i for i in range(62)] + [0.038]
    honest = _row(values)
    assert consistent(honest)
    forged_hist = _histogram(b0=62, **{f"b{_bin(0.038)}": 1})
    forged = KlRow(**{**{f: getattr(honest, f) for f in KlRow.__struct_fields__}, "kl_histogram": forged_hist})
    assert forged.kl_sum > 0.23 and not consistent(forged), "62 tokens under 1e-8 and one at 0.038 sum to < 0.04"


def test_kl_sum_at_the_capped_upper_edges_is_still_consistent() -> None:
    """Every token just under its bin's upper edge, the largest one being kl_max: the bound is reached."""
    values = [kl_bins.EDGES[40] * (1 - 1e-9)] * 5 + [kl_bins.EDGES[60] * 0.999]
    assert consistent(_row(values))


@pytest.mark.parametrize(
    ("stated", "recomputed", "within"),
    [
        (_histogram(b10=5, b11=3), _histogram(b10=5, b11=3), True),
        (_histogram(b10=5, b11=3), _histogram(b10=4, b11=4), True),
        (_histogram(b10=5, b11=3, b40=1), _histogram(b10=6, b11=2, b41=1), True),
        (_histogram(b10=5, b11=3), _histogram(b10=5, b13=3), False),
        (_histogram(b10=5, b11=3), _histogram(b0=7, b11=1), False),
        (_histogram(b10=5, b11=3), _histogram(b10=5, b11=4), False),
        (_histogram(b10=5), (5,), False),
    ],
    ids=["equal", "one token across an edge", "two edges", "two bins away", "to the lowest bin", "count", "bins"],
)
def test_histograms_of_another_build_may_differ_by_tokens_moving_one_bin(stated, recomputed, within) -> None:
    assert kl_bins.within_one_bin(stated, recomputed) is within


def test_the_audit_on_another_build_refuses_a_histogram_beyond_one_bin_and_takes_one_within() -> None:
    from types import SimpleNamespace

    from invarlock.application.verification.reexecute_measures import compare_measures
    from invarlock.domain.model import WindowComparison

    now = WindowComparison(
        window_id=3, positions=8, kl_sum=0.01, kl_max=0.004, kl_histogram=_histogram(b10=5, b11=3),
        top1_agree=8, top5_overlap=40,
    )  # fmt: skip
    other_build = SimpleNamespace(exact=False, rel_tol=1e-4)
    fields = {f: getattr(now, f) for f in now.__struct_fields__}
    moved = WindowComparison(**{**fields, "kl_sum": 0.0100001, "kl_histogram": _histogram(b0=8)})
    assert compare_measures(moved, now, other_build, []) == [
        "kl_histogram differs by more than tokens moving to an adjacent bin"
    ]
    across = WindowComparison(**{**fields, "kl_sum": 0.0100001, "kl_histogram": _histogram(b10=4, b11=4)})
    assert compare_measures(across, now, other_build, []) == []
    assert compare_measures(across, now, SimpleNamespace(exact=True, rel_tol=0.0), []) == [
        "kl_sum 0.0100001 re-measured 0.01",
        "kl_histogram differs",
    ]
    # the re-execution hunt (stop 71): a certificate claiming another build moved tokens one bin down in every
    # window, sum and max untouched, and passed; a build that changes no token KL's bits moves none across an edge
    forged = WindowComparison(**{**fields, "kl_histogram": _histogram(b10=6, b11=2)})
    assert compare_measures(forged, now, other_build, []) == [
        "kl_histogram differs while the window's KL sum and max agree bit for bit"
    ]
