"""A third-party metric kind that leaves its statistic ungated (no assessment, no primary gate, flags that are
no bools), or answers the guard overhead or its scored tokens outside its port, is refused naming the kind;
numpy numbers in its answers are their numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import METRICS
from invarlock.domain.metrics.ppl_causal import PplCausal
from invarlock.domain.run import replay

from tests.fakes.plugin_dist import stored_events as _events
from tests.unit.conftest import small_config
from tests.unit.test_guard_chain_use_case import _shrink


class _OddKind(PplCausal):
    """ppl_causal under another kind, whose assess and flags are bent by `bend_assessment` and `bend_flags`."""

    kind = "odd_kind"

    def __init__(self, bend_assessment: Callable[[Any], object], bend_flags: Callable[[dict], object]) -> None:
        self.bend_assessment, self.bend_flags = bend_assessment, bend_flags

    def assess(self, evidence, *, seed, plan_digest, policy):  # type: ignore[no-untyped-def]
        found = super().assess(evidence, seed=seed, plan_digest=plan_digest, policy=policy)
        primary = msgspec.structs.replace(found.primary, kind=self.kind)
        return self.bend_assessment(msgspec.structs.replace(found, primary=primary))

    def flags(self, pm, policy):  # type: ignore[no-untyped-def]
        return self.bend_flags(super().flags(pm, policy))


def _same(x: object) -> object:
    return x


def _primary(assessment: Any, **changes: object) -> object:
    return msgspec.structs.replace(assessment, primary=msgspec.structs.replace(assessment.primary, **changes))


def _kind_request() -> CertifyRequest:
    cfg = small_config()
    metric = msgspec.structs.replace(cfg.eval.metric, kind="odd_kind")
    cfg = msgspec.structs.replace(cfg, eval=msgspec.structs.replace(cfg.eval, metric=metric))
    return CertifyRequest("certify", cfg, ModelConfig(id="int8ish"), tier="balanced", profile="dev")


ODD_KINDS = {
    "no assessment": (lambda a: None, _same, "its assess() returned NoneType, not an Assessment"),
    "no flags at all": (_same, lambda f: {}, "decide no primary_metric_acceptable: a metric kind must gate"),
    "no primary gate": (
        _same,
        lambda f: {k: v for k, v in f.items() if k != "primary_metric_acceptable"},
        "decide no primary_metric_acceptable",
    ),
    "a primary gate that is not applicable": (
        _same,
        lambda f: {**f, "primary_metric_acceptable": ("not_applicable", "")},
        "decided primary_metric_acceptable = ('not_applicable', ''): a metric kind must gate its statistic",
    ),
    "arms of more windows than the evidence holds": (  # the regression hunt: 500 windows stated passed release on 4
        lambda a: _primary(a, preview=msgspec.structs.replace(a.primary.preview, windows=500)),
        _same,
        "assess() states 500 preview windows, where the evidence holds ",
    ),
    "an exact interval on too few windows": (
        lambda a: _primary(a, ci_approximate=not a.primary.ci_approximate),
        _same,
        "assess() states ci_approximate False, where the final arm's windows give True",
    ),
    "a flag that is a string": (_same, lambda f: {k: ("yes", r) for k, (_, r) in f.items()}, "= ('yes', "),
    "a flag that is None": (_same, lambda f: {k: (None, r) for k, (_, r) in f.items()}, "= (None, "),
}


@pytest.mark.parametrize("case", ODD_KINDS)
def test_a_metric_kind_that_leaves_its_statistic_ungated_is_refused(case, services, store, monkeypatch) -> None:
    """A kind whose flags omit primary_metric_acceptable certified PASS with no gate on its statistic, and verify
    (running the same code) agreed; flags of a string or None gave a PASS certificate verify called malformed
    (E601); assess returning None ended in E999."""
    bend_assessment, bend_flags, words = ODD_KINDS[case]
    monkeypatch.setitem(METRICS, "odd_kind", _OddKind(bend_assessment, bend_flags))
    with pytest.raises(UsageError) as refused:
        certify_edit(_kind_request(), services)
    assert refused.value.code == "E223" and refused.value.message.startswith("metric kind 'odd_kind': its ")
    assert words in refused.value.message
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223" and state.issued is None


def test_a_metric_kind_assessing_numpy_numbers_certifies_and_verifies(services, monkeypatch) -> None:
    """numpy scalars in a kind's assessment ended in E999 in certify (and in verify): they are their numbers."""
    from invarlock.application.verification.verify import verify_certificate

    def numpy_ratio(a: Any) -> object:
        ratio = np.float64(a.primary.ratio_vs_baseline)
        return msgspec.structs.replace(a, primary=msgspec.structs.replace(a.primary, ratio_vs_baseline=ratio))

    def numpy_flags(flags: dict) -> object:
        return {name: (np.bool_(ok) if type(ok) is bool else ok, why) for name, (ok, why) in flags.items()}

    monkeypatch.setitem(METRICS, "odd_kind", _OddKind(numpy_ratio, numpy_flags))
    cert = certify_edit(_kind_request(), services).certificate
    assert type(cert.primary_metric.ratio_vs_baseline) is float and cert.verdict.status == "PASS"
    assert verify_certificate(cert).ok


