"""Scores a third-party model had no right to give (rows missing, twice or unknown, a negative or string NLL,
a token count of another kind, NaN) fail the run with one InvarLock error naming its plugin, in certify and in the
re-execution audit; numpy scalars are the numbers they hold; an event the run cannot take is never stored."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.certification.recorder import RunRecorder
from invarlock.application.config import ModelConfig
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, InvarlockError, UsageError
from invarlock.domain.model import PairedScore, WindowComparison, WindowScore
from invarlock.domain.run import replay

from tests.fakes.models import FakeModel
from tests.fakes.plugin_dist import PLUGIN
from tests.fakes.plugin_dist import certify_request as _request
from tests.fakes.plugin_dist import stored_events as _events
from tests.fakes.reexecution import audit_deps
from tests.unit.conftest import small_config


def test_an_event_the_run_cannot_take_is_refused_before_it_is_stored(services, store) -> None:
    """A batch scoring a window twice used to be appended before the state refused it: the store then held a
    stream its replay rejects, and recording the failure met a sequence conflict (E503, 'another writer')."""
    run_id = certify_edit(_request("same"), services).run_id
    events = _events(store, run_id)
    cut = next(i for i, e in enumerate(events) if isinstance(e, ev.WindowsScored)) + 1
    fresh = InMemoryEventStore()
    recorder = RunRecorder(fresh, fresh.append(run_id, 0, events[:cut]))
    with pytest.raises(IntegrityError) as twice:
        recorder.record(events[cut - 1])  # the same windows scored again
    assert twice.value.code == "E604" and len(fresh.read(run_id)) == cut
    recorder.record_failure("2026-01-01T00:01:00.000000Z", twice.value.code, twice.value.message)
    state = replay(_events(fresh, run_id))
    assert state.failed is not None and state.failed.code == "E604"


def _pairs_bent(bend: Callable[[list[PairedScore]], list[PairedScore]]) -> type[FakeModel]:
    class Bent(FakeModel):
        def score_pair(self, other, windows, progress=None) -> Iterator[PairedScore]:  # type: ignore[no-untyped-def]
            return iter(bend(list(super().score_pair(other, windows, progress))))

    return Bent


def _each_score(bend: Callable[[WindowScore], object]) -> Callable[[list[PairedScore]], list[PairedScore]]:
    def bent(pairs: list[PairedScore]) -> list[PairedScore]:
        return [msgspec.structs.replace(p, baseline=bend(p.baseline), subject=bend(p.subject)) for p in pairs]

    return bent


def _score(**changes: object) -> Callable[[WindowScore], object]:
    return lambda s: msgspec.structs.replace(s, **changes)


def _each_comparison(bend: Callable[[Any], object]) -> Callable[[list[PairedScore]], list[PairedScore]]:
    return lambda pairs: [msgspec.structs.replace(p, comparison=bend(p.comparison)) for p in pairs]


MISBEHAVIOURS = {
    "fewer rows": (_pairs_bent(lambda ps: ps[:-1]), "E223", "7 scores for 8 windows"),
    "a row twice": (_pairs_bent(lambda ps: [*ps, ps[0]]), "E223", "twice"),
    "a window it was not given": (
        _pairs_bent(lambda ps: [msgspec.structs.replace(ps[0], window_id=10**6), *ps[1:]]),
        "E223",
        "not given",
    ),
    "None for a row": (_pairs_bent(lambda ps: [None, *ps[1:]]), "E223", "NoneType where a PairedScore"),  # type: ignore[list-item]
    "a negative NLL": (
        _pairs_bent(_each_score(lambda s: msgspec.structs.replace(s, nll_sum=-s.nll_sum))),
        "E223",
        "negative NLL",
    ),
    "a token count of another kind": (_pairs_bent(_each_score(_score(tokens_scored=30))), "E223", "scores seq_len"),
    "a fractional token count": (_pairs_bent(_each_score(_score(tokens_scored=31.0))), "E223", "Expected `int`"),
    "True as a token count": (_pairs_bent(_each_score(_score(tokens_scored=True))), "E223", "got `bool`"),
    "a string NLL": (_pairs_bent(_each_score(_score(nll_sum="80.0"))), "E223", "got `str`"),
    "NaN": (_pairs_bent(_each_score(_score(nll_sum=float("nan")))), "E402", "non-finite NLL"),
    "a KL histogram that counts no position": (
        _pairs_bent(_each_comparison(lambda m: msgspec.structs.replace(m, kl_histogram=(0,) * len(m.kl_histogram)))),
        "E223",
        "KL/top-1 measures of window 36 that contradict each other",
    ),
    "top-1 agreement on more positions than scored": (
        _pairs_bent(_each_comparison(lambda m: msgspec.structs.replace(m, top1_agree=m.positions + 1))),
        "E223",
        "contradict each other",
    ),
    "KL measures of some windows only": (
        _pairs_bent(lambda ps: [msgspec.structs.replace(ps[0], comparison=None), *ps[1:]]),
        "E223",
        "yielded KL/top-1 measures of window 51 but not of window 36",
    ),
}


@pytest.mark.parametrize("case", MISBEHAVIOURS)
def test_scores_a_model_had_no_right_to_give_fail_the_run_naming_its_plugin(case: str, services, store, loader) -> None:
    """Each used to be recorded (a certificate verify then voided, or a PASS from negated NLLs), or to end in
    E999 (a KeyError, a TypeError from the event codec) leaving the run incomplete. Contradicting KL/top-1
    measures were recorded, then E403 blamed the evidence ('re-issue the certificate'); measures missing from
    a preview window were certified."""
    model, code, words = MISBEHAVIOURS[case]
    loader.models["base"] = model(ref="base")  # the baseline's score_pair scores both models in lockstep
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    with pytest.raises(InvarlockError) as refused:
        certify_edit(_request("int8ish"), svc)
    assert refused.value.code == code and words in refused.value.message
    if code == "E223":
        assert refused.value.message.startswith("adapter plugin 'auto' (badplug 1.0): its model's score_pair()")
        assert refused.value.hint.startswith("fix or uninstall badplug")
    else:
        assert refused.value.hint == "check the model's weights, or the adapter plugin 'auto' (badplug 1.0)"
    [run_id] = store.run_ids()
    state = replay(_events(store, run_id))
    assert state.failed is not None and state.failed.code == code and state.issued is None


def _measured_on(calls: set[int]) -> type[FakeModel]:
    """A model whose score_pair gives the KL/top-1 measures on its `calls` (counted from 1) only."""

    class Bent(FakeModel):
        def score_pair(self, other, windows, progress=None) -> Iterator[PairedScore]:  # type: ignore[no-untyped-def]
            self.calls = getattr(self, "calls", 0) + 1
            pairs = list(super().score_pair(other, windows, progress))
            if self.calls in calls:
                return iter(pairs)
            bare = [WindowComparison(window_id=p.window_id, positions=p.comparison.positions) for p in pairs]
            return iter(msgspec.structs.replace(p, comparison=c) for p, c in zip(pairs, bare, strict=True))

    return Bent


ACROSS_BATCHES = {  # preview 8 windows, final 24: one batch of preview (call 1), two of final (calls 2 and 3)
    "measures on the final arm's first batch only": ({1, 2}, "not of window"),
    "measures on the final arm's second batch only": ({1, 3}, "but not of window"),
}


@pytest.mark.parametrize("case", ACROSS_BATCHES)
def test_kl_measures_of_some_batches_of_an_arm_only_fail_the_run_naming_its_plugin(case, services, store, loader):
    """Each batch's measures were checked alone: an arm measured in one batch and not in another was recorded,
    then build's E403 blamed the evidence ('re-issue the certificate')."""
    calls, words = ACROSS_BATCHES[case]
    loader.models["base"] = _measured_on(calls)(ref="base")
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    cfg = small_config()
    cfg = msgspec.structs.replace(cfg, dataset=msgspec.structs.replace(cfg.dataset, final_n=24))
    request = CertifyRequest("certify", cfg, ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    with pytest.raises(InvarlockError) as refused:
        certify_edit(request, svc)
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("adapter plugin 'auto' (badplug 1.0): its model's score_pair() yielded KL")
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223" and state.issued is None


def test_a_resumed_arm_is_measured_as_its_recorded_batches(services, store, loader) -> None:
    """Resume scores the windows a cut run lacks: a model without the measures the arm's recorded batches carry
    is refused as in one call (the run's first batches are in the store only)."""
    from invarlock.application.certification.certify import resume_run

    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    cfg = small_config()
    cfg = msgspec.structs.replace(cfg, dataset=msgspec.structs.replace(cfg.dataset, final_n=24))
    run_id = certify_edit(CertifyRequest("certify", cfg, ModelConfig(id="int8ish"), "balanced", "dev"), svc).run_id
    events = _events(store, run_id)
    compared = [i for i, e in enumerate(events) if isinstance(e, ev.WindowsCompared)]
    assert [events[i].arm for i in compared] == ["preview", "final", "final"]  # type: ignore[attr-defined]
    cut = InMemoryEventStore()
    cut.append(run_id, 0, events[: compared[1] + 1])
    loader.models["base"] = _measured_on(set())(ref="base")
    with pytest.raises(InvarlockError) as refused:
        resume_run(run_id, dataclasses.replace(svc, store=cut))
    assert refused.value.code == "E223" and "score_pair() yielded KL/top-1 measures of window" in refused.value.message


def test_an_arm_measured_in_every_batch_or_none_certifies(services, loader) -> None:
    """Batches of one arm alike (the preview measured, the final arm not) are no fault of the model's."""
    loader.models["base"] = _measured_on({1})(ref="base")
    cfg = small_config()
    cfg = msgspec.structs.replace(cfg, dataset=msgspec.structs.replace(cfg.dataset, final_n=24))
    request = CertifyRequest("certify", cfg, ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    assert certify_edit(request, services).certificate.secondary_metrics is None


def test_numpy_scalars_are_the_numbers_they_hold(services, loader) -> None:
    """A model yielding numpy scalars (np.int64 counts, np.float64 sums) certifies as one yielding Python
    numbers (it ended in E999: the event codec cannot encode numpy scalars)."""
    plain = certify_edit(_request("int8ish"), services).certificate
    numpy_scalars = _each_score(
        lambda s: msgspec.structs.replace(s, tokens_scored=np.int64(s.tokens_scored), nll_sum=np.float64(s.nll_sum))
    )
    loader.models["base"] = _pairs_bent(numpy_scalars)(ref="base")
    numpy = certify_edit(_request("int8ish"), services).certificate
    assert numpy.evidence == plain.evidence and numpy.verdict == plain.verdict


def test_a_subject_scored_alone_is_checked_as_in_lockstep(services, loader, tmp_path) -> None:
    """With the baseline's scores copied from an earlier run, the subject scores alone (ModelRunner.score):
    a row missing there is refused the same way."""
    from invarlock.adapters.duckdb_store import DuckDBEventStore
    from invarlock.application.config import SecondaryConfig

    class Fewer(FakeModel):
        def score(self, windows, progress=None) -> Iterator[WindowScore]:  # type: ignore[no-untyped-def]
            return iter(list(super().score(windows, progress))[:-1])

    store = DuckDBEventStore(tmp_path / "events.duckdb")
    svc = dataclasses.replace(services, store=store, index=store, environment=lambda: {"python": "t", **PLUGIN})
    cfg = small_config()
    cfg = msgspec.structs.replace(cfg, eval=msgspec.structs.replace(cfg.eval, secondary=SecondaryConfig(measure=False)))
    certify_edit(CertifyRequest("certify", cfg, ModelConfig(id="int8ish"), tier="balanced", profile="dev"), svc)
    loader.models["fewer"] = Fewer(ref="fewer", quality=1.002)
    with pytest.raises(InvarlockError) as refused:
        certify_edit(CertifyRequest("certify", cfg, ModelConfig(id="fewer"), tier="balanced", profile="dev"), svc)
    assert refused.value.code == "E223"
    assert "its model's score() yielded 7 scores for 8 windows" in refused.value.message


@pytest.mark.parametrize("case", ["fewer rows", "a window it was not given", "None for a row"])
def test_the_re_execution_audit_checks_the_scores_it_compares(case: str, services, loader) -> None:
    """The audit (verify --baseline/--subject) re-scores with the adapter's models: a row missing, unknown or
    None there ended in E999 (a KeyError, an AttributeError); it is refused as certify refuses it."""
    from invarlock.application.verification.reexecute import reexecute_certificate
    from invarlock.application.verification.reexecute_request import ReexecutionRequest

    cert = certify_edit(_request("int8ish"), services).certificate
    model, code, words = MISBEHAVIOURS[case]
    loader.models["base"] = model(ref="base")
    deps = audit_deps(loader, services.corpora, services.edits)
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=None, sample_seed=11)
    with pytest.raises(UsageError) as refused:
        reexecute_certificate(cert, request, deps)
    assert refused.value.code == code and words in refused.value.message
    assert refused.value.message.startswith("adapter 'auto': its model's score_pair()")
