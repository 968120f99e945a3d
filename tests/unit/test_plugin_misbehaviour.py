"""Misbehaving third-party code (adapters, tokenizers, corpora, edits) on the recorded-state fakes: each is
refused with one InvarLock error naming what broke its port's contract, the run records its failure after
events its replay accepts, and no certificate is issued from numbers the plugin had no right to give."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.certification.recorder import RunRecorder
from invarlock.application.config import EditConfig, GuardsConfig, ModelConfig
from invarlock.domain import events as ev
from invarlock.domain.errors import IntegrityError, InvarlockError, UsageError
from invarlock.domain.metrics import METRICS
from invarlock.domain.metrics.ppl_causal import PplCausal
from invarlock.domain.model import EditOutcome, PairedScore, WindowScore
from invarlock.domain.run import replay

from tests.fakes.models import FakeModel, FakeScaleEdit, FakeTokenizer, words
from tests.unit.conftest import small_config

PLUGIN = {"plugin.adapters.auto": "badplug 1.0"}  # the run's adapter (`auto`) as a plugin's entry


def _request(subject: str) -> CertifyRequest:
    return CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id=subject), tier="balanced", profile="dev"
    )


def _events(store: InMemoryEventStore, run_id: str) -> list[ev.Event]:
    return [ev.decode_event(r.type, r.version, r.payload) for r in store.read(run_id)]


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
}


@pytest.mark.parametrize("case", MISBEHAVIOURS)
def test_scores_a_model_had_no_right_to_give_fail_the_run_naming_its_plugin(case: str, services, store, loader) -> None:
    """Each used to be recorded (a certificate verify then voided, or a PASS from negated NLLs), or to end in
    E999 (a KeyError, a TypeError from the event codec) leaving the run incomplete."""
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


RAISING = """
from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words


class Raising(FakeModel):
    def score_pair(self, other, windows, progress=None):
        raise RuntimeError("CUDA out of cheese")


def loader():
    return FakeLoader(models={"base": Raising(ref="base"), "subject": Raising(ref="subject", quality=1.002)})


def corpora():
    return FakeCorpora(words(120))


def boom():
    raise KeyError("device")


def nothing():
    return object()


class OddGuard:
    name = "odd_guard"
    settings = ("limit",)
    measured = None  # what measure returns (None: one finite value per matrix)
    decided = None  # what decide returns (None: no matrix fails)

    def measure(self, baseline, subject):
        return self.measured if self.measured is not None else {m.name: {"peak": 1.0} for m in subject.matrices()}

    def decide(self, measurements, settings):
        return self.decided if self.decided is not None else {}