FLOORS = ("window_floor_met", "ci_not_approximate")


@pytest.mark.parametrize(
    "bend",
    [
        lambda f: {**f, **dict.fromkeys(FLOORS, ("not_applicable", ""))},
        lambda f: {k: f[k] for k in f if k not in FLOORS},
    ],
    ids=["not applicable", "left out"],
)
def test_a_metric_kind_cannot_answer_the_profiles_floors_away(bend, services, monkeypatch) -> None:
    """The plugins hunt: a kind answering the window floor and the exact interval `not_applicable` (or leaving them
    out) passed a recipient's release profile on a handful of windows, where ppl_causal fails both."""
    from invarlock.application.verification.verify import verify_certificate
    from invarlock.domain.policy import resolve_policy

    monkeypatch.setitem(METRICS, "odd_kind", _OddKind(_same, bend))
    cert = certify_edit(_kind_request(), services).certificate
    report = verify_certificate(cert, recipient=resolve_policy("balanced", "release"))
    [check] = [ch for ch in report.checks if ch.name == "recipient_policy"]
    assert not check.ok and all(flag in check.detail for flag in FLOORS), check.detail


class _OddOverhead(_OddKind):
    """_OddKind assessing and flagging as ppl_causal, whose guard overhead is bent by `bend_overhead`."""

    def __init__(self, bend_overhead: Callable[[Any], object]) -> None:
        super().__init__(_same, _same)
        self.bend_overhead = bend_overhead

    def overhead(self, final, bare_subject, repaired, limit):  # type: ignore[no-untyped-def]
        return self.bend_overhead(super().overhead(final, bare_subject, repaired, limit))


def _repairing_request() -> CertifyRequest:
    """A run whose variance guard repairs the subject (so its overhead is measured), gated by odd_kind."""
    request = _shrink()
    metric = msgspec.structs.replace(request.config.eval.metric, kind="odd_kind")
    config = msgspec.structs.replace(request.config, eval=msgspec.structs.replace(request.config.eval, metric=metric))
    return dataclasses.replace(request, config=config)


def _overhead(**changes: object) -> Callable[[Any], object]:
    return lambda o: msgspec.structs.replace(o, **changes)


ODD_OVERHEADS = {
    "None": (lambda o: None, "overhead() returned NoneType, not a GuardOverhead"),
    "a dict": (msgspec.structs.asdict, "overhead() returned dict, not a GuardOverhead"),
    "a string ratio": (_overhead(ratio="0.99"), "Expected `float`, got `str`"),
    "a NaN ratio": (_overhead(ratio=float("nan")), "overhead() returned ratio = nan, not a finite number"),
    "other repaired weights": (_overhead(repaired_weights=[]), "repaired_weights = [], not the ['ffn.2.down']"),
    "no bare NLLs": (_overhead(bare_subject_nll=[]), "bare_subject_nll = [], not the ["),
    "another limit": (_overhead(limit=9.0), "limit = 9.0, not the 1.01 it was given"),
}


