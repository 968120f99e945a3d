"""What an exported causal LM's graph must take and give for the onnx adapter to score it: `input_ids` of int64
(batch, positions) with a batch axis left free, and float `logits` of (batch, positions, vocab_size). Checked where
the graph is read, and the logits again where a pass gives them (a shape annotation may say what the graph does
not do): a graph that differs was E999 from onnxruntime or numpy mid-run, or scored NLLs from integer logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from invarlock.domain.errors import UsageError

_INT64 = 7  # onnx.TensorProto.INT64
_FLOATS = {1: "float32", 10: "float16", 11: "float64", 16: "bfloat16"}  # onnx.TensorProto element types
HINT = "export a causal LM without KV cache: input_ids int64 (batch, sequence), float logits (batch, sequence, vocab)"


def check_graph(path: Path, graph: Any) -> None:
    """UsageError E102 unless `graph` takes input_ids first and gives logits, of the types and ranks above."""
    if not graph.node and not graph.input:
        raise UsageError("E102", f"{path} holds no graph: an empty file, or not an ONNX model", "re-export it")
    inputs, outputs = list(graph.input), {o.name: o for o in graph.output}
    if inputs[:1] == [] or inputs[0].name != "input_ids" or "logits" not in outputs:
        raise UsageError("E102", f"{path} does not map input_ids to logits", HINT)
    ids, logits = inputs[0].type.tensor_type, outputs["logits"].type.tensor_type
    if ids.elem_type != _INT64 or (ids.HasField("shape") and len(ids.shape.dim) != 2):
        raise UsageError("E102", f"{path}: input_ids is not an int64 (batch, sequence) input", HINT)
    batch = fixed_batch(graph)
    if batch not in (None, 1):  # a batch of 1 runs one window a pass (onnx_causal's window_per_pass)
        said = f"{path}: input_ids has a fixed batch size of {batch}"
        raise UsageError("E102", said, "export with a dynamic batch axis (dynamic_axes / dynamic_shapes)")
    if logits.elem_type not in _FLOATS:
        raise UsageError("E102", f"{path}: logits are not floating point (ONNX element type {logits.elem_type})", HINT)
    _require_plain_initializers(path, graph)


def _require_plain_initializers(path: Path, graph: Any) -> None:
    """One dense initializer per name: onnxruntime computes with the first of two alike and with sparse ones,
    while the weights digest, census and guards read the last by name and no sparse one (a model scoring another
    weight kept the genuine model's identity: the ONNX hunt)."""
    if len(graph.sparse_initializer):
        said = f"{path} holds {len(graph.sparse_initializer)} sparse initializers, which invarlock does not fingerprint"
        raise UsageError("E102", said, "export the weights as dense initializers")
    seen: set[str] = set()
    for init in graph.initializer:
        if init.name in seen:
            raise UsageError("E102", f"{path} holds two initializers named {init.name!r}", "re-export it")
        seen.add(init.name)


def fixed_batch(graph: Any) -> int | None:
    """The batch size input_ids is fixed at, None when its batch axis is free (named, or stated as 0)."""
    ids = graph.input[0].type.tensor_type
    if not ids.HasField("shape") or not ids.shape.dim or not ids.shape.dim[0].HasField("dim_value"):
        return None
    return int(ids.shape.dim[0].dim_value) or None


def check_logits(
    path: Path, logits: np.ndarray, ids_shape: tuple[int, ...], vocab_size: int | None, tokens: int
) -> None:
    """UsageError E102 unless a pass's `logits` for input ids of `ids_shape` are float (batch, positions, vocab):
    as wide as config.json's `vocab_size`, or where it states none, at least the tokenizer's `tokens` (a target
    token without a logit was E999 from torch's gather)."""
    wide = vocab_size if vocab_size is not None else max(logits.shape[-1], tokens)
    if logits.dtype.kind != "f" or logits.shape != (*ids_shape, wide):
        said = f"{path} gave logits of {logits.dtype} {tuple(logits.shape)} for input_ids {tuple(ids_shape)}"
        stated = f"vocab_size {wide}" if vocab_size is not None else f"at least the tokenizer's {tokens} tokens"
        raise UsageError("E102", f"{said}, not float (batch, sequence, {stated})", HINT)
