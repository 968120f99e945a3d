"""How many windows each arm gets: the counts asked for, and how `dev` shrinks them to a corpus too small."""

from __future__ import annotations

import msgspec

from .errors import AbortError, UsageError


class ArmCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How many windows each arm wants."""

    preview: int
    final: int
    calibration: int = 0

    @property
    def total(self) -> int:
        return self.preview + self.final + self.calibration


MIN_PER_ARM = 2


def arm_floors(counts: ArmCounts) -> tuple[int, int, int]:
    """The fewest windows each arm may shrink to under `dev`: MIN_PER_ARM, or the request when it is smaller
    (an arm not asked for stays empty)."""
    wanted = (counts.preview, counts.final, counts.calibration)
    return (min(wanted[0], MIN_PER_ARM), min(wanted[1], MIN_PER_ARM), min(wanted[2], MIN_PER_ARM))


def fit_counts(counts: ArmCounts, available: int, allow_fewer: bool) -> ArmCounts:
    """The arm sizes planned from `available` distinct windows.

    Enough windows: as asked. Too few: E303, unless `allow_fewer` (dev) and every arm can keep its floor
    (`arm_floors`); then each arm gets its floor plus a share of the remaining windows proportional to what it
    asked beyond the floor (largest remainders, ties to the earlier arm), so the arms use every window and
    none exceeds its request. Raises UsageError E201 when preview_n or final_n is below MIN_PER_ARM or
    calibration_n is negative (it would shrink the total, and the final arm be dealt fewer windows than asked)."""
    if counts.preview < MIN_PER_ARM or counts.final < MIN_PER_ARM:
        raise UsageError(
            "E201",
            f"preview_n and final_n must each be at least {MIN_PER_ARM}",
            "raise dataset.preview_n/final_n",
        )
    if counts.calibration < 0:
        raise UsageError("E201", f"calibration_n must be at least 0, got {counts.calibration}", "use 0 or more")
    if available >= counts.total:
        return counts
    floors = arm_floors(counts)
    if not allow_fewer or available < sum(floors):
        fewest = f"; --profile dev needs at least {sum(floors)} ({MIN_PER_ARM} per arm)" if allow_fewer else ""
        raise AbortError(
            "E303",
            f"capacity insufficient: the corpus gives {available} distinct windows, the plan needs {counts.total}"
            f"{fewest}",
            "use a larger corpus, a shorter seq_len, fewer windows"
            + ("" if allow_fewer else ", or --profile dev (it shrinks the arms)"),
        )
    sizes = _largest_remainder(
        [w - f for w, f in zip((counts.preview, counts.final, counts.calibration), floors, strict=True)],
        available - sum(floors),
    )
    preview, final, calibration = (f + s for f, s in zip(floors, sizes, strict=True))
    return ArmCounts(preview=preview, final=final, calibration=calibration)


def _largest_remainder(weights: list[int], seats: int) -> list[int]:
    # Hamilton's method in exact integer arithmetic: quotas seats·w/Σw, floors first, then one more seat to
    # each of the largest remainders (the earlier arm on a tie). Needs seats <= Σw.
    total = sum(weights)
    if total == 0:
        return [0] * len(weights)
    out = [seats * w // total for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(seats * weights[i] % total), i))
    for i in remainders[: seats - sum(out)]:
        out[i] += 1
    return out
