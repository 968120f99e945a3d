"""The ModelRunner contract, run against every model adapter (the real HF causal LM and the recorded fake).

What every runner promises: one score per window, in the order given, with the adapter's count of scored
tokens (`len(tokens) - 1` for a causal LM, the masked count for a masked LM) and a finite float NLL sum;
scores deterministic and independent of the batch size (up to float32 round-off), which is the one asked for
at load or a positive default; a non-finite weight aborts
scoring with E402; the lockstep hook `score_pair` pairs each window's score under both models, in order;
activation taps score like `score`. A runner with no token likelihood (an encoder: the case's
`scored_tokens` is None) refuses `score` and the taps with E104, and its lockstep pairs carry only paired
measures. To run a new adapter (ONNX next) through this suite, add one `pytest.param` to `MODEL_ADAPTERS` in
tests/contracts/conftest.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from invarlock.domain.errors import AbortError, IntegrityError, UsageError
from invarlock.domain.model import WindowScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.kept_reference import ReferenceKeeping
from invarlock.ports.model import LoadedModel, ModelRunner, TapsOnlyRunner

from tests.contracts.conftest import ModelAdapterCase

TEXT = """The harbour town grew around a sheltered bay where fishing boats could wait out the winter storms.
    Merchants built stone warehouses along the quay and a customs house with a clock tower that still keeps
    time for the market square. In spring the boats went out before dawn and came back in the afternoon with
    herring, cod and mackerel, which were salted in long sheds behind the beach. Children carried baskets of
    bread and tea down to the boats, and old sailors mended nets on the slipway while they argued about the
    weather, the price of rope and the best places to fish. A railway line arrived late in the century and
    brought visitors from the cities, who walked along the cliffs, painted the lighthouse and bought shells
    and postcards from small shops near the station. The hotels that opened for them are apartments now, but
    the bandstand on the promenade is still used on summer evenings, and the lifeboat station has served the
    coast for more than one hundred and fifty years with crews of volunteers from the town and the farms
    around it. Every autumn a festival remembers the great storm that wrecked half the fleet, with music,
    a procession of lanterns and a service at the small church on the hill above the harbour."""
SEQ_LEN, COUNT = 24, 5
RTOL = 1e-6  # float32 round-off between batch compositions; the NLL sums themselves are float64


def windows_for(runner: ModelRunner) -> list[TokenWindow]:
    """Five windows cut from the runner's own tokenization of TEXT, handed over out of id order."""
    ids = runner.tokenizer().encode(TEXT)
    assert len(ids) >= SEQ_LEN * COUNT
    made = [
        TokenWindow(window_id=10 + k, tokens=tuple(ids[k * SEQ_LEN : (k + 1) * SEQ_LEN]), mask_seed=42)
        for k in range(COUNT)
    ]
    return [made[k] for k in (3, 0, 4, 1, 2)]


def nll_close(a: WindowScore, b: WindowScore) -> bool:
    return (
        a.window_id == b.window_id
        and a.tokens_scored == b.tokens_scored
        and math.isclose(a.nll_sum, b.nll_sum, rel_tol=RTOL)
    )


@pytest.fixture(scope="module")
def runner(adapter: ModelAdapterCase) -> LoadedModel:
    """A model of the adapter that no test edits."""
    return adapter.make(None)


@pytest.fixture
def scored(adapter: ModelAdapterCase) -> Callable[[int], int]:
    """How many tokens the adapter scores in a window; the NLL promises do not apply to an encoder."""
    if adapter.scored_tokens is None:
        pytest.skip("not applicable: the adapter has no token likelihood (its refusal is tested below)")
    return adapter.scored_tokens


def test_scores_each_window_once_in_the_order_given_with_its_scored_tokens(
    runner: LoadedModel, scored: Callable[[int], int]
) -> None:
    windows = windows_for(runner)
    finished: list[int] = []
    scores = list(runner.score(windows, finished.append))

    assert [s.window_id for s in scores] == [w.window_id for w in windows]
    assert [s.tokens_scored for s in scores] == [scored(len(w.tokens)) for w in windows]
    assert all(type(s.nll_sum) is float and math.isfinite(s.nll_sum) and s.nll_sum > 0 for s in scores)
    assert sum(finished) == len(windows)


def test_scoring_twice_gives_the_same_bits(runner: LoadedModel, scored: Callable[[int], int]) -> None:
    windows = windows_for(runner)
    assert list(runner.score(windows)) == list(runner.score(windows))


def test_scores_do_not_depend_on_the_batch_size(
    adapter: ModelAdapterCase, runner: LoadedModel, scored: Callable[[int], int]
) -> None:
    windows = windows_for(runner)
    one, three = adapter.make(1).score(windows), adapter.make(3).score(windows)
    assert all(nll_close(a, b) for a, b in zip(one, three, strict=True))


def test_the_batch_size_is_the_one_asked_for_else_a_positive_default(adapter: ModelAdapterCase) -> None:
    assert adapter.make(3).batch_size == 3
    default = adapter.make(None).batch_size
    assert type(default) is int and default >= 1


def test_a_non_finite_weight_aborts_scoring_with_e402(
    adapter: ModelAdapterCase, runner: LoadedModel, scored: Callable[[int], int]
) -> None:
    broken = adapter.make(None)
    target = next(m for m in broken.matrices() if m.block is not None)
    broken.assign(target.name, np.full(target.array.shape, np.nan, np.float32))
    with pytest.raises(AbortError) as caught:
        list(broken.score(windows_for(runner)))
    assert caught.value.code == "E402"


