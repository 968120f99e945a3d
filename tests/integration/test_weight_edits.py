"""Diagnostic edits (scale_weight, remove_top_singular, gaussian_noise) on the real demo model and a tiny GPT-2."""

from __future__ import annotations

from typing import Any

import pytest
from invarlock.adapters.weight_edits import (
    DIAGNOSTIC_EDITS,
    GaussianNoiseEdit,
    RemoveTopSingularEdit,
    ScaleWeightEdit,
)
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import UsageError

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.model

O_PROJ = "model.layers.15.self_attn.o_proj.weight"
DOWN_PROJ = "model.layers.3.mlp.down_proj.weight"


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    # On a busy 2-core box, OpenMP's 2 threads make svdvals ~80x and torch.equal ~10x slower than 1 thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def weights_of(model: Any) -> dict[str, Any]:
    return {name: t.detach().clone() for name, t in model.module.state_dict().items()}


def assert_untouched_except(before: dict[str, Any], model: Any, *edited: str) -> None:
    for name, tensor in model.module.state_dict().items():
        if name not in edited:
            assert bool(torch.equal(before[name], tensor)), f"{name} must be bit-identical"


def svdvals(weight: Any) -> Any:
    return torch.linalg.svdvals(weight.detach().to(torch.float64))


def rms(tensor: Any) -> float:
    return float(tensor.to(torch.float64).square().mean().sqrt())


def test_diagnostic_edits_are_exported_under_their_names() -> None:
    assert [edit.name for edit in DIAGNOSTIC_EDITS] == ["scale_weight", "remove_top_singular", "gaussian_noise"]


def test_scale_weight_triples_one_o_proj_and_its_largest_singular_value(editable_demo_model: Any) -> None:
    model = editable_demo_model
    before = weights_of(model)
    outcome = ScaleWeightEdit().apply(model, {"weight": O_PROJ, "factor": 3})
    after = model.module.get_parameter(O_PROJ).detach()

    assert outcome.plan == {"weight": O_PROJ, "factor": 3.0}
    assert outcome.plan_digest == sha256_hex(canonical_bytes(outcome.plan))
    assert outcome.deltas.params_changed == 576 * 576 and outcome.deltas.layers_modified == 1
    assert outcome.deltas.modules_changed == ("model.layers.15.self_attn.o_proj",) and outcome.deltas.bitwidth_map == {}
    assert bool(torch.equal(after, before[O_PROJ] * 3))
    assert float(svdvals(after)[0]) == pytest.approx(3 * float(svdvals(before[O_PROJ])[0]), rel=1e-6)
    assert_untouched_except(before, model, O_PROJ)


def test_remove_top_singular_makes_the_ninth_singular_value_the_largest(editable_demo_model: Any) -> None:
    model = editable_demo_model
    before = weights_of(model)
    outcome = RemoveTopSingularEdit().apply(model, {"weight": O_PROJ, "k": 8})
    after = model.module.get_parameter(O_PROJ).detach()

    old, new = svdvals(before[O_PROJ]), svdvals(after)
    assert outcome.plan == {"weight": O_PROJ, "k": 8} and outcome.deltas.layers_modified == 1
    assert after.dtype == torch.float32 and after.shape == (576, 576)
    assert float(new[0]) == pytest.approx(float(old[8]), rel=1e-4)
    assert float(new[0]) < float(old[7]) < float(old[0])
    assert torch.allclose(new[:100], old[8:108], rtol=1e-4)
    assert_untouched_except(before, model, O_PROJ)


