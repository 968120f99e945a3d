"""The audit's variance step: every tap the guard recorded re-measured on both models, the taps certify would
take of these models compared with those listed, and, where VE proposed scales, its A/B pass again: the subject
with those scales, its taps (`repaired`, which decide the verdict once VE is enabled), its weights' digest and the
calibration windows' NLL sums with and without the scales (which decide whether VE is enabled). Before 0.3.14 a
sample of the taps was re-measured and the A/B pass not at all, so `repaired` and the A/B sums could say anything
(the guard forgery and regression hunts)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from invarlock.domain.guards import variance
from invarlock.domain.guards.variance_records import VarianceMeasurements
from invarlock.domain.model import ActivationStats, WindowScore
from invarlock.domain.windows import TokenWindow, token_windows

from ..certification.recorded_baseline import same_values
from ..certification.variance_guard import scaled_pass, taps_only
from ..certification.weight_checks import checked_activation, checked_stats
from .reexecute_inputs import AuditContext, Tally
from .reexecute_rows import base_matrices, compare, mismatch, unmapped


def variance_rows(audit: AuditContext, measured: VarianceMeasurements, repairs: dict[str, float], tally: Tally) -> None:
    """Every recorded tap (and the A/B pass) re-measured; `repairs`: the scales of the guards before it."""
    taps = measured.taps
    listed = [tap.weight for tap in taps]
    expected = _expected_taps(audit, measured.targets)
    for name in (n for n in expected if n not in set(listed)):  # a dropped tap hides its violation
        mismatch(audit, "variance", name, f"the models have this tap ({measured.targets}) and it is not listed", tally)
    for name in (n for n in listed if n not in set(expected)):
        mismatch(audit, "variance", name, f"not a tap of the models under targets {measured.targets}", tally)
    if not taps:
        return
    windows = token_windows(measured.calibration.window_ids, audit.rows, seed=audit.cert.bootstrap.seed)
    run = audit.cert.provenance.config, audit.cert.provenance.environment  # which adapter (plugin) tapped
    if audit.baseline is not None:
        base = audit.baseline.read(audit.baseline.taps)
    else:
        base = checked_stats(run, "baseline", taps_only(audit.models["baseline"], windows, listed), listed)
    subj, without = _subject_pass(audit, windows, listed, scored=measured.ab is not None)
    for tap in taps:
        stated = {"baseline": tap.baseline, "subject": tap.subject}
        recomputed = {"baseline": base[tap.weight], "subject": subj[tap.weight]}
        compare(audit, "variance", tap.weight, msgspec.to_builtins(stated), msgspec.to_builtins(recomputed), tally)
    if measured.ab is not None:
        _ab_pass(audit, measured, windows, repairs, without, tally)


def _subject_pass(
    audit: AuditContext, windows: Sequence[TokenWindow], weights: list[str], *, scored: bool
) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
    """The subject's taps of the calibration windows, and with `scored` their NLL sums (the A/B pass's side
    without VE, as certify takes them in one pass)."""
    run = audit.cert.provenance.config, audit.cert.provenance.environment
    subject = audit.models["subject"]
    if not scored:
        return checked_stats(run, "subject", taps_only(subject, windows, weights), weights), []
    return checked_activation(run, "subject", subject.activation_stats(windows, weights), windows, weights)


def _ab_pass(
    audit: AuditContext,
    measured: VarianceMeasurements,
    windows: Sequence[TokenWindow],
    repairs: dict[str, float],
    without: list[WindowScore],
    tally: Tally,
) -> None:
    """The subject with the scales VE proposed from the stated (just re-measured) taps: its taps' standard
    deviations (what the verdict reads of `repaired`: their sums cancel, so a plain relative tolerance on them
    failed an honest audit across builds), its weights' digest, and both sides' NLL sums and tokens."""
    assert measured.ab is not None, "called where VE proposed scales"
    weights = [tap.weight for tap in measured.taps]
    scales = variance.proposals(measured.taps, audit.policy.guards.variance)
    run = audit.cert.provenance.config, audit.cert.provenance.environment
    repaired, with_ve, digest = scaled_pass(audit.models["subject"], run, windows, weights, (repairs, scales))
    for tap in measured.taps:
        stated = {"std": variance.std_of(tap.repaired) if tap.repaired is not None else None}
        again = {"std": variance.std_of(repaired[tap.weight])}
        compare(audit, "variance", f"{tap.weight} (repaired)", stated, again, tally)
    if digest != measured.repaired_weights_sha256:
        mismatch(audit, "variance", "repaired_weights_sha256", "the subject with VE's scales has other weights", tally)
    ab = measured.ab
    stated_ab = {"tokens": ab.tokens, "nll_without": ab.nll_without, "nll_with": ab.nll_with}
    scored = {
        "tokens": [s.tokens_scored for s in without],
        "nll_without": [s.nll_sum for s in without],
        "nll_with": [s.nll_sum for s in with_ve],
    }
    compare(audit, "variance", "the A/B pass", stated_ab, scored, tally)


def _expected_taps(audit: AuditContext, targets: str) -> list[str]:
    """The taps certify's variance guard takes of these models: every FFN tap the adapter offers (`all_ffn`), or
    those whose matrix the subject changed (`changed`; after the repairs of the guards before it, as certify
    compares them), without the weights either adapter cannot map."""
    subject = audit.models["subject"]
    skip = unmapped(audit).keys() | subject.unmapped().keys()
    taps = [name for name in subject.variance_taps() if name not in skip]
    if targets == "all_ffn":
        return taps
    wanted = set(taps)
    base_all = (m for m in base_matrices(audit) if m.name in wanted)
    subj_all = (m for m in subject.matrices() if m.name in wanted)
    changed = {b.name for b, s in zip(base_all, subj_all, strict=False) if not same_values(b, s)}
    return [name for name in taps if name in changed]
