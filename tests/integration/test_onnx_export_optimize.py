"""The export's graph optimization (adapters/onnx_export._optimize) against what torch's exporter does by default
(`optimize=True`: onnxscript's optimize_ir, then its ONNX fusions): the same graph node for node, on one
exported program of a Llama of the demo's family.

The model here is a two-layer Llama built from a config with seeded random weights, not the demo checkpoint:
what is compared is a graph rewrite, which depends on the architecture's operators and not on what the weights
learned, and exporting the 30-layer demo twice would cost minutes (the demo's own export is checked in
test_onnx_model.py and the ONNX end-to-end tests)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.model]


def _unoptimized_program() -> object:
    import torch
    from invarlock.adapters.onnx_export import _logits_only
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config).eval()
    dims = {"input_ids": {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}}
    return torch.onnx.export(
        _logits_only(model),
        (torch.zeros((2, 16), dtype=torch.long),),
        dynamo=True,
        optimize=False,
        input_names=["input_ids"],
        output_names=["logits"],
        dynamic_shapes=dims,
    )


def _graph(model: object) -> tuple[object, ...]:
    import onnx_ir as ir

    proto = ir.serde.serialize_model(model)
    nodes = [
        (n.op_type, list(n.input), list(n.output), [a.SerializeToString() for a in n.attribute])
        for n in proto.graph.node
    ]
    initializers = sorted((i.name, i.SerializeToString()) for i in proto.graph.initializer)
    return (
        nodes,
        initializers,
        proto.graph.input,
        proto.graph.output,
        [(o.domain, o.version) for o in proto.opset_import],
    )


def test_the_export_optimization_gives_torchs_default_graph_node_for_node() -> None:
    pytest.importorskip("onnxscript", reason="the onnx extra is part of make install-dev")
    import onnx_ir as ir
    import onnxscript.optimizer
    from invarlock.adapters.onnx_export import _optimize
    from onnxscript.rewriter import onnx_fusions

    program = _unoptimized_program()
    proto = ir.serde.serialize_model(program.model)  # type: ignore[attr-defined]
    ours, torchs = ir.serde.deserialize_model(proto), ir.serde.deserialize_model(proto)
    _optimize(ours)
    onnxscript.optimizer.optimize_ir(torchs)  # what torch's exporter runs for optimize=True, then:
    onnx_fusions.fuse(torchs)
    assert _graph(ours) == _graph(torchs)
    # Without folding every projection reads its weight through a Transpose, where quantize_dynamic does not
    # find it; folded, each of the 2 layers' 7 projections multiplies by an initializer (the tied LM head
    # still transposes the embedding, as in the demo's export).
    assert _weight_matmuls(ir.serde.deserialize_model(proto)) == 0
    assert _weight_matmuls(ours) == 2 * 7


def _weight_matmuls(model: object) -> int:
    return sum(1 for n in model.graph if n.op_type == "MatMul" and n.inputs[1].is_initializer())  # type: ignore[attr-defined]
