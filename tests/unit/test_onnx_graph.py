"""The ONNX weight map on small hand-built graphs: each pattern onnxruntime and the exporters write is read with
its layout, int8 weights with their scale and zero point, and a weight no rule maps is listed with the reason."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = [pytest.mark.hf]  # needs the onnx package (the onnx extra, installed with the hf one by make)


def _graph(nodes: list[Any], weights: dict[str, np.ndarray]) -> Any:
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(array, name) for name, array in weights.items()]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_graph(nodes, "g", [x], [y], initializer=inits)


def test_matmul_gemm_and_transposed_weights_are_read_with_their_layout() -> None:
    from invarlock.adapters.onnx_graph import map_weights
    from onnx import helper

    w = np.ones((4, 3), np.float32)
    graph = _graph(
        [
            helper.make_node("MatMul", ["x", "model.layers.0.mlp.up_proj.weight"], ["a"]),
            helper.make_node("Gemm", ["a", "model.layers.0.mlp.down_proj.weight"], ["b"], transB=1),
            helper.make_node("Transpose", ["lm_head.weight"], ["t"]),
            helper.make_node("MatMul", ["b", "t"], ["y"]),
        ],
        {
            "model.layers.0.mlp.up_proj.weight": w,
            "model.layers.0.mlp.down_proj.weight": w.T.copy(),
            "lm_head.weight": w,
        },
    )
    slots = {s.name: s for s in map_weights(graph).slots}
    assert slots["model.layers.0.mlp.up_proj.weight"].transposed is True
    assert slots["model.layers.0.mlp.up_proj.weight"].output == "a"
    assert slots["model.layers.0.mlp.down_proj.weight"].transposed is False
    assert slots["lm_head.weight"].transposed is False and slots["lm_head.weight"].head is True


def test_dequantize_linear_weights_carry_their_scale_and_zero_point() -> None:
    from invarlock.adapters.onnx_graph import map_weights
    from onnx import helper

    graph = _graph(
        [
            helper.make_node("DequantizeLinear", ["q.weight_quantized", "q.weight_scale", "q.weight_zp"], ["w"]),
            helper.make_node("MatMul", ["x", "w"], ["y"]),
        ],
        {
            "q.weight_quantized": np.ones((4, 3), np.int8),
            "q.weight_scale": np.array(0.5, np.float32),
            "q.weight_zp": np.array(0, np.int8),
        },
    )
    (slot,) = map_weights(graph).slots
    assert (slot.name, slot.storage, slot.scale, slot.zero_point) == (
        "q.weight", "q.weight_quantized", "q.weight_scale", "q.weight_zp"
    )  # fmt: skip


def test_a_weight_no_rule_maps_is_listed_with_the_reason() -> None:
    from invarlock.adapters.onnx_graph import map_weights
    from onnx import helper

    graph = _graph(
        [helper.make_node("MatMul", ["x", "onnx::MatMul_17"], ["y"])], {"onnx::MatMul_17": np.ones((4, 3), np.float32)}
    )
    mapped = map_weights(graph)
    assert mapped.slots == () and "onnx::MatMul_17" in mapped.unmapped
    assert "maps it to a model weight" in mapped.unmapped["onnx::MatMul_17"]


def test_an_unmapped_weight_keeps_the_hf_name_its_initializer_records() -> None:
    from invarlock.adapters.onnx_graph import map_weights
    from onnx import helper

    name = "model.layers.0.mlp.down_proj.weight"
    graph = _graph(
        [helper.make_node("Identity", [name], ["w"]), helper.make_node("MatMul", ["x", "w"], ["y"])],
        {name: np.ones((4, 3), np.float32)},
    )
    mapped = map_weights(graph)
    assert mapped.slots == () and list(mapped.unmapped) == [name]
    assert mapped.unmapped[name].startswith(f"initializer {name}: ")


def test_a_graph_quantizing_activations_at_run_time_is_batch_dependent_also_inside_a_subgraph() -> None:
    """quantize_dynamic writes DynamicQuantizeLinear before each MatMulInteger: its scale is computed over the
    whole pass, so a row's outputs depend on the rows beside it (the runner then runs one window per pass)."""
    from invarlock.adapters.onnx_graph import batch_dependent
    from onnx import TensorProto, helper

    weight = {"model.layers.0.mlp.up_proj.weight": np.ones((4, 3), np.float32)}
    plain = _graph([helper.make_node("MatMul", ["x", "model.layers.0.mlp.up_proj.weight"], ["y"])], weight)
    dynamic = [helper.make_node("DynamicQuantizeLinear", ["x"], ["x_q", "x_scale", "x_zp"])]
    quantized = _graph([*dynamic, helper.make_node("Identity", ["x_scale"], ["y"])], {})
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    branch = helper.make_graph([*dynamic, helper.make_node("Identity", ["x_scale"], ["y"])], "b", [], [out])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "o", [], [out])
    nested = _graph([helper.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=other)], {})
    assert (batch_dependent(plain), batch_dependent(quantized), batch_dependent(nested)) == (False, True, True)
