"""An ONNX model's graph digest: what the graph computes apart from its initializers' values. A rewritten node
changes it; weight values, shape annotations, doc strings and re-saving with external data do not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from invarlock.adapters.onnx_graph_digest import graph_sha256  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(activation: str = "Sigmoid", weight: float = 0.5) -> Any:
    """Y = activation(X @ W) + C, with C a 2 KiB constant (saved to the external data file)."""
    w = numpy_helper.from_array(np.full((4, 4), weight, np.float32), "W")
    c = numpy_helper.from_array(np.arange(512, dtype=np.float32).reshape(128, 4), "C_value")
    nodes = [
        helper.make_node("Constant", [], ["C"], value=c),
        helper.make_node("MatMul", ["X", "W"], ["H"]),
        helper.make_node(activation, ["H"], ["A"]),
        helper.make_node("Add", ["A", "C"], ["Y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [128, 4])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [128, 4])],
        initializer=[w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_node_rewritten_over_the_same_weights_changes_the_digest() -> None:
    assert graph_sha256(_model("Tanh")) != graph_sha256(_model("Sigmoid"))


def test_weight_values_shape_annotations_and_doc_strings_leave_it() -> None:
    annotated = _model(weight=0.25)
    annotated.graph.value_info.append(helper.make_tensor_value_info("H", TensorProto.FLOAT, [128, 4]))
    annotated.graph.doc_string = "annotated"
    annotated.producer_name = "another exporter"
    assert graph_sha256(annotated) == graph_sha256(_model())


def test_names_symbolic_dimensions_and_exporter_metadata_leave_it() -> None:
    """A renamed dim_param and stripped node metadata (an exporter's stack traces) failed an honest audit (the
    regression hunt)."""
    renamed = _model()
    renamed.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    for i, node in enumerate(renamed.graph.node):
        node.name = f"node_{i}"
        node.doc_string = "exported"
        entry = node.metadata_props.add()
        entry.key, entry.value = "pkg.torch.onnx.stack_trace", "/home/someone/model.py:12"
    renamed.graph.name = "another"
    assert graph_sha256(renamed) == graph_sha256(_model())


def test_an_input_of_another_element_type_or_name_changes_it() -> None:
    other = _model()
    other.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    assert graph_sha256(other) != graph_sha256(_model())
    renamed = _model()
    renamed.graph.input[0].name = "X2"
    assert graph_sha256(renamed) != graph_sha256(_model())


def test_another_opset_changes_it() -> None:
    other = _model()
    other.opset_import[0].version = 18
    assert graph_sha256(other) != graph_sha256(_model())


def test_a_graph_saved_with_external_data_and_read_back_keeps_it(tmp_path: Path) -> None:
    """A constant's tensor saved to the data file (as exporters that convert attributes do) is marked with a
    data location when onnx reads it back, which the inline original lacks."""
    onnx.save_model(_model(), str(tmp_path / "model.onnx"), save_as_external_data=True, convert_attribute=True)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) > 2048 + 64, "the constant went to a data file"
    read_back = onnx.load(str(tmp_path / "model.onnx"))
    constant = read_back.graph.node[0].attribute[0].t
    assert constant.HasField("data_location"), "onnx marks what it read back"
    assert graph_sha256(read_back) == graph_sha256(_model())
