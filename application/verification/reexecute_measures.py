"""The audit's check of one window's paired measures (KL, top-1/top-5 agreement, embedding cosine, label and
predictions) against the evidence."""

from __future__ import annotations

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
    relative tolerance; labels and predictions always exactly; the KL histogram is compared only bit for bit
    (a token KL at a bin edge may move to the next bin on another build; its quantiles stay within one bin)."""
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
    if audit.exact and stated.kl_histogram != now.kl_histogram:
        wrong.append("kl_histogram differs")
    return wrong
