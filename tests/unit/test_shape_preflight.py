"""The preflight's `shapes` check on recorded-state fakes: a subject whose loader states other weight shapes than
the baseline's is E002 before any model loads when a guard of the order pairs their matrices (it would stop the
run with the same code once both were loaded), and nothing is refused when no guard pairs them or a loader states
no shapes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import GuardsConfig, ModelConfig
from invarlock.application.services import Services
from invarlock.domain.errors import AbortError

from tests.fakes.loaders import FakeLoader
from tests.unit.conftest import small_config


@dataclass
class ShapedLoader(FakeLoader):
    """A FakeLoader whose models state their shape settings (ports/loader.py: ShapeSettings)."""

    shapes: dict[str, dict[str, int]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def shape_settings(self, ref: str, *, adapter: str) -> dict[str, int] | None:
        self.asked.append(ref)
        return self.shapes.get(ref)


def _run(
    services: Services, loader: FakeLoader, order: tuple[str, ...] | None = None, variance: dict | None = None
) -> object:
    config = small_config()
    if order is not None:
        config = msgspec.structs.replace(config, guards=GuardsConfig(order=list(order), variance=variance or {}))
    request = CertifyRequest("certify", config, ModelConfig(id="int8ish"), "balanced", "dev")
    return certify_edit(request, dataclasses.replace(services, loader=loader))


def _shaped(loader: FakeLoader, **shapes: dict[str, int]) -> ShapedLoader:
    return ShapedLoader(models=loader.models, shapes=shapes)


def test_other_weight_shapes_stop_the_run_before_any_model_loads(services: Services, loader: FakeLoader) -> None:
    shaped = _shaped(
        loader,
        base={"hidden_size": 576, "num_hidden_layers": 30},
        int8ish={"hidden_size": 576, "num_hidden_layers": 29},
    )
    with pytest.raises(AbortError) as stopped:
        _run(services, shaped)
    assert stopped.value.code == "E002" and stopped.value.message == (
        "weight shapes differ: baseline base and subject int8ish state num_hidden_layers 30 vs 29"
    )
    assert "the spectral guard pairs their matrices" in stopped.value.hint
    assert shaped.loaded == [] and shaped.asked == ["base", "int8ish"]
    [run_id] = services.store.run_ids()
    assert [r.type for r in services.store.read(run_id)] == ["run_started", "run_failed"]


@pytest.mark.parametrize(
    ("order", "shapes"),
    [
        (("invariants",), {"base": {"n_layer": 2}, "int8ish": {"n_layer": 3}}),
        (None, {"base": {"n_layer": 2}}),  # the subject's loader states none
        (None, {"base": {"n_layer": 2, "n_embd": 8}, "int8ish": {"n_embd": 8}}),  # only shared keys compared
    ],
    ids=["no guard pairing matrices in the order", "a loader states none", "equal where both state them"],
)
def test_nothing_is_refused_that_no_guard_would_refuse(
    services: Services, loader: FakeLoader, order: tuple[str, ...] | None, shapes: dict
) -> None:
    shaped = _shaped(loader, **shapes)
    outcome = _run(services, shaped, order)
    assert outcome.certificate.verdict.status in ("PASS", "FAIL")  # type: ignore[attr-defined]
    assert shaped.loaded == ["base", "int8ish"]


@pytest.mark.parametrize(("targets", "refused"), [("changed", True), ("all_ffn", False)])
def test_the_variance_guard_pairs_matrices_only_to_find_the_changed_ones(
    services: Services, loader: FakeLoader, targets: str, refused: bool
) -> None:
    """variance.targets `changed` (the default) pairs every matrix to find the changed ones, so other shapes would
    meet its E002 after both loads; `all_ffn` compares taps by name and is not refused."""
    shaped = _shaped(loader, base={"n_layer": 2}, int8ish={"n_layer": 3})
    order = ("invariants", "variance", "invariants")
    if not refused:
        outcome = _run(services, shaped, order, variance={"targets": targets})
        assert outcome.certificate.verdict.status in ("PASS", "FAIL")  # type: ignore[attr-defined]
        assert shaped.loaded == ["base", "int8ish"]
        return
    with pytest.raises(AbortError) as stopped:
        _run(services, shaped, order, variance={"targets": targets})
    assert stopped.value.code == "E002" and "the variance guard pairs their matrices" in stopped.value.hint
    assert shaped.loaded == []
