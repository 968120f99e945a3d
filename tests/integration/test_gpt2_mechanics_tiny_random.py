"""GPT-2 mechanics on a TINY RANDOMLY INITIALISED GPT-2 (no GPT-2 weights exist offline here).

These tests check Conv1D layout, families, per-output-channel quantization, ties and export; the random
model's scores carry no meaning about quality.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from invarlock.domain.model import LoadOptions
from invarlock.domain.windows import TokenWindow

from tests.integration.tiny_models import SENTENCES, make_tiny_gpt2_dir

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


def test_tiny_random_gpt2_families_follow_the_gpt2_rules(tiny_random_gpt2: Any) -> None:
    families = {m.name: m.family for m in tiny_random_gpt2.matrices()}
    assert families == {
        "transformer.wte.weight": "embed",
        "transformer.wpe.weight": "embed",
        **{f"transformer.h.{i}.attn.c_attn.weight": "attn" for i in range(2)},
        **{f"transformer.h.{i}.attn.c_proj.weight": "attn" for i in range(2)},
        **{f"transformer.h.{i}.mlp.c_fc.weight": "ffn" for i in range(2)},
        **{f"transformer.h.{i}.mlp.c_proj.weight": "ffn" for i in range(2)},
    }


def test_tiny_random_gpt2_matrices_are_out_by_in(tiny_random_gpt2: Any) -> None:
    matrices = {m.name: m.array for m in tiny_random_gpt2.matrices()}
    block = "transformer.h.0"
    assert matrices[f"{block}.attn.c_attn.weight"].shape == (96, 32)
    assert matrices[f"{block}.mlp.c_fc.weight"].shape == (128, 32)
    assert matrices[f"{block}.mlp.c_proj.weight"].shape == (32, 128)
    stored = tiny_random_gpt2.module.get_parameter(f"{block}.mlp.c_fc.weight")
    assert tuple(stored.shape) == (32, 128)  # Conv1D stores (in, out)
    assert (matrices[f"{block}.mlp.c_fc.weight"] == stored.detach().numpy().T).all()


def test_tiny_random_gpt2_quantizes_conv1d_per_output_channel_and_keeps_ties(tiny_random_gpt2: Any) -> None:
    from invarlock.adapters.quant_rtn import QuantRTNEdit

    name = "transformer.h.1.mlp.c_fc.weight"
    original = tiny_random_gpt2.module.get_parameter(name).detach().clone()
    wte = tiny_random_gpt2.module.transformer.wte.weight.detach().clone()
    outcome = QuantRTNEdit().apply(tiny_random_gpt2, {"bits": 4})
    quantized = tiny_random_gpt2.module.get_parameter(name).detach()

    scale = original.abs().amax(dim=0, keepdim=True) / 7  # output channels are Conv1D's dim 1
    codes = quantized / scale
    assert torch.allclose(codes, codes.round(), atol=1e-4)
    assert bool((codes.abs().amax(dim=0) > 6.99).all())  # each output column reaches its own ±7
    assert bool(((original - quantized).abs() <= scale / 2 + 1e-7).all())
    assert outcome.deltas.layers_modified == 2 and len(outcome.deltas.modules_changed) == 8
    module = tiny_random_gpt2.module
    assert module.lm_head.weight is module.transformer.wte.weight
    assert torch.equal(module.transformer.wte.weight, wte)
    assert ("lm_head.weight", "transformer.wte.weight") in tiny_random_gpt2.census().tied_groups


def test_tiny_random_gpt2_export_and_reload_round_trips_the_identity(tiny_random_gpt2: Any, tmp_path: Path) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.quant_rtn import QuantRTNEdit

    QuantRTNEdit().apply(tiny_random_gpt2, {"bits": 8, "scope": "attn"})
    exported = tiny_random_gpt2.export(tmp_path / "export")
    assert (exported / "model.safetensors").is_file()
    reloaded = HFModelLoader().load(str(exported), LoadOptions(adapter="hf_causal", device="cpu", dtype="float32"))
    before, after = tiny_random_gpt2.identity(), reloaded.identity()
    assert (after.weights_sha256, after.config_sha256, after.tokenizer_sha256) == (
        before.weights_sha256,
        before.config_sha256,
        before.tokenizer_sha256,
    )
    assert after.param_count == before.param_count


def test_tiny_random_gpt2_scores_windows_and_helper_makes_distinct_tokenizers(
    tiny_random_gpt2: Any, tmp_path: Path
) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader

    ids = tiny_random_gpt2.tokenizer().encode(" ".join(SENTENCES))
    windows = [TokenWindow(window_id=i, tokens=tuple(ids[i * 16 : (i + 1) * 16])) for i in range(3)]
    scores = list(tiny_random_gpt2.score(windows))
    assert [s.tokens_scored for s in scores] == [15, 15, 15]
    assert all(s.nll_sum > 0 for s in scores)
    other = HFModelLoader().load(
        str(make_tiny_gpt2_dir(tmp_path / "other", vocab_size=300)),
        LoadOptions(adapter="auto", device="cpu", dtype="float32"),
    )
    assert other.tokenizer().digest() != tiny_random_gpt2.tokenizer().digest()


def test_tiny_random_gpt2_untied_head_is_quantized_only_with_all_with_head(tmp_path: Path) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.quant_rtn import QuantRTNEdit

    path = make_tiny_gpt2_dir(tmp_path / "untied", tied=False)
    model = HFModelLoader().load(str(path), LoadOptions(adapter="auto", device="cpu", dtype="float32"))
    assert {m.name: m.family for m in model.matrices()}["lm_head.weight"] == "embed"
    assert "lm_head" not in QuantRTNEdit().apply(model, {"bits": 8}).deltas.modules_changed
    head = model.module.lm_head.weight.detach().clone()
    outcome = QuantRTNEdit().apply(model, {"bits": 8, "scope": "all_with_head"})
    assert "lm_head" in outcome.deltas.modules_changed and outcome.deltas.bitwidth_map["lm_head"] == 8
    assert not torch.equal(model.module.lm_head.weight, head)
    assert model.census().tied_groups == ()
