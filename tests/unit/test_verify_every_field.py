"""Every field of a certificate is either checked by plain verify or declared as taken on trust or as stated
(application/verification/verify_proves.py, printed by verify): a forger edits each field in turn, reseals the
certificate with the project's own functions, and a forgery that verifies (exit 0 or 1: a verdict, no failed
check) must be in a field verify's output names. It does so for every kind of certificate the fakes issue
(ISSUERS): each metric kind, a rollback, gated secondary metrics, a variance repair and a plugin guard."""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import (
    DatasetConfig,
    EditConfig,
    EvalConfig,
    GuardsConfig,
    MetricConfig,
    ModelConfig,
    RunConfig,
    SecondaryConfig,
)
from invarlock.application.verification.verify import verify_certificate
from invarlock.application.verification.verify_proves import not_recomputed_fields
from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError
from invarlock.domain.guards import plugin
from invarlock.ports.model import WeightSource

from tests.fakes.corpora import FakeCorpora, labelled_words, words
from tests.fakes.encoders import FakeEncoder
from tests.fakes.models import FakeModel
from tests.unit.conftest import small_config

Doc = dict[str, Any]


def _issue(services: Any, config: RunConfig, subject: str | None, command: str = "certify") -> Doc:
    model = None if subject is None else ModelConfig(id=subject)
    request = CertifyRequest(command, config, model, tier="balanced", profile="dev")
    return dict(json.loads(c.to_bytes(certify_edit(request, services).certificate)))


def _perplexity(subject: str) -> Callable[[Any, Any], Doc]:
    return lambda services, loader: _issue(services, small_config(), subject)


def _gated_secondary(services: Any, loader: Any) -> Doc:
    gated = msgspec.structs.replace(small_config(), eval=EvalConfig(secondary=SecondaryConfig(gate=True)))
    doc = _issue(services, gated, "int8ish")
    assert "secondary" in doc["policy"]["resolved"], "the policy gates the secondary metrics"
    return doc


def _accuracy(services: Any, loader: Any) -> Doc:
    """Labelled examples, one per window (tests/unit/test_accuracy_use_case.py)."""
    loader.models["labels_subject"] = FakeModel(ref="labels_subject", quality=1.02)
    labelled = dataclasses.replace(services, corpora=FakeCorpora(words(10), labelled=labelled_words(120)))
    metric = MetricConfig(kind="accuracy", template="Review: {text} Sentiment:", label_words=[" negative", " positive"])
    config = RunConfig(
        model=ModelConfig(id="base"),
        dataset=DatasetConfig(provider="labelled", seq_len=32, preview_n=40, final_n=60, calibration_n=0, seed=7),
        eval=EvalConfig(metric=metric),
        guards=GuardsConfig(order=["invariants", "invariants"]),
    )
    return _issue(labelled, config, "labels_subject")


def _embedding_cosine(services: Any, loader: Any) -> Doc:
    """Fake encoders, one cosine per window (tests/unit/test_embedding_cosine_use_case.py)."""
    loader.models.update({"enc": FakeEncoder(ref="enc"), "enc_close": FakeEncoder(ref="enc_close", quality=1.002)})
    config = msgspec.structs.replace(
        small_config(),
        model=ModelConfig(id="enc"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=0, seed=7),
        eval=EvalConfig(metric=MetricConfig(kind="embedding_cosine")),
        guards=GuardsConfig(order=["invariants", "spectral", "rmt", "invariants"]),
    )
    return _issue(services, config, "enc_close")