def test_lockstep_pairs_each_window_with_both_models_scores_in_order(
    adapter: ModelAdapterCase, runner: LoadedModel, scored: Callable[[int], int]
) -> None:
    windows = windows_for(runner)
    other = adapter.make(None)
    other.scale_weights({other.variance_taps()[0]: 1.5})
    finished: list[int] = []
    pairs = list(runner.score_pair(other, windows, finished.append))

    assert [p.window_id for p in pairs] == [w.window_id for w in windows]
    mine, theirs = [p.baseline for p in pairs], [p.subject for p in pairs]
    assert all(isinstance(s, WindowScore) for s in mine + theirs)
    assert all(nll_close(a, b) for a, b in zip(runner.score(windows), mine, strict=True))  # type: ignore[arg-type]
    assert all(nll_close(a, b) for a, b in zip(other.score(windows), theirs, strict=True))  # type: ignore[arg-type]
    assert all(a.nll_sum != b.nll_sum for a, b in zip(mine, theirs, strict=True))  # type: ignore[union-attr]
    assert sum(finished) == len(windows)


def test_lockstep_comparisons_name_their_window_and_cover_its_scored_positions(
    adapter: ModelAdapterCase, runner: LoadedModel
) -> None:
    windows = windows_for(runner)
    other = adapter.make(None)
    other.scale_weights({other.variance_taps()[0]: 1.5})
    positions = adapter.scored_tokens or (lambda n: n)  # an encoder's measures cover every token of the window
    for pair, window in zip(runner.score_pair(other, windows), windows, strict=True):
        if pair.comparison is not None:
            assert pair.comparison.window_id == window.window_id
            assert pair.comparison.positions == positions(len(window.tokens))


def test_a_kept_reference_pairs_as_the_baseline_held_bit_for_bit(
    adapter: ModelAdapterCase, runner: LoadedModel, scored: Callable[[int], int]
) -> None:
    """KeptReference (eval.sequential with KL): the model released, its pairs with a subject are the held model's
    `score_pair`'s, every bit (both models' scores included); a window it did not keep is E605; no room for what it
    would keep is E608 before it keeps anything."""
    baseline = adapter.make(None)
    if not isinstance(baseline, ReferenceKeeping):
        pytest.skip("not applicable: the adapter cannot keep its side of lockstep (sequential KL refused, E104)")
    windows, other = windows_for(runner), adapter.make(None)
    other.scale_weights({other.variance_taps()[0]: 1.5})
    held = list(baseline.score_pair(other, windows))
    reference = baseline.kept_reference()
    finished: list[int] = []
    try:
        with pytest.raises(UsageError) as refused:
            reference.check_room(10**15)  # no disk holds a reference of 10^15 tokens
        assert refused.value.code == "E608"
        reference.check_room(sum(len(w.tokens) for w in windows[:4]))
        reference.keep(windows[:4], finished.append)
        assert sum(finished) == 4 and reference.batch_size == baseline.batch_size
        reference.release_model()
        del baseline
        assert list(reference.score_pair(other, windows[:4])) == held[:4]
        assert list(reference.score_pair(other, windows[2:4])) == held[2:4], "any kept windows, any batch"
        with pytest.raises(IntegrityError) as caught:
            list(reference.score_pair(other, windows[4:]))
        assert caught.value.code == "E605"
    finally:
        reference.close()


def test_lockstep_refuses_a_runner_of_another_adapter_with_e104(runner: LoadedModel) -> None:
    class ForeignRunner:
        """Some other adapter's runner."""

    with pytest.raises(UsageError) as caught:
        list(runner.score_pair(ForeignRunner(), windows_for(runner)))  # type: ignore[arg-type]
    assert caught.value.code == "E104"


def test_activation_taps_score_like_score_and_sum_every_tapped_output(
    runner: LoadedModel, scored: Callable[[int], int]
) -> None:
    windows, taps = windows_for(runner), runner.variance_taps()[:2]
    stats, scores = runner.activation_stats(windows, taps)

    assert all(nll_close(a, b) for a, b in zip(runner.score(windows), scores, strict=True))
    assert sorted(stats) == sorted(taps)
    for s in stats.values():
        assert s.count > 0 and math.isfinite(s.sum) and math.isfinite(s.sum_sq)
        assert s.sum_sq * s.count >= s.sum**2 * (1 - 1e-9)  # Cauchy-Schwarz: a variance is never negative


def test_taps_without_scores_where_a_runner_offers_them_equal_the_scored_taps_bit_for_bit(runner: LoadedModel) -> None:
    if not isinstance(runner, TapsOnlyRunner):
        pytest.skip("not applicable: the adapter taps only while scoring (callers fall back to activation_stats)")
    windows, taps = windows_for(runner), runner.variance_taps()[:2]
    assert runner.activation_taps(windows, taps) == runner.activation_stats(windows, taps)[0]


def test_a_runner_without_token_likelihood_refuses_scores_and_taps_and_pairs_only_measures(
    adapter: ModelAdapterCase, runner: LoadedModel
) -> None:
    if adapter.scored_tokens is not None:
        pytest.skip("not applicable: the adapter scores token NLL")
    windows = windows_for(runner)
    for call in (lambda: list(runner.score(windows)), lambda: runner.activation_stats(windows, runner.variance_taps())):
        with pytest.raises(UsageError) as caught:
            call()
        assert caught.value.code == "E104"
    other = adapter.make(None)
    other.scale_weights({other.variance_taps()[0]: 1.5})
    pairs = list(runner.score_pair(other, windows))
    assert [p.window_id for p in pairs] == [w.window_id for w in windows]
    assert all(p.baseline is None and p.subject is None and p.comparison is not None for p in pairs)
