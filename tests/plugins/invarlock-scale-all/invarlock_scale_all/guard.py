"""`max_abs_weight`: a guard that compares the largest |w| of each attention and FFN matrix, subject against
baseline, and fails a matrix whose ratio exceeds guards.max_abs_weight.max_ratio. `norm_ratio` is an entry that
is no guard at all (InvarLock refuses it with E223)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from invarlock.ports.model import WeightSource


class MaxAbsWeight:
    """Measures {baseline, subject, ratio} per matrix; decides ratio <= max_ratio."""

    name = "max_abs_weight"
    settings = ("max_ratio",)

    def measure(self, baseline: WeightSource, subject: WeightSource) -> dict[str, dict[str, float]]:
        base = {m.name: float(np.max(np.abs(m.array))) for m in baseline.matrices() if m.family in ("attn", "ffn")}
        out = {}
        for m in subject.matrices():
            if m.name in base:
                peak = float(np.max(np.abs(m.array)))
                out[m.name] = {"baseline": base[m.name], "subject": peak, "ratio": peak / base[m.name]}
        return out

    def decide(self, measurements: Mapping[str, Mapping[str, float]], settings: Mapping[str, float]) -> dict[str, str]:
        limit = settings["max_ratio"]
        return {
            name: f"max |w| ratio {values['ratio']:.6f} > {limit}"
            for name, values in measurements.items()
            if values["ratio"] > limit
        }


class RepairingGuard(MaxAbsWeight):
    """Tries to scale the subject back (a plugin guard may not: InvarLock stops it with E221)."""

    name = "repairing_guard"

    def measure(self, baseline: WeightSource, subject: WeightSource) -> dict[str, dict[str, float]]:
        subject.scale_weights({m.name: 0.5 for m in subject.matrices()})
        return super().measure(baseline, subject)


class FlagFlippingGuard(MaxAbsWeight):
    """Sets its read-only arrays writable again and rescales the subject (numpy allowed it on a plain view)."""

    name = "flag_flipping_guard"

    def measure(self, baseline: WeightSource, subject: WeightSource) -> dict[str, dict[str, float]]:
        for m in subject.matrices():
            m.array.setflags(write=True)
            m.array /= 2
        return super().measure(baseline, subject)


def norm_ratio(*args: object) -> None:
    raise NotImplementedError
