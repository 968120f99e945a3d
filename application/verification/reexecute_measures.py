"""The audit's check of one window's paired measures (KL, top-1/top-5 agreement, embedding cosine, label and
predictions) against the evidence."""

from __future__ import annotations

from invarlock.domain.metrics import kl_bins
from invarlock.domain.model import WindowComparison
from invarlock.domain.reexecution import agrees, relative_difference

from .reexecute_inputs import AuditContext

_MEASURES = ("positions", "kl_sum", "kl_max", "top1_agree", "top5_overlap", "cosine")
# Labels and predictions are class indices: a prediction flips or it does not, on any build.
_EXACT = ("label", "baseline_pred", "subject_pred")


def compare_measures(
    stated: WindowComparison, now: WindowComparison | None, audit: AuditContext, diffs: list[float]
) -> list[str]:
    """What differs between the stated and the re-measured paired measures of a window (appending each
    float measure's relative difference to `diffs`). Bit for bit on the same build, else within the audit's
    relative tolerance; labels and predictions always exactly; the KL histogram bit for bit on the same build,
    else within one bin (a token KL at a bin edge may move to the next bin on another build, no further) unless
    the window's KL sum and max came out bit for bit: then the build changed none of its token KLs, and a
    histogram that differs was edited (a certificate claiming another build passed forged histograms)."""
    if now is None:
        return ["the runner re-measured no paired measures for a window the evidence has them for"]
    wrong = []
    for name in _MEASURES + _EXACT:
        a, b = getattr(stated, name), getattr(now, name)
        if a is None and b is None:
            continue
        if a is None or b is None:
            wrong.append(f"{name} {a!r} re-measured {b!r}")
            continue
        if name in _EXACT:
            if a != b:
                wrong.append(f"{name} {a!r} re-measured {b!r}")
            continue
        diffs.append(relative_difference(float(a), float(b)))
        if not agrees(float(a), float(b), exact=audit.exact, rel_tol=audit.rel_tol):
            wrong.append(f"{name} {a!r} re-measured {b!r}")
    same_bits = stated.kl_sum is not None and (stated.kl_sum, stated.kl_max) == (now.kl_sum, now.kl_max)
    exact = "" if audit.exact else " while the window's KL sum and max agree bit for bit" if same_bits else None
    wrong += _histogram_difference(stated.kl_histogram, now.kl_histogram, exact=exact)
    return wrong


def _histogram_difference(
    stated: tuple[int, ...] | None, now: tuple[int, ...] | None, *, exact: str | None
) -> list[str]:
    """`exact`: None where a token may move to an adjacent bin, else why the histograms must be equal (said after
    "differs")."""
    if stated is None and now is None:
        return []
    if stated is None or now is None:
        return [f"kl_histogram {'none' if stated is None else 'stated'} re-measured {'none' if now is None else 'one'}"]
    if exact is not None and stated != now:
        return [f"kl_histogram differs{exact}"]
    if not kl_bins.within_one_bin(stated, now):
        return ["kl_histogram differs by more than tokens moving to an adjacent bin"]
    return []