@pytest.mark.parametrize("case", ODD_OVERHEADS)
def test_a_metric_kind_overhead_outside_its_port_is_refused(case, services, store, monkeypatch) -> None:
    """A kind's overhead() was recorded unchecked: None certified with the overhead gate not applicable though a
    guard repaired the subject (verify: 'repairs without overhead'), a dict or a string ratio ended in E999, a
    NaN ratio in an abort at sealing that named no kind, and other repaired weights, bare NLLs or limit gave a
    certificate verify voided."""
    bend, words = ODD_OVERHEADS[case]
    monkeypatch.setitem(METRICS, "odd_kind", _OddOverhead(bend))
    with pytest.raises(UsageError) as refused:
        certify_edit(_repairing_request(), services)
    assert refused.value.code == "E223" and refused.value.message.startswith("metric kind 'odd_kind': its ")
    assert words in refused.value.message
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223" and state.issued is None


def test_a_metric_kind_overhead_of_numpy_numbers_certifies_and_verifies(services, monkeypatch) -> None:
    from invarlock.application.verification.verify import verify_certificate

    numpy_ratio = _OddOverhead(lambda o: msgspec.structs.replace(o, ratio=np.float64(o.ratio)))
    monkeypatch.setitem(METRICS, "odd_kind", numpy_ratio)
    cert = certify_edit(_repairing_request(), services).certificate
    assert cert.guard_overhead is not None and type(cert.guard_overhead.ratio) is float
    assert verify_certificate(cert).ok


class _OddTokens(_OddKind):
    """_OddKind assessing and flagging as ppl_causal, whose scored_tokens answer is `answer`."""

    def __init__(self, answer: object) -> None:
        super().__init__(_same, _same)
        self.answer = answer

    def scored_tokens(self, seq_len):  # type: ignore[no-untyped-def]
        return self.answer


ODD_TOKENS = {
    "None": (None, "scored_tokens() returned None, not (a count of tokens >= 1, the rule in words)"),
    "a string count": (("31", "seq_len − 1"), "returned ('31', 'seq_len − 1'), not (a count"),
    "a fractional count": ((31.0, "seq_len − 1"), "returned (31.0, "),
    "no tokens": ((0, "none"), "returned (0, 'none')"),
    "no rule": ((31, None), "returned (31, None)"),
}


@pytest.mark.parametrize("case", ODD_TOKENS)
def test_a_metric_kind_scored_tokens_outside_its_port_is_blamed_on_the_kind(case, services, store, monkeypatch):
    """The kind's scored_tokens() answer was taken unchecked by the score checks: None ended in E999 (a TypeError
    unpacking it), a string count or 0 was blamed on the adapter ('scored 31 tokens ...'), and a fractional
    count or no rule passed."""
    answer, words = ODD_TOKENS[case]
    monkeypatch.setitem(METRICS, "odd_kind", _OddTokens(answer))
    with pytest.raises(UsageError) as refused:
        certify_edit(_kind_request(), services)
    assert refused.value.code == "E223" and refused.value.message.startswith("metric kind 'odd_kind': its ")
    assert words in refused.value.message
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223" and state.issued is None


@pytest.mark.parametrize("case", ODD_TOKENS)
def test_verify_fails_the_checks_a_metric_kind_scored_tokens_outside_its_port_decides(case, services, monkeypatch):
    """verify took the kind's scored_tokens() answer unchecked in its token-count check and in the variance
    guard's A/B check: None ended in E999 (a TypeError unpacking it), a string count or 0 failed the evidence
    ('31 ≠ 31 tokens'), a fractional count or no rule passed. Both checks fail naming the kind."""
    from invarlock.application.verification.verify import verify_certificate

    monkeypatch.setitem(METRICS, "odd_kind", _OddKind(_same, _same))
    cert = certify_edit(_repairing_request(), services).certificate
    assert cert.guards.variance is not None and cert.guards.variance.measurements.ab is not None
    assert verify_certificate(cert).ok
    answer, words = ODD_TOKENS[case]
    monkeypatch.setitem(METRICS, "odd_kind", _OddTokens(answer))
    report = verify_certificate(cert)
    failed = {ch.name: ch.detail for ch in report.checks if not ch.ok}
    assert failed.keys() == {"tokens_scored", "guard:variance"}
    for detail in failed.values():
        assert "metric kind 'odd_kind': its scored_tokens() returned" in detail and words in detail


def test_a_metric_kind_counting_scored_tokens_in_numpy_certifies(services, monkeypatch) -> None:
    monkeypatch.setitem(METRICS, "odd_kind", _OddTokens((np.int64(31), "seq_len − 1")))
    assert certify_edit(_kind_request(), services).certificate.verdict.status == "PASS"
