"""`mean_delta_nll`: the mean per-token NLL difference, subject minus baseline, in nats, with its own gate.

The same evidence as the built-in `ppl_causal` (per-window NLL sums) and the same BCa interval of
Δ̄ = Σ(ℓ_s − ℓ_b) / Σn, stated in nats rather than as a perplexity ratio. Its gate reads the tier's generic
thresholds: the upper bound of Δ̄ must stay under ln(ratio_limit), a preview Δ̄ above ln(catastrophe_ratio)
rolls the run back.
"""

from __future__ import annotations

import math

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.metrics import Assessment, ppl_gates
from invarlock.domain.metrics.ppl_causal import PplCausal
from invarlock.domain.policy import Policy


class MeanDeltaNll(PplCausal):
    """Lower is better, gated on the upper bound of Δ̄'s interval (nats per token)."""

    kind = "mean_delta_nll"
    unit = "nats per token"

    def assess(self, evidence: c.Evidence, *, seed: int, plan_digest: str, policy: Policy) -> Assessment:
        ppl = super().assess(evidence, seed=seed, plan_digest=plan_digest, policy=policy)
        primary = msgspec.structs.replace(ppl.primary, kind=self.kind, unit=self.unit, display_ci=ppl.primary.ci)
        return Assessment(primary=primary, bootstrap=ppl.bootstrap)

    def flags(self, pm: c.PrimaryMetric, policy: Policy) -> dict[str, tuple[c.Flag, str]]:
        limit = math.log(policy.gates.ratio_limit)
        if pm.ci is None or pm.final is None:
            own: tuple[c.Flag, str] = (False, "final arm not scored: no interval to gate on")
        else:
            why = f"upper CI of mean ΔNLL {pm.ci[1]:.5f} nats exceeds ln({policy.gates.ratio_limit}) = {limit:.5f}"
            own = (pm.ci[1] <= limit, why)
        return {**ppl_gates.flags(pm, policy), "primary_metric_acceptable": own}

    def catastrophe(self, preview: c.ArmMetric, policy: Policy) -> str | None:
        limit, delta = math.log(policy.gates.catastrophe_ratio), preview.value("delta_mean")
        return f"preview mean ΔNLL {delta:.5f} > ln(catastrophe ratio) {limit:.5f}" if delta > limit else None


MEAN_DELTA_NLL = MeanDeltaNll()
