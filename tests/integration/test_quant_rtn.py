"""quant_rtn on the real demo model: levels, error bound, ties, untouched modules, plan validation."""

from __future__ import annotations

from typing import Any

import pytest
from invarlock.adapters.quant_rtn import QuantRTNEdit
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import UsageError
from invarlock.domain.model import LoadOptions

pytestmark = pytest.mark.model


def weights_of(model: Any) -> dict[str, Any]:
    return {name: t.detach().clone() for name, t in model.module.state_dict().items()}


def distinct_per_row(rows: Any) -> Any:
    ordered = rows.sort(dim=-1).values
    return (ordered.diff(dim=-1) != 0).sum(dim=-1) + 1


def test_int8_quantizes_every_block_linear_per_output_row_and_keeps_ties(editable_demo_model: Any) -> None:
    model = editable_demo_model
    before, identity = weights_of(model), model.identity()
    outcome = QuantRTNEdit().apply(model, {"bits": 8})
    after = weights_of(model)

    assert outcome.plan == {"bits": 8, "scope": "all", "group_size": None, "clamp_percentile": 0.0}
    assert outcome.plan_digest == sha256_hex(canonical_bytes(outcome.plan))
    assert outcome.deltas.layers_modified == 30 and len(outcome.deltas.modules_changed) == 30 * 7
    assert set(outcome.deltas.bitwidth_map.values()) == {8}
    changed = {f"{m}.weight" for m in outcome.deltas.modules_changed}
    assert outcome.deltas.params_changed == sum(before[n].numel() for n in changed)
    for name in changed:
        w, q = before[name], after[name]
        scale = w.abs().amax(dim=1, keepdim=True) / 127
        assert int(distinct_per_row(q).max()) <= 255
        assert bool(((w - q).abs() <= scale / 2 * (1 + 1e-5) + 1e-12).all()), name
    for name in before.keys() - changed:
        assert torch_equal(before[name], after[name]), f"{name} must be byte-identical"
    assert model.module.lm_head.weight is model.module.model.embed_tokens.weight
    assert model.census().tied_groups == (("lm_head.weight", "model.embed_tokens.weight"),)
    now = model.identity()
    assert now.weights_sha256 != identity.weights_sha256
    assert (now.config_sha256, now.tokenizer_sha256) == (identity.config_sha256, identity.tokenizer_sha256)


def test_int4_with_groups_quantizes_only_ffn_per_row_and_group(editable_demo_model: Any) -> None:
    model = editable_demo_model
    before = weights_of(model)
    outcome = QuantRTNEdit().apply(model, {"bits": 4, "scope": "ffn", "group_size": 64})
    after = weights_of(model)

    assert all(".mlp." in m for m in outcome.deltas.modules_changed) and len(outcome.deltas.modules_changed) == 90
    for module in outcome.deltas.modules_changed:
        w = before[f"{module}.weight"]
        q = after[f"{module}.weight"]
        groups_w, groups_q = w.reshape(w.shape[0], -1, 64), q.reshape(q.shape[0], -1, 64)
        scale = groups_w.abs().amax(dim=-1, keepdim=True) / 7
        assert int(distinct_per_row(groups_q).max()) <= 15
        assert bool(((groups_w - groups_q).abs() <= scale / 2 * (1 + 1e-5) + 1e-12).all())
    assert torch_equal(
        before["model.layers.0.self_attn.q_proj.weight"], after["model.layers.0.self_attn.q_proj.weight"]
    )


def test_clamp_percentile_clips_outliers_before_the_absmax(editable_demo_model: Any) -> None:
    model = editable_demo_model
    name = "model.layers.5.self_attn.v_proj.weight"
    original = model.module.get_parameter(name).detach().clone()
    QuantRTNEdit().apply(model, {"bits": 8, "scope": "attn", "clamp_percentile": 1.0})
    quantized = model.module.get_parameter(name).detach()
    assert bool((quantized.abs().amax(dim=1) < original.abs().amax(dim=1)).all())


@pytest.mark.parametrize(
    ("plan", "key"),
    [
        ({"bits": 8, "bogus": 1}, "bogus"),
        ({"scope": "all"}, "bits"),
        ({"bits": 3}, "bits"),
        ({"bits": True}, "bits"),
        ({"bits": "8"}, "bits"),
        ({"bits": 8, "scope": "mlp"}, "scope"),
        ({"bits": 8, "group_size": 0}, "group_size"),
        ({"bits": 8, "group_size": 1.5}, "group_size"),
        ({"bits": 8, "group_size": 1e20}, "group_size"),  # torch's pad overflowed (E999), or it asked for petabytes
        ({"bits": 8, "clamp_ratio": 0.6}, "clamp_ratio"),
        ({"bits": 8, "clamp_ratio": 0.01, "clamp_percentile": 1.0}, "clamp_ratio"),
        ({"bits": 8, "max_modules": 0}, "max_modules"),
        ({"bitwidth": 8}, "bitwidth"),
        ({"bits": 8, "clamp_percentile": 50}, "clamp_percentile"),
        ({"bits": 8, "clamp_percentile": "1"}, "clamp_percentile"),
    ],
)
def test_bad_plans_are_refused_with_e204_naming_the_key(demo_model: Any, plan: dict, key: str) -> None:
    with pytest.raises(UsageError) as caught:
        QuantRTNEdit().apply(demo_model, plan)
    assert caught.value.code == "E204"
    assert f"edit.plan.{key}" in caught.value.one_line()
    assert "\n" not in caught.value.one_line()


def test_bad_plans_leave_the_weights_untouched(demo_model: Any, demo_dir) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    pristine = HFModelLoader().load(str(demo_dir), LoadOptions(adapter="auto", device="cpu", dtype="float32"))
    for plan in ({"bits": 8, "max_modules": 0}, {"bits": 8, "clamp_percentile": -1}):
        with pytest.raises(UsageError):
            QuantRTNEdit().apply(demo_model, plan)
    assert demo_model.identity().weights_sha256 == pristine.identity().weights_sha256


def torch_equal(a: Any, b: Any) -> bool:
    import torch

    return a.dtype == b.dtype and a.shape == b.shape and bool(torch.equal(a, b))


def test_int4_plan_of_the_v1_fixture_reproduces_its_subject_weights_bit_for_bit(editable_demo_model: Any) -> None:
    """The store_v1 fixture's run (made by an earlier release) quantized the demo model with run.yaml's
    plan; through the WeightSource port the same plan must give the same subject digest and deltas."""
    import json
    from pathlib import Path

    import yaml

    fixture = Path(__file__).parents[1] / "fixtures" / "store_v1"
    plan = yaml.safe_load((fixture / "run.yaml").read_text(encoding="utf-8"))["edit"]["plan"]
    cert = json.loads((fixture / "run.cert.json").read_text(encoding="utf-8"))
    outcome = QuantRTNEdit().apply(editable_demo_model, plan)

    assert editable_demo_model.identity().weights_sha256 == cert["subject"]["weights_sha256"]
    assert (outcome.plan, outcome.plan_digest) == (cert["edit"]["plan"], cert["edit"]["plan_digest"])
    deltas = cert["edit"]["deltas"]
    assert outcome.deltas.params_changed == deltas["params_changed"]
    assert outcome.deltas.layers_modified == deltas["layers_modified"]
    assert list(outcome.deltas.modules_changed) == deltas["modules_changed"]
    assert outcome.deltas.bitwidth_map == deltas["bitwidth_map"]
