"""verify's check that the plan's arms are the ones its run deals: which windows are preview, final and
calibration follows from the stream's window count, the run config's arm sizes, its seed and the dataset digest
(domain/windows.assign_arms). Without it a forger could drop or swap the worst windows of an arm and re-derive
every statistic from the genuine per-window rows that are left."""

from __future__ import annotations

from invarlock.domain import certificate as c
from invarlock.domain.arm_counts import ArmCounts, fit_counts
from invarlock.domain.cert_inputs import DatasetSection
from invarlock.domain.errors import InvarlockError
from invarlock.domain.examples import EXAMPLE_STRIDE
from invarlock.domain.policy import VERIFY_MAX_DEALT_WINDOWS, Policy
from invarlock.domain.windows import ARMS, deal_arms

from .verify_report import VerifyReport, dig


def _asked(cert: c.Certificate) -> ArmCounts | None:
    sizes = [dig(cert.provenance.config, "dataset", key) for key in ("preview_n", "final_n", "calibration_n")]
    if not all(type(size) is int for size in sizes):
        return None
    return ArmCounts(preview=sizes[0], final=sizes[1], calibration=sizes[2])


def _sizes(counts: ArmCounts) -> str:
    return f"{counts.preview}/{counts.final}/{counts.calibration} (preview/final/calibration)"


def _problem(cert: c.Certificate, policy: Policy) -> str | None:
    ds, asked, seed = cert.dataset, _asked(cert), dig(cert.provenance.config, "dataset", "seed")
    if asked is None or type(seed) is not int:
        return "the run config's dataset.preview_n, final_n, calibration_n and seed must be integers"
    try:
        granted = fit_counts(asked, ds.windows_available, not policy.enforce_floors)
    except InvarlockError as exc:
        return f"dataset.windows_available {ds.windows_available} cannot give the run config's arms: {exc.message}"
    if ds.windows != c.ArmCount(preview=granted.preview, final=granted.final, calibration=granted.calibration):
        got = f"{ds.windows.preview}/{ds.windows.final}/{ds.windows.calibration}"
        given = f"{_sizes(granted)} that {ds.windows_available} windows give the run config's arms"
        return f"dataset.windows {got} are not the {given}"
    if ds.approximate_counts != (granted != asked):
        sizes = f"arms of {_sizes(granted)} asked as {_sizes(asked)}"
        return f"dataset.approximate_counts is {ds.approximate_counts} for {sizes}"
    if ds.windows_available > min(ds.stream_tokens, VERIFY_MAX_DEALT_WINDOWS):  # a window holds a token at least
        return f"dataset.windows_available {ds.windows_available} is more windows than verify deals again"
    if ds.stride != EXAMPLE_STRIDE and ds.windows_available + ds.duplicates_dropped != _cut_count(ds):
        cut = f"the {_cut_count(ds)} windows of {ds.seq_len} tokens every {ds.stride} in {ds.stream_tokens} tokens"
        return f"windows_available {ds.windows_available} + duplicates_dropped {ds.duplicates_dropped} are not {cut}"
    return _ids_problem(cert, granted, seed)


def _cut_count(ds: DatasetSection) -> int:
    return 0 if ds.stream_tokens < ds.seq_len else (ds.stream_tokens - ds.seq_len) // ds.stride + 1


def _ids_problem(cert: c.Certificate, granted: ArmCounts, seed: int) -> str | None:
    """Each arm's ids against the positions the permutation deals it in the list of distinct windows. That list
    is every window id in order less the D duplicates dropped, whose ids are not recorded: so the j-th distinct
    window has an id from j to j + D, and its excess over j never falls as j grows. With D = 0 every id is its
    dealt position; with D > 0 no window can change arms beyond what D dropped windows could shift."""
    ds = cert.dataset
    dealt = deal_arms(range(ds.windows_available), granted, seed=seed, dataset=ds.dataset_digest)
    pairs: list[tuple[int, int, str]] = []
    for arm in ARMS:
        planned = sorted(p.window_id for p in cert.evidence.plan if p.arm == arm)
        if len(planned) != len(dealt[arm]):
            return f"the plan lists {len(planned)} {arm} windows for an arm of {len(dealt[arm])}"
        pairs += [(position, window_id, arm) for position, window_id in zip(dealt[arm], planned, strict=True)]
    excess = 0
    for position, window_id, arm in sorted(pairs):
        if not excess <= window_id - position <= ds.duplicates_dropped:
            with_dropped = f" with {ds.duplicates_dropped} duplicates dropped" if ds.duplicates_dropped else ""
            return f"the plan's {arm} windows are not the ones the seed and dataset digest deal{with_dropped}"
        excess = window_id - position
    return None


# The deal binds ids, not content: the rows behind an id are tied to it only by its content digest (trusted).
_ROWS = " (the rows behind each id are as trusted as the window content digests)"


def arm_assignment(cert: c.Certificate, policy: Policy, report: VerifyReport) -> None:
    """The arm sizes are what `fit_counts` grants the run config's sizes from `windows_available` (and
    `approximate_counts` says whether they were shrunk); with no duplicate dropped, every arm's window ids are
    exactly those the permutation keyed by the dataset digest and the seed deals."""
    problem = _problem(cert, policy)
    dropped = cert.dataset.duplicates_dropped
    ids = f"window ids (within the {dropped} dropped duplicates)" if dropped else "window ids"
    report.add("arm_assignment", problem is None, problem or f"arm sizes and {ids} dealt again from the seed{_ROWS}")
