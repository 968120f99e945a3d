"""The audit's scoring step: re-score a sample of each scored arm's windows with both models in lockstep and
compare every per-window NLL sum, token count and paired measure (KL, top-1) with the certificate's evidence."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError
from invarlock.domain.model import PairedScore, WindowScore
from invarlock.domain.reexecution import agrees, relative_difference
from invarlock.domain.windows import TokenWindow, token_windows
from invarlock.ports.model import ModelRunner

from ..certification.score_rows import Run, checked_pairs, checked_scores
from .reexecute_baseline import sampled_windows
from .reexecute_inputs import AuditContext, Finding, Tally
from .reexecute_measures import compare_measures

SHOWN = 5


def _run(audit: AuditContext) -> Run:
    """The audited run's config and environment (which adapter scored, and which plugin provides it)."""
    return audit.cert.provenance.config, audit.cert.provenance.environment


def _scores(audit: AuditContext, model: ModelRunner, windows: list[TokenWindow]) -> dict[int, WindowScore]:
    return {s.window_id: s for s in checked_scores(_run(audit), "subject", windows, model.score(windows))}


def score_findings(audit: AuditContext, repairs: dict[str, float]) -> tuple[list[Finding], Tally]:
    """One finding per scored arm; the tally feeds the detection power and the audit's outcome."""
    tally = Tally()
    findings = []
    arms = [
        (name, arm) for name, arm in (("preview", audit.cert.evidence.preview), ("final", audit.cert.evidence.final))
    ]
    for name, arm in arms:
        if arm is None:
            continue
        before = len(tally.mismatches)
        chosen = sampled_windows(arm, name, audit.sample, audit.seed)
        largest = _arm(audit, name, arm, chosen, tally)
        counts = (len(chosen), len(arm.window_ids))
        findings.append(_finding(name, arm, counts, largest, tally.mismatches[before:], audit.exact))
    overhead, final = audit.cert.guard_overhead, audit.cert.evidence.final
    if overhead is not None and final is not None:
        findings.append(_bare(audit, repairs, overhead, final, tally))
    return findings, tally


def _bare(
    audit: AuditContext, repairs: dict[str, float], overhead: c.GuardOverhead, final: c.ArmEvidence, tally: Tally
) -> Finding:
    """The guard-overhead gate's bare scores: the final arm's sample again, with every repair undone."""
    chosen = sampled_windows(final, "final", audit.sample, audit.seed)
    windows = token_windows(chosen, audit.rows, seed=audit.cert.bootstrap.seed)
    subject = audit.models["subject"]
    subject.scale_weights({})
    try:
        now = _scores(audit, subject, windows)
    finally:
        subject.scale_weights(repairs)
    at = {wid: k for k, wid in enumerate(final.window_ids)}
    wrong = []
    for wid in chosen:
        stated, recomputed = overhead.bare_subject_nll[at[wid]], now[wid].nll_sum
        diff = relative_difference(stated, recomputed)
        tally.max_rel_diff = max(tally.max_rel_diff, diff)
        if not agrees(stated, recomputed, exact=audit.exact, rel_tol=audit.rel_tol):
            wrong.append(f"final window {wid}: bare subject NLL {stated!r} recomputed {recomputed!r}")
    if wrong:
        return "reexec:scores:bare", False, f"{len(wrong)} of {len(chosen)} differ: {'; '.join(wrong[:SHOWN])}"
    return "reexec:scores:bare", True, f"{len(chosen)} final windows re-scored without the guard repairs, agree"


def _finding(
    arm: str, evidence: c.ArmEvidence, counts: tuple[int, int], largest: float, mismatches: list[str], exact: bool
) -> Finding:
    chosen, total = counts
    what = f"{_noun(evidence)}s"
    nll, paired = evidence.baseline_nll is not None, evidence.comparisons is not None
    agree = "NLL sums and paired measures" if nll and paired else "NLL sums" if nll else "paired measures"
    if mismatches:
        more = f" and {len(mismatches) - SHOWN} more" if len(mismatches) > SHOWN else ""
        return (
            f"reexec:scores:{arm}",
            False,
            f"{len(mismatches)} of {chosen} re-scored {what} differ: {'; '.join(mismatches[:SHOWN])}{more}",
        )
    how = "bit for bit" if exact else f"within tolerance, largest relative difference {largest:.3g}"
    return f"reexec:scores:{arm}", True, f"{chosen} of {total} {what} re-scored by both models, {agree} agree {how}"