def _variance_repair(services: Any, loader: Any) -> Doc:
    """A `run` whose variance guard repairs the edited subject (tests/unit/test_reexecution_audit.py)."""
    down = "ffn.2.down"
    config = RunConfig(
        model=ModelConfig(id="ve_base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8),
        edit=EditConfig(name="fake_weight", plan={"weight": down, "factor": 0.9}),
        guards=GuardsConfig(),
    )
    doc = _issue(services, config, None, command="run")
    assert doc["guards"]["variance"]["applied"], "the fake edit is one the variance guard repairs"
    return doc


def _reused_run(services: Any, loader: Any) -> Doc:
    """The second `run` on one baseline without paired measures: its baseline scores, weight-guard measurements
    and variance taps are an earlier run's (provenance.baseline_scoring, guard_baseline, variance_baseline)."""
    indexed = dataclasses.replace(services, index=services.store)
    config = RunConfig(
        model=ModelConfig(id="ve_base"),
        dataset=DatasetConfig(provider="fake", seq_len=32, preview_n=8, final_n=12, calibration_n=8),
        eval=EvalConfig(secondary=SecondaryConfig(measure=False)),
        guards=GuardsConfig(),
    )
    for factor in (0.9, 0.8):
        edit = EditConfig(name="fake_weight", plan={"weight": "ffn.2.down", "factor": factor})
        doc = _issue(indexed, msgspec.structs.replace(config, edit=edit), None, command="run")
    provenance = doc["provenance"]
    assert provenance["baseline_scoring"] and provenance["guard_baseline"] and provenance["variance_baseline"]
    return doc


class PeakRatio:
    """A plugin guard: the largest |w| of each subject matrix over the baseline's, at most max_ratio."""

    name = "peak_ratio"
    settings = ("max_ratio",)

    def measure(self, baseline: WeightSource, subject: WeightSource) -> dict[str, dict[str, float]]:
        base = {m.name: float(np.max(np.abs(m.array))) for m in baseline.matrices()}
        return {m.name: {"ratio": float(np.max(np.abs(m.array))) / base[m.name]} for m in subject.matrices()}

    def decide(self, measurements: Mapping[str, Mapping[str, float]], settings: Mapping[str, float]) -> dict[str, str]:
        limit = settings["max_ratio"]
        return {name: f"ratio {v['ratio']} > {limit}" for name, v in measurements.items() if v["ratio"] > limit}


def _plugin_guard(services: Any, loader: Any) -> Doc:
    environment = {"python": "test", f"plugin.guards.{PeakRatio.name}": "peak-ratio 1.0"}
    with_plugin = dataclasses.replace(services, environment=lambda: environment)
    guards = GuardsConfig(
        order=["invariants", PeakRatio.name, "invariants"], plugins={PeakRatio.name: {"max_ratio": 1.05}}
    )
    doc = _issue(with_plugin, msgspec.structs.replace(small_config(), guards=guards), "int8ish")
    assert doc["guards"]["plugins"][PeakRatio.name]["measurements"]["matrices"], "the plugin guard measured"
    return doc


ISSUERS: dict[str, Callable[[Any, Any], Doc]] = {
    "ppl_pass": _perplexity("int8ish"),
    "ppl_rollback": _perplexity("broken"),
    "ppl_gated_secondary": _gated_secondary,
    "accuracy": _accuracy,
    "embedding_cosine": _embedding_cosine,
    "variance_repair_run": _variance_repair,
    "reused_baseline_run": _reused_run,
    "plugin_guard": _plugin_guard,
}


@pytest.fixture
def plugin_guards(monkeypatch: pytest.MonkeyPatch) -> None:
    """The composition root's plugin resolver, here supplying PeakRatio (certify and verify both ask it)."""
    monkeypatch.setattr(plugin, "_resolver", lambda name: PeakRatio() if name == PeakRatio.name else None)


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every scalar of the document, a list's first and last items standing for the rest."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for index in sorted({0, len(node) - 1}) if node else ():
            yield from _leaves(node[index], (*path, str(index)))
    else:
        yield path, node


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.01 + 1e-9
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    return "x"  # None


def _passes_verify(doc: Doc, path: tuple[str, ...], value: Any) -> bool:
    forged = copy.deepcopy(doc)
    node = forged
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(path[-1]) if isinstance(node, list) else path[-1]] = value
    try:
        raw = c.to_bytes(c.seal(msgspec.convert(forged, c.Certificate)))
        return verify_certificate(c.from_bytes(raw), raw=raw).exit_code in (0, 1)  # a verdict, not a failed check
    except (msgspec.ValidationError, ValueError, InvarlockError):
        return False  # refused as it is decoded


def _declared(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns)


@pytest.mark.parametrize("certificate", list(ISSUERS))
def test_a_field_plain_verify_accepts_edited_is_one_it_declares_not_recomputed(
    services: Any, loader: Any, plugin_guards: None, certificate: str
) -> None:
    doc = ISSUERS[certificate](services, loader)
    passed = [
        ".".join(path)
        for path, value in _leaves(doc)
        if path[0] not in ("digest", "signature") and _passes_verify(doc, path, _changed(value))
    ]
    assert passed, "the harness found no field verify takes as stated: it is not editing the certificate"
    declared = not_recomputed_fields(labelled=doc["dataset"]["stride"] == 0)
    undeclared = [path for path in passed if not _declared(path, declared)]
    assert undeclared == [], "verify neither checks these fields nor says it takes them as stated"
