"""HFModelLoader.matrix_names (ports.loader.MatrixNames): the 2-D parameter names a checkpoint loads with, told from
its config alone, are those of the loaded module for each adapter; a quantized checkpoint's are not told."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.model import LoadOptions

from tests.integration.config_checkpoints import config_only_checkpoint

pytest.importorskip("torch")
pytestmark = pytest.mark.model


def _loader() -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader()


def _loaded_names(model: Any) -> tuple[str, ...]:
    return tuple(name for name, p in model.module.named_parameters(remove_duplicate=False) if p.ndim == 2)


def test_the_demo_models_names_are_its_loaded_modules_tied_head_included(demo_model: Any) -> None:
    names = _loader().matrix_names("demo:smollm2-135m")
    assert names == _loaded_names(demo_model)
    assert "lm_head.weight" in names and "model.layers.15.self_attn.o_proj.weight" in names  # the head is tied


def test_a_gpt2s_names_follow_the_adapters_module(tiny_random_gpt2: Any, tiny_random_gpt2_dir: Path) -> None:
    causal = _loader().matrix_names(str(tiny_random_gpt2_dir))
    assert causal == _loaded_names(tiny_random_gpt2) and causal[-1] == "lm_head.weight"
    # the classification head replaces the LM head (this checkpoint has no score weights to load it with)
    assert _loader().matrix_names(str(tiny_random_gpt2_dir), adapter="hf_seqcls") == (*causal[:-1], "score.weight")


def test_an_encoders_names_are_its_loaded_modules() -> None:
    loaded = _loader().load("demo:minilm-l6", LoadOptions(adapter="hf_encoder", device="cpu", dtype="float32"))
    assert _loader().matrix_names("demo:minilm-l6", adapter="hf_encoder") == _loaded_names(loaded)


def test_a_pre_quantized_checkpoints_names_are_not_told(tmp_path: Path) -> None:
    quantized = {"quant_method": "gptq", "bits": 4, "group_size": 128}
    ref = config_only_checkpoint(tmp_path / "gptq", model_type="llama", quantization_config=quantized)
    assert _loader().matrix_names(ref) is None


def test_a_config_transformers_cannot_build_a_module_from_is_e102(tmp_path: Path) -> None:
    ref = config_only_checkpoint(tmp_path / "bad", model_type="llama", hidden_act="no-such-activation")
    with pytest.raises(UsageError) as err:
        _loader().matrix_names(ref)
    assert err.value.code == "E102" and err.value.message.startswith(f"{ref} could not be loaded")


def test_a_config_validation_error_says_its_cause_not_only_its_introduction(tmp_path: Path) -> None:
    """transformers' first line ("Class validation error for validator 'validate_architecture':") named neither the
    field nor the cause, which its next line states."""
    ref = config_only_checkpoint(tmp_path / "bad", model_type="llama", hidden_size=576, num_attention_heads=7)
    with pytest.raises(UsageError) as err:
        _loader().matrix_names(ref)
    assert err.value.code == "E102" and err.value.message.startswith(f"{ref} could not be loaded")
    assert "is not a multiple of the number of attention heads (7)" in err.value.message