def _arm(audit: AuditContext, name: str, arm: c.ArmEvidence, chosen: list[int], tally: Tally) -> float:
    """Re-score `chosen` with both models in lockstep, record each window (its NLL sums when the evidence
    has them, its paired measures when it has those); the arm's largest relative difference."""
    windows = token_windows(chosen, audit.rows, seed=audit.cert.bootstrap.seed)
    pairs = _pairs(audit, name, windows)
    at = {wid: k for k, wid in enumerate(arm.window_ids)}
    noun = _noun(arm)
    largest = 0.0
    for wid in chosen:
        k, pair = at[wid], pairs[wid]
        diffs: list[float] = [0.0]
        wrong: list[str] = []
        now = _nll_check(audit, arm, k, pair, diffs, wrong) if arm.baseline_nll is not None else None
        if arm.comparisons is not None:
            wrong += _measures_check(audit, name, arm, k, pair, diffs)
        diff = max(diffs)
        if wrong:
            relative = f" (relative difference {diff:.3g})" if diff > 0 else ""  # a count or histogram has none
            tally.mismatches.append(f"{name} {noun} {wid}: {', '.join(wrong)}{relative}")
        tally.checked += 1
        largest = max(largest, diff)
        if now is not None:
            audit.record(_rechecked(name, arm, k, now, diff, not wrong))
    tally.max_rel_diff = max(tally.max_rel_diff, largest)
    return largest


def _pairs(audit: AuditContext, arm: str, windows: list[TokenWindow]) -> dict[int, PairedScore]:
    """Both models' scores of `windows`, in lockstep; or, the baseline released, the subject paired with the
    baseline's kept side of them when the evidence has KL and top-1, else its scores taken before and the subject's
    now (no other paired measures: an audit holding one model refuses evidence that has them)."""
    if audit.baseline is None:
        scored = audit.models["baseline"].score_pair(audit.models["subject"], windows)
        return {p.window_id: p for p in checked_pairs(_run(audit), windows, scored)}
    before = audit.baseline.read(audit.baseline.scores.get(arm))
    if audit.baseline.reference is not None:
        scored = audit.baseline.reference.score_pair(audit.models["subject"], windows)
        return {p.window_id: p for p in checked_pairs(_run(audit), windows, scored)}
    now = _scores(audit, audit.models["subject"], windows)
    return {w: PairedScore(window_id=w, baseline=before[w], subject=now[w], comparison=None) for w in now}


def _noun(arm: c.ArmEvidence) -> str:
    labelled = arm.comparisons is not None and any(r.label is not None for r in arm.comparisons)
    return "example" if labelled else "window"


def _nll_check(
    audit: AuditContext, arm: c.ArmEvidence, k: int, pair: PairedScore, diffs: list[float], wrong: list[str]
) -> dict[str, float]:
    """Both models' NLL sums and token count against the evidence (appending to `diffs` and `wrong`)."""
    base, subj = _both(pair)
    stated = dict(zip(("baseline", "subject"), (column[k] for column in arm.nll()), strict=True))
    now = {"baseline": base.nll_sum, "subject": subj.nll_sum}
    diffs += [relative_difference(stated[r], now[r]) for r in stated]
    wrong += [
        f"{role} NLL {stated[role]!r} recomputed {now[role]!r}"
        for role in stated
        if not agrees(stated[role], now[role], exact=audit.exact, rel_tol=audit.rel_tol)
    ]
    if arm.tokens_scored[k] != base.tokens_scored or base.tokens_scored != subj.tokens_scored:
        wrong.append(f"tokens {arm.tokens_scored[k]} recomputed {base.tokens_scored}")
    return now


def _measures_check(
    audit: AuditContext, name: str, arm: c.ArmEvidence, k: int, pair: PairedScore, diffs: list[float]
) -> list[str]:
    """The window's paired measures against the evidence, recorded as one comparison_rechecked event."""
    assert arm.comparisons is not None
    stated, measured = arm.comparisons[k], [0.0]
    wrong = compare_measures(stated, pair.comparison, audit, measured)
    if arm.baseline_nll is None and pair.comparison is not None and arm.tokens_scored[k] != pair.comparison.positions:
        wrong.append(f"tokens {arm.tokens_scored[k]} recomputed {pair.comparison.positions}")
    diffs += measured
    audit.record(
        ev.ComparisonRechecked(
            arm=name,
            window_id=arm.window_ids[k],
            digest=arm.window_digests[k],
            stated=stated,
            recomputed=pair.comparison,
            max_rel_diff=max(measured),
            ok=not wrong,
            mismatches=wrong,
        )
    )
    return wrong


def _both(pair: PairedScore) -> tuple[WindowScore, WindowScore]:
    if pair.baseline is None or pair.subject is None:
        raise AbortError("E402", f"window {pair.window_id}: the runner gave no per-model scores", "report this bug")
    return pair.baseline, pair.subject


def _rechecked(name: str, arm: c.ArmEvidence, k: int, now: dict[str, float], diff: float, ok: bool) -> ev.Event:
    return ev.WindowRechecked(
        arm=name,
        window_id=arm.window_ids[k],
        digest=arm.window_digests[k],
        tokens_scored=arm.tokens_scored[k],
        baseline_nll=arm.nll()[0][k],
        baseline_nll_recomputed=now["baseline"],
        subject_nll=arm.nll()[1][k],
        subject_nll_recomputed=now["subject"],
        max_rel_diff=diff,
        ok=ok,
    )