"""


@pytest.fixture
def raising_plugin(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from invarlock.cli import registry as registry_module
    from invarlock.cli.registry import Registry

    site = tmp_path / "site"
    info = site / "raising-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "raising_plugin.py").write_text(RAISING, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: raising\nVersion: 1.0\n", encoding="utf-8")
    points = "[invarlock.adapters]\nfake = raising_plugin:loader\n[invarlock.datasets]\nfake = raising_plugin:corpora\n"
    points += "[invarlock.edits]\nboom = raising_plugin:boom\nnothing = raising_plugin:nothing\n"
    points += "[invarlock.guards]\nodd_guard = raising_plugin:OddGuard\n"
    (info / "entry_points.txt").write_text(points, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(registry_module, "_REGISTRY", Registry.discover())


CONFIG = {
    "model": {"adapter": "fake"},
    "dataset": {"provider": "fake", "seq_len": 32, "preview_n": 8, "final_n": 12, "seed": 7},
    "profile": "dev",
}


@pytest.mark.usefixtures("raising_plugin")
def test_a_plugin_that_raises_is_named_and_the_run_records_its_failure(tmp_path) -> None:
    """A plugin's RuntimeError in score_pair ended in E999 ('unexpected ...; report it', blaming InvarLock) and
    left the run incomplete; it is E224 naming the plugin, its distribution and where it raised, recorded."""
    import invarlock
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    events = tmp_path / "ev.duckdb"
    with pytest.raises(invarlock.UsageError) as refused:
        invarlock.certify("base", "subject", config=CONFIG, events=events, cert_out=tmp_path / "out")
    assert refused.value.code == "E224" and refused.value.exit_code == 2
    assert refused.value.message == (
        "plugin raising 1.0 (adapter 'fake', dataset 'fake') raised RuntimeError: CUDA out of cheese "
        "(in raising_plugin.Raising.score_pair)"
    )
    assert refused.value.hint.startswith("fix or uninstall raising")
    store = DuckDBEventStore(events, read_only=True)
    [run_id] = store.run_ids()
    state = replay(_events(store, run_id))  # type: ignore[arg-type]
    assert state.failed is not None and state.failed.code == "E224" and not (tmp_path / "out").exists()


@pytest.mark.usefixtures("raising_plugin")
def test_a_plugin_raising_before_the_run_starts_is_one_e224_line_not_e999(tmp_path) -> None:
    """An edit factory raising KeyError while the request is checked (nothing is recorded yet) reaches the CLI's
    error mapping as it is: the line names the plugin instead of 'unexpected KeyError; report it'."""
    import invarlock
    from invarlock.cli.main import _failure

    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": "boom", "plan": {}}}
    with pytest.raises(KeyError) as raised:
        invarlock.certify(config=config, events=tmp_path / "ev.duckdb")
    failure = _failure(raised.value)
    assert (failure.exit_code, failure.code) == (2, "E224")
    assert failure.message.endswith("raised KeyError: 'device' (in raising_plugin.boom)")
    assert _failure(KeyError("ours")).code == "E999", "an exception no plugin raised stays unexpected"


@dataclasses.dataclass
class _OddEdit(FakeScaleEdit):
    """FakeScaleEdit whose outcome is bent by `bend` before it is returned."""

    bend: Callable[[EditOutcome], object] = lambda outcome: outcome

    def apply(self, model, plan):  # type: ignore[no-untyped-def]
        return self.bend(super().apply(model, plan))


def _deltas(**changes: object) -> Callable[[EditOutcome], object]:
    return lambda o: msgspec.structs.replace(o, deltas=msgspec.structs.replace(o.deltas, **changes))


ODD_EDITS = {
    "None": (lambda o: None, "returned NoneType, not an EditOutcome"),
    "a dict": (msgspec.structs.asdict, "returned dict, not an EditOutcome"),
    "another edit's outcome": (lambda o: msgspec.structs.replace(o, name="other"), "the outcome of the edit 'other'"),
    "another plan": (lambda o: msgspec.structs.replace(o, plan={"factor": 2.0}), "whose 'factor' is not"),
    "a digest of nothing": (lambda o: msgspec.structs.replace(o, plan_digest="0" * 64), "plan_digest"),
    "a negative count": (_deltas(params_changed=-3), "negative count params_changed = -3"),
    "a string count": (_deltas(layers_modified="1"), "Expected `int`, got `str`"),
}


@pytest.mark.parametrize("case", ODD_EDITS)
def test_an_edit_outcome_verify_would_refuse_is_refused_before_it_is_recorded(case: str, services, store) -> None:
    """None or a dict was recorded as the edit_applied event (which no replay decodes) and the run ended in
    E999; another name, plan, digest or a negative count gave a certificate that verify voided (exit 3)."""
    bend, words = ODD_EDITS[case]
    edits = {**services.edits, "odd": _OddEdit(name="odd", bend=bend)}
    environment = {"python": "test", "plugin.edits.odd": "oddedits 2.0"}
    svc = dataclasses.replace(services, edits=edits, environment=lambda: environment)
    request = CertifyRequest("run", small_config(EditConfig(name="odd", plan={"factor": 1.5})), None, "balanced", "dev")
    with pytest.raises(UsageError) as refused:
        certify_edit(request, svc)
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("edit plugin 'odd' (oddedits 2.0): its apply() returned")
    [run_id] = store.run_ids()
    state = replay(_events(store, run_id))
    assert state.failed is not None and state.failed.code == "E223" and state.edit is None


def test_an_edit_outcome_of_numpy_counts_is_recorded_as_their_numbers(services, store) -> None:
    from invarlock.application.verification.verify import verify_certificate

    numpy_counts = _deltas(params_changed=np.int64(16), layers_modified=np.int32(1))
    svc = dataclasses.replace(services, edits={**services.edits, "odd": _OddEdit(name="odd", bend=numpy_counts)})
    request = CertifyRequest("run", small_config(EditConfig(name="odd", plan={"factor": 1.5})), None, "balanced", "dev")
    cert = certify_edit(request, svc).certificate
    assert cert.edit.deltas is not None and cert.edit.deltas.params_changed == 16
    assert verify_certificate(cert).ok


@pytest.mark.usefixtures("raising_plugin")
def test_an_edit_entry_whose_factory_returns_no_edit_is_e223() -> None:
    from invarlock.cli.registry import registry
    from invarlock.cli.routing import RegistryEdits

    with pytest.raises(UsageError) as refused:
        RegistryEdits(registry())["nothing"]
    assert refused.value.code == "E223"
    assert refused.value.message == "edit plugin 'nothing' (raising 1.0): its Edit (object) lacks apply"


@pytest.mark.usefixtures("raising_plugin")
def test_the_registry_hands_out_a_plugins_tokenizer_and_corpus_checked() -> None:
    from invarlock.cli.plugin_inputs import CheckedSource, CheckedTokenizer
    from invarlock.cli.registry import registry
    from invarlock.cli.routing import RegistryModelLoader
    from invarlock.cli.routing_corpus import RegistryCorpusResolver

    tokenizer = RegistryModelLoader(registry()).tokenizer("base", adapter="fake")
    source = RegistryCorpusResolver(registry()).open("fake")
    assert isinstance(tokenizer, CheckedTokenizer) and isinstance(source, CheckedSource)
    assert tokenizer.encode("w1 w2") == FakeTokenizer().encode("w1 w2") and list(source.texts()) == words(120)
    assert not isinstance(RegistryCorpusResolver(registry()).open("demo:wikipedia"), CheckedSource)


ODD_GUARDS = {
    "a list": ({"measured": [1.0]}, "E223", "its measure() returned list, not {matrix name: {value name: number}}"),
    "None for a value": ({"measured": {"w": {"peak": None}}}, "E223", "returned w.peak = None"),
    "a string for a value": ({"measured": {"w": {"peak": "1.5"}}}, "E223", "returned w.peak = '1.5'"),
    "a bool for a value": ({"measured": {"w": {"peak": True}}}, "E223", "returned w.peak = True"),
    "no value for a matrix": ({"measured": {"w": {}}}, "E402", "measured no value for w"),
    "a list for a decision": ({"decided": ["w"]}, "E223", "decided list, not {matrix name: reason}"),
    "a reason that is no string": ({"decided": {"w": 5}}, "E223", "failed matrix 'w' with a reason that is no string"),
}


@pytest.mark.usefixtures("raising_plugin")
@pytest.mark.parametrize("case", ODD_GUARDS)
def test_a_plugin_guard_answering_outside_its_port_fails_the_run_naming_it(case, tmp_path, monkeypatch) -> None:
    """A list, None or a matrix of no value from measure, or a decision that is no mapping, ended in E999 (an
    AttributeError or TypeError in InvarLock's code) with the run left incomplete; a string or a bool was
    recorded as a number; a matrix measured with no value passed whatever the plugin decided; a decision's
    non-string reason was E604 'failed an unmeasured matrix' (exit 3, as for an altered event stream)."""
    import invarlock
    import raising_plugin  # type: ignore[import-not-found]
    from invarlock.adapters.duckdb_store import DuckDBEventStore

    answers, code, words = ODD_GUARDS[case]
    for attribute, value in answers.items():
        monkeypatch.setattr(raising_plugin.OddGuard, attribute, value)
    guards = {"order": ["invariants", "odd_guard", "invariants"], "odd_guard": {"limit": 5.0}}
    events = tmp_path / "ev.duckdb"
    with pytest.raises(InvarlockError) as refused:
        invarlock.certify("base", "subject", config={**CONFIG, "guards": guards}, events=events)
    assert refused.value.code == code and words in refused.value.message
    if code == "E223":
        assert refused.value.message.startswith("guard plugin 'odd_guard' (raising 1.0): ")
    store = DuckDBEventStore(events, read_only=True)
    [run_id] = store.run_ids()
    state = replay(_events(store, run_id))  # type: ignore[arg-type]
    assert state.failed is not None and state.failed.code == code


@pytest.mark.parametrize(
    ("decided", "words"),
    [(None, "decided NoneType"), (["w"], "decided list"), ({"w": 5}, "a reason that is no string (5)")],
)
def test_verify_refuses_a_plugin_decision_that_is_no_mapping_of_reasons(decided: object, words: str) -> None:
    """verify re-decides recorded measurements with the installed plugin: a decision it cannot read is E604
    (the stated verdict cannot be re-derived), where None or a list ended in an unexpected TypeError."""
    from invarlock.domain.guards.plugin import decide
    from invarlock.domain.guards.plugin_records import PluginGuardSettings, PluginMatrix, PluginMeasurements

    class Guard:
        name, settings = "odd_guard", ("limit",)

        def decide(self, measurements: object, settings: object) -> object:
            return decided

    measured = PluginMeasurements(matrices=[PluginMatrix(name="w", values={"peak": 1.0})])
    with pytest.raises(IntegrityError) as refused:
        decide(Guard(), measured, PluginGuardSettings(mode="gate", settings={"limit": 5.0}))  # type: ignore[arg-type]
    assert refused.value.code == "E604" and words in refused.value.message
    empty = PluginMeasurements(matrices=[PluginMatrix(name="w", values={})])
    with pytest.raises(IntegrityError, match="w \\(no value\\) is not finite"):
        decide(Guard(), empty, PluginGuardSettings(mode="gate", settings={"limit": 5.0}))  # type: ignore[arg-type]


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


def _identity_bent(bend: Callable[[Any], object]) -> type[FakeModel]:
    class Bent(FakeModel):
        def identity(self) -> Any:
            return bend(super().identity())

    return Bent


ODD_IDENTITIES = {
    "None": (lambda i: None, "identity() returned NoneType, not a ModelIdentity"),
    "a dict": (msgspec.structs.asdict, "identity() returned dict, not a ModelIdentity"),
    "a digest that is none": (
        lambda i: msgspec.structs.replace(i, weights_sha256="xyz"),
        "weights_sha256 = 'xyz', not a sha256",
    ),
    "no parameters": (lambda i: msgspec.structs.replace(i, param_count=-1), "param_count = -1"),
    "a string count": (lambda i: msgspec.structs.replace(i, param_count="16"), "Expected `int`, got `str`"),
}


@pytest.mark.parametrize("case", ODD_IDENTITIES)
def test_a_model_identity_that_is_no_fingerprint_is_refused_before_it_is_recorded(case, services, store, loader):
    """None or a dict ended in E999 with the run incomplete; a digest that is no sha256 was certified and verified
    (verify trusts the digests); a negative parameter count gave a PASS certificate verify voided."""
    bend, words = ODD_IDENTITIES[case]
    loader.models["odd"] = _identity_bent(bend)(ref="odd", quality=1.002)
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    with pytest.raises(UsageError) as refused:
        certify_edit(_request("odd"), svc)
    assert refused.value.code == "E223" and words in refused.value.message
    assert refused.value.message.startswith("adapter plugin 'auto' (badplug 1.0): its model's identity() returned")
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223" and "subject" not in state.models


def test_a_model_identity_of_numpy_numbers_is_recorded_as_their_numbers(services, loader) -> None:
    numpy_count = _identity_bent(lambda i: msgspec.structs.replace(i, param_count=np.int64(16)))
    loader.models["numpy"] = numpy_count(ref="numpy", quality=1.002)
    cert = certify_edit(_request("numpy"), services).certificate
    assert type(cert.subject.param_count) is int and cert.subject.param_count == 16


def _weights_bent(**methods: Callable[..., object]) -> type[FakeModel]:
    return type("Bent", (FakeModel,), methods)


def _matrices(bend: Callable[[Any], object]) -> Callable[[FakeModel], Iterator[object]]:
    return lambda self: iter([bend(m) for m in FakeModel.matrices(self)])


ODD_WEIGHTS = {
    "None for a matrix": ({"matrices": _matrices(lambda m: None)}, "E223", "matrices() yielded NoneType"),
    "a 1-D array": (
        {"matrices": _matrices(lambda m: dataclasses.replace(m, array=m.array[0]))},
        "E223",
        "matrices() yielded w as ndarray (4,) of float32",
    ),
    "an object array": (
        {"matrices": _matrices(lambda m: dataclasses.replace(m, array=m.array.astype(object)))},
        "E223",
        "(4, 4) of object",
    ),
    "an unknown family": (
        {"matrices": _matrices(lambda m: dataclasses.replace(m, family="banana"))},
        "E223",
        "yielded w of family 'banana'",
    ),
    "NaN weights its census does not state": (
        {"matrices": _matrices(lambda m: dataclasses.replace(m, array=m.array * np.nan))},
        "E402",
        "non-finite weights in w (baseline)",
    ),
    "no census": ({"census": lambda self: None}, "E223", "census() returned NoneType"),
    "no unmapped mapping": ({"unmapped": lambda self: None}, "E223", "unmapped() returned None"),
    "no taps": (
        {"variance_taps": lambda self: None, "_scale_penalty": lambda self: 0.0},
        "E223",
        "taps() returned None",
    ),
}


@pytest.mark.parametrize("case", ODD_WEIGHTS)
def test_weights_a_model_hands_the_guards_outside_its_port_fail_the_run(case, services, store, loader) -> None:
    """Each ended in E999 (AttributeError, IndexError, ValueError 'unknown weight family', LinAlgError, a
    TypeError) with the run left incomplete; an object array was measured as if it were floats."""
    methods, code, words = ODD_WEIGHTS[case]
    bent = _weights_bent(**methods)
    loader.models["base"], loader.models["int8ish"] = bent(ref="base"), bent(ref="int8ish", quality=1.002)
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    with pytest.raises(InvarlockError) as refused:
        certify_edit(_request("int8ish"), svc)
    assert refused.value.code == code and words in refused.value.message
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == code and state.issued is None


def _stats_bent(bend: Callable[[tuple[dict, list]], object]) -> type[FakeModel]:
    class Bent(FakeModel):
        def activation_stats(self, windows, weights, progress=None):  # type: ignore[no-untyped-def]
            return bend(super().activation_stats(windows, weights, progress))

    return Bent


ODD_STATS = {
    "None": (lambda found: None, "activation_stats() returned NoneType"),
    "no statistics of a tap": (lambda found: ({}, found[1]), "returned no ActivationStats for ffn.0.down"),
    "one score short": (lambda found: (found[0], found[1][:-1]), "activation_stats() yielded 7 scores for 8 windows"),
    "negated scores": (
        lambda found: (found[0], [msgspec.structs.replace(s, nll_sum=-s.nll_sum) for s in found[1]]),
        "activation_stats() scored a negative NLL sum",
    ),
}


@pytest.mark.parametrize("case", ODD_STATS)
def test_activation_statistics_outside_their_port_fail_the_variance_guard(case, services, store, loader) -> None:
    """None or a missing tap ended in E999 (a TypeError, a KeyError); the A/B pass's scores, which decide
    whether the variance guard repairs the subject, were recorded unchecked."""
    bend, words = ODD_STATS[case]
    weights = {n: np.ones((4, 4), np.float32) for n in ("attn.0", "ffn.0.down", "ffn.1.down")}
    changed = {**weights, "ffn.0.down": weights["ffn.0.down"] * np.float32(1.05)}
    bent = _stats_bent(bend)
    loader.models["base"], loader.models["odd"] = bent(ref="base", weights=weights), bent(ref="odd", weights=changed)
    svc = dataclasses.replace(services, environment=lambda: {"python": "test", **PLUGIN})
    cfg = msgspec.structs.replace(small_config(), guards=GuardsConfig(order=["invariants", "variance", "invariants"]))
    request = CertifyRequest("certify", cfg, ModelConfig(id="odd"), tier="balanced", profile="dev")
    with pytest.raises(UsageError) as refused:
        certify_edit(request, svc)
    assert refused.value.code == "E223" and words in refused.value.message
    state = replay(_events(store, store.run_ids()[0]))
    assert state.failed is not None and state.failed.code == "E223"


def test_a_plugin_module_calling_sys_exit_on_import_is_e220_and_listed(tmp_path, monkeypatch) -> None:
    """SystemExit is no Exception: a module calling sys.exit(3) while imported ended `invarlock plugins` (and any
    run using the entry) silently with exit 3 and no output."""
    from invarlock.cli.registry import Registry

    info = tmp_path / "exiter-1.0.dist-info"
    info.mkdir()
    (tmp_path / "exiter_plugin.py").write_text("import sys\nsys.exit(3)\n", encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: exiter\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[invarlock.edits]\nexiter = exiter_plugin:Edit\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry.discover()
    with pytest.raises(UsageError) as refused:
        registry.load("edits", "exiter")
    assert refused.value.code == "E220"
    assert refused.value.message == "edit plugin 'exiter' (exiter 1.0) failed to load: SystemExit: 3"
    [status] = [s for s in Registry.discover().status(["edits"]) if s.entry.name == "exiter"]
    assert status.error == "SystemExit: 3"


@pytest.mark.parametrize("case", ["fewer rows", "a window it was not given", "None for a row"])
def test_the_re_execution_audit_checks_the_scores_it_compares(case: str, services, loader) -> None:
    """The audit (verify --baseline/--subject) re-scores with the adapter's models: a row missing, unknown or
    None there ended in E999 (a KeyError, an AttributeError); it is refused as certify refuses it."""
    from invarlock.application.verification.reexecute import reexecute_certificate
    from invarlock.application.verification.reexecute_request import ReexecutionDeps, ReexecutionRequest

    cert = certify_edit(_request("int8ish"), services).certificate
    model, code, words = MISBEHAVIOURS[case]
    loader.models["base"] = model(ref="base")
    deps = ReexecutionDeps(
        edits=services.edits,
        loader=loader,
        corpora=services.corpora,
        environment=lambda: {"python": "test"},
        clock=lambda: "2026-02-01T00:00:00.000000Z",
        new_stream_id=lambda: "audit-1",
        tool_version="0.0.test",
        store=None,
    )
    request = ReexecutionRequest(baseline="base", subject="int8ish", sample=None, sample_seed=11)
    with pytest.raises(UsageError) as refused:
        reexecute_certificate(cert, request, deps)
    assert refused.value.code == code and words in refused.value.message
    assert refused.value.message.startswith("adapter 'auto': its model's score_pair()")


@pytest.mark.usefixtures("raising_plugin")
def test_the_doctor_reports_a_plugin_that_raises_as_its_check_finding_and_goes_on(tmp_path) -> None:
    """The doctor stopped at the first plugin that raised (E999 before E224, then one E224 line); it reports it
    as the failing check's D224 finding, says the run would stop with E224, and runs the checks that remain."""
    from tests.fakes.cli import run_cli

    config = {**CONFIG, "model": {"adapter": "fake", "id": "base"}, "edit": {"name": "boom", "plan": {}}}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    code, out, _ = run_cli("doctor", "-c", path, "--events", tmp_path / "ev.duckdb", "--json")
    report = json.loads(out)
    [finding] = [f for f in report["findings"] if f["code"] == "D224"]
    assert code == 2 and "raised KeyError: 'device' (in raising_plugin.boom)" in finding["message"]
    assert any(f["check"] == "windows" and f["severity"] != "error" for f in report["findings"])


@pytest.mark.usefixtures("raising_plugin")
@pytest.mark.parametrize("context", ["16", -1, True])
def test_a_plugin_context_length_that_is_no_count_of_positions_is_e223(context: object) -> None:
    """A string ended in E999 (TypeError comparing it with seq_len); -1 told the user to 'set dataset.seq_len to
    -1 or less' (E201)."""
    from invarlock.cli.registry import registry
    from invarlock.cli.routing import RegistryModelLoader

    loader = RegistryModelLoader(registry())
    loader._loader("fake").contexts["base"] = context  # type: ignore[attr-defined]
    with pytest.raises(UsageError) as refused:
        loader.context_length("base", adapter="fake")
    assert refused.value.code == "E223"
    assert (
        refused.value.message
        == f"adapter plugin 'fake' (raising 1.0): its ModelLoader's context_length() returned {context!r}"
    )
    loader._loader("fake").contexts["base"] = 512  # type: ignore[attr-defined]
    assert loader.context_length("base", adapter="fake") == 512
