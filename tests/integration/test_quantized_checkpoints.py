"""A pre-quantized checkpoint (config.json `quantization_config`) whose quantization transformers cannot load here
is refused when its reference is resolved, before any weights are read: one model at a time, a GPTQ or AWQ subject
without its packages failed only after the baseline's whole pass (E102, "repair or re-export it")."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from tests.integration.config_checkpoints import config_only_checkpoint

pytest.importorskip("transformers")
pytestmark = pytest.mark.hf

AWQ = {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm", "zero_point": True}
BNB = {"quant_method": "bitsandbytes", "load_in_8bit": True}


def _checkpoint(path: Path, quantization: object) -> str:
    """A llama checkpoint whose config.json carries `quantization`."""
    return config_only_checkpoint(path, model_type="llama", quantization_config=quantization)


def _refusal(ref: str) -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.domain.errors import UsageError

    with pytest.raises(UsageError) as caught:
        HFModelLoader().tokenizer(ref)
    return caught.value


@pytest.mark.parametrize(
    ("quantization", "package", "named"),
    [(AWQ, "gptqmodel", "pip install gptqmodel"), (BNB, "bitsandbytes", "pip install -U bitsandbytes")],
    ids=["awq", "bitsandbytes"],
)
def test_a_quantization_whose_package_is_missing_is_e105_naming_it(
    tmp_path: Path, quantization: dict[str, Any], package: str, named: str
) -> None:
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    ref = _checkpoint(tmp_path / "quantized", quantization)
    refused = _refusal(ref)
    method = quantization["quant_method"]
    assert refused.code == "E105" and refused.message.startswith(f"{ref} is {method}-quantized"), refused.message
    assert named in refused.message and refused.hint.startswith("install what it names, or certify a dequantized")


@pytest.mark.parametrize(
    ("quantization", "said"),
    [
        (["awq"], "quantization_config is list, not a mapping"),
        ({"bits": 4}, "quantization_config (?) is not one transformers reads"),
    ],
    ids=["not a mapping", "no method"],
)
def test_a_quantization_config_transformers_cannot_read_is_e102(
    tmp_path: Path, quantization: object, said: str
) -> None:
    refused = _refusal(_checkpoint(tmp_path / "quantized", quantization))
    assert refused.code == "E102" and said in refused.message, refused.message


def test_a_method_transformers_does_not_know_is_left_to_it(tmp_path: Path) -> None:
    """transformers skips an unknown method (with its own warning) and loads the weights as they are."""
    from invarlock.adapters.hf_quantized import check_quantized_environment

    check_quantized_environment(tmp_path, {"model_type": "llama", "quantization_config": {"quant_method": "mine"}})
    check_quantized_environment(tmp_path, {"model_type": "llama"})
