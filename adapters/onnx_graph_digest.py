"""The digest of an ONNX model's computation: what it computes apart from its initializers' values.

The weights digest covers the initializers (name, dtype, shape, bytes); two graphs over the same initializers
can still compute different things (a Sigmoid rewritten as a Tanh), so the identity states this digest too
(`ModelIdentity.graph_sha256`). It covers the opsets, the model's local functions, the graph's inputs and
outputs (names and element types) and every node in order: its operator, domain, inputs, outputs and
attributes (subgraphs and constant tensors included), in their deterministic protobuf encoding. What computes
nothing is left out, so re-saving or annotating a graph keeps the digest: shapes and shape annotations
(`value_info`, symbolic dimension names), node and graph names, doc strings, metadata (an exporter's stack
traces and file paths), and whether a tensor was stored inline or in the external data file read back in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

# Fields that compute nothing, by message type ("*": any message that has them).
_LEFT_OUT = {
    "*": ("doc_string", "metadata_props"),
    "NodeProto": ("name",),
    "GraphProto": ("name", "value_info"),
    "TensorProto": ("data_location",),
    "Tensor": ("shape",),  # TypeProto.Tensor: the element type stays
}


def graph_sha256(proto: Any) -> str:
    """sha256 over `proto`'s (an onnx ModelProto) opsets, functions, graph inputs, outputs and nodes."""
    digest = hashlib.sha256(b"invarlock/onnx-graph/v1\x00")
    opsets = sorted((op.domain, op.version) for op in proto.opset_import)
    digest.update(repr(opsets).encode())
    graph = proto.graph
    parts: list[tuple[bytes, Iterable[Any]]] = [
        (b"function", proto.functions),
        (b"input", graph.input),
        (b"output", graph.output),
        (b"node", graph.node),
    ]
    for label, messages in parts:
        for message in messages:
            encoded = _canonical(message).SerializeToString(deterministic=True)
            digest.update(label + b"\x00" + len(encoded).to_bytes(8, "little") + encoded)
    return digest.hexdigest()


def _canonical(message: Any) -> Any:
    """A copy of `message` without the fields that compute nothing (_LEFT_OUT), at every depth."""
    copy = type(message)()
    copy.CopyFrom(message)
    _strip(copy)
    return copy


def _strip(message: Any) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for name in (*_LEFT_OUT["*"], *_LEFT_OUT.get(message.DESCRIPTOR.name, ())):
        if name in fields:
            message.ClearField(name)
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for item in (value,) if hasattr(value, "ListFields") else value:  # one message, or a repeated field
            _strip(item)