def test_gaussian_noise_adds_ten_percent_rms_and_is_deterministic_per_seed(editable_demo_model: Any) -> None:
    model = editable_demo_model
    before = weights_of(model)
    weight = model.module.get_parameter(DOWN_PROJ)

    def noisy(plan: dict[str, object]) -> Any:
        with torch.no_grad():
            weight.copy_(before[DOWN_PROJ])
        GaussianNoiseEdit().apply(model, plan)
        return weight.detach().clone()

    outcome = GaussianNoiseEdit().apply(model, {"weight": DOWN_PROJ, "rms_fraction": 0.1})
    first = weight.detach().clone()
    assert outcome.plan == {"weight": DOWN_PROJ, "rms_fraction": 0.1, "seed": 0}
    assert rms(first - before[DOWN_PROJ]) / rms(before[DOWN_PROJ]) == pytest.approx(0.1, rel=0.02)
    assert_untouched_except(before, model, DOWN_PROJ)
    assert bool(torch.equal(noisy({"weight": DOWN_PROJ, "rms_fraction": 0.1, "seed": 0}), first))
    assert not bool(torch.equal(noisy({"weight": DOWN_PROJ, "rms_fraction": 0.1, "seed": 1}), first))


def test_editing_a_tied_embedding_edits_and_lists_the_lm_head(editable_demo_model: Any) -> None:
    model = editable_demo_model
    original = model.module.lm_head.weight.detach().clone()
    outcome = ScaleWeightEdit().apply(model, {"weight": "lm_head.weight", "factor": 0.5})

    assert outcome.deltas.modules_changed == ("lm_head", "model.embed_tokens")
    assert outcome.deltas.layers_modified == 0 and outcome.deltas.params_changed == original.numel()
    assert model.module.lm_head.weight is model.module.model.embed_tokens.weight
    assert bool(torch.equal(model.module.model.embed_tokens.weight.detach(), original * 0.5))


BAD_PLANS = [
    (ScaleWeightEdit, {"weight": O_PROJ, "factor": 3, "bogus": 1}, "bogus"),
    (ScaleWeightEdit, {"factor": 3}, "weight"),
    (ScaleWeightEdit, {"weight": 7, "factor": 3}, "weight"),
    (ScaleWeightEdit, {"weight": "model.layers.15.self_attn.o_proj", "factor": 3}, "weight"),
    (ScaleWeightEdit, {"weight": "model.norm.weight", "factor": 3}, "weight"),
    (ScaleWeightEdit, {"weight": O_PROJ}, "factor"),
    (ScaleWeightEdit, {"weight": O_PROJ, "factor": 0}, "factor"),
    (ScaleWeightEdit, {"weight": O_PROJ, "factor": -3}, "factor"),
    (ScaleWeightEdit, {"weight": O_PROJ, "factor": "3"}, "factor"),
    (ScaleWeightEdit, {"weight": O_PROJ, "factor": True}, "factor"),
    (ScaleWeightEdit, {"weight": O_PROJ, "factor": float("inf")}, "factor"),
    (RemoveTopSingularEdit, {"weight": O_PROJ}, "k"),
    (RemoveTopSingularEdit, {"weight": O_PROJ, "k": 0}, "k"),
    (RemoveTopSingularEdit, {"weight": O_PROJ, "k": 576}, "k"),
    (RemoveTopSingularEdit, {"weight": O_PROJ, "k": 8.0}, "k"),
    (RemoveTopSingularEdit, {"weight": O_PROJ, "k": True}, "k"),
    (RemoveTopSingularEdit, {"weight": "model.layers.99.self_attn.o_proj.weight", "k": 8}, "weight"),
    (GaussianNoiseEdit, {"weight": DOWN_PROJ, "rms_fraction": 0.1, "sigma": 1}, "sigma"),
    (GaussianNoiseEdit, {"weight": DOWN_PROJ}, "rms_fraction"),
    (GaussianNoiseEdit, {"weight": DOWN_PROJ, "rms_fraction": 0}, "rms_fraction"),
    (GaussianNoiseEdit, {"weight": DOWN_PROJ, "rms_fraction": float("nan")}, "rms_fraction"),
    (GaussianNoiseEdit, {"weight": DOWN_PROJ, "rms_fraction": 0.1, "seed": -1}, "seed"),
    (GaussianNoiseEdit, {"weight": DOWN_PROJ, "rms_fraction": 0.1, "seed": 1.5}, "seed"),
]


