"""Write a Q8_0 GGUF of a LLaMA-architecture HF checkpoint with the `gguf` package alone, as llama.cpp's
convert_hf_to_gguf.py does: HF tensor names mapped by `gguf.get_tensor_name_map`, q/k projections permuted to
GGUF's rotary layout, 2-D weights quantized by `gguf.quants.quantize` (Q8_0), norms kept F32. The
metadata (hyper-parameters, tokenizer) is copied from a GGUF of the same model; `general.file_type` says Q8_0.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load_file

_SKIPPED_KEYS = ("GGUF.", "general.architecture", "general.file_type")


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _gguf_tensors(checkpoint: Path) -> dict[str, np.ndarray]:
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    heads = {"q_proj": config["num_attention_heads"], "k_proj": config["num_key_value_heads"]}
    tensors = {}
    for name, array in load_file(checkpoint / "model.safetensors").items():
        if name == "lm_head.weight" and config.get("tie_word_embeddings"):
            continue
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        assert target is not None, f"no GGUF name for {name}"
        projection = name.split(".")[-2]
        tensors[target] = _permute(array, heads[projection]) if projection in heads else array
    return tensors


def _copy_metadata(template: Path, writer: gguf.GGUFWriter) -> None:
    for key, field in gguf.GGUFReader(template).fields.items():
        if key.startswith(_SKIPPED_KEYS):
            continue
        value_type = field.types[0]
        sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), value_type, sub_type=sub_type)


def write_q8_0(checkpoint: Path, template: Path, out: Path) -> Path:
    """Write `out`: the float32 HF `checkpoint` quantized to Q8_0, with `template`'s metadata."""
    writer = gguf.GGUFWriter(out, arch="llama")
    _copy_metadata(template, writer)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    for name, array in _gguf_tensors(checkpoint).items():
        if array.ndim == 2:
            quantized = gguf.quants.quantize(array.astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(name, quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(name, array.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