@pytest.fixture(scope="module")
def pristine_weights(demo_model: Any) -> dict[str, Any]:
    return weights_of(demo_model)


@pytest.mark.parametrize(("edit", "plan", "key"), BAD_PLANS)
def test_bad_plans_are_refused_with_e204_naming_the_key_and_leave_the_weights_bit_identical(
    demo_model: Any, pristine_weights: dict[str, Any], edit: type, plan: dict, key: str
) -> None:
    with pytest.raises(UsageError) as caught:
        edit().apply(demo_model, plan)
    assert caught.value.code == "E204"
    assert f"edit.plan.{key}" in caught.value.one_line()
    assert "\n" not in caught.value.one_line()
    assert_untouched_except(pristine_weights, demo_model)


def test_a_misspelt_weight_name_suggests_the_closest_matrices(demo_model: Any) -> None:
    with pytest.raises(UsageError) as caught:
        ScaleWeightEdit().apply(demo_model, {"weight": "model.layers.15.self_attn.out_proj.weight", "factor": 3})
    assert O_PROJ in caught.value.hint and "named_parameters" in caught.value.hint


@pytest.mark.parametrize("edit", DIAGNOSTIC_EDITS, ids=lambda edit: edit.name)
def test_an_edit_runs_on_any_weight_source_and_changes_only_its_weight(edit: Any) -> None:
    import numpy as np

    from tests.fakes.models import FakeModel

    rng = np.random.default_rng(0)
    weights = {name: rng.standard_normal((6, 5)).astype(np.float32) for name in ("attn.0", "ffn.1.down")}
    model = FakeModel(ref="fake", weights={k: v.copy() for k, v in weights.items()})
    plans = {"scale_weight": {"factor": 3}, "remove_top_singular": {"k": 2}, "gaussian_noise": {"rms_fraction": 0.1}}
    outcome = edit.apply(model, {"weight": "ffn.1.down", **plans[edit.name]})

    assert outcome.deltas.modules_changed == ("ffn.1.down",) and outcome.deltas.params_changed == 30
    assert outcome.deltas.layers_modified == 1
    assert not np.array_equal(model.weights["ffn.1.down"], weights["ffn.1.down"])
    assert np.array_equal(model.weights["attn.0"], weights["attn.0"])


def test_remove_top_singular_on_a_gpt2_conv1d_keeps_its_in_out_layout(tiny_random_gpt2: Any) -> None:
    name = "transformer.h.0.attn.c_attn.weight"
    weight = tiny_random_gpt2.module.get_parameter(name)
    original = weight.detach().clone()
    outcome = RemoveTopSingularEdit().apply(tiny_random_gpt2, {"weight": name, "k": 3})

    assert weight.shape == (32, 96) and weight.dtype == torch.float32
    assert outcome.deltas.layers_modified == 1 and outcome.deltas.params_changed == 32 * 96
    assert torch.allclose(svdvals(weight)[:29], svdvals(original)[3:], rtol=1e-4)


def test_gaussian_noise_on_a_gpt2_conv1d_is_drawn_in_out_in_order(tiny_random_gpt2: Any) -> None:
    name = "transformer.h.1.mlp.c_fc.weight"
    weight = tiny_random_gpt2.module.get_parameter(name)
    original = weight.detach().clone()
    GaussianNoiseEdit().apply(tiny_random_gpt2, {"weight": name, "rms_fraction": 0.1, "seed": 3})

    generator = torch.Generator().manual_seed(3)
    expected = torch.randn((128, 32), generator=generator, dtype=torch.float64) * 0.1 * rms(original)
    assert weight.shape == (32, 128)
    assert torch.allclose((weight.detach() - original).T.to(torch.float64), expected, atol=1e-6)
