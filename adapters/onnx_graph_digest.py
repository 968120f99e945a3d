"""The digest of an ONNX model's computation: what it computes apart from its initializers' values.

The weights digest covers the initializers (name, dtype, shape, bytes); two graphs over the same initializers
can still compute different things (a Sigmoid rewritten as a Tanh), so the identity states this digest too
(`ModelIdentity.graph_sha256`). It covers the opsets, the model's local functions, the graph's inputs and
outputs and every node in order, each in its deterministic protobuf encoding (a node's subgraphs and constant
tensors included, whether a tensor was stored inline or in the external data file read back in). Shape
annotations (`value_info`), doc strings and producer fields compute nothing and are left out, so re-saving a
graph or annotating its shapes keeps the digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any


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
    """`message` with no tensor inside it stating where its data was stored: onnx sets `data_location` (to
    DEFAULT) on every tensor it read back from an external data file, which a tensor stored inline lacks."""
    if not _holds_tensors(message):
        return message
    copy = type(message)()
    copy.CopyFrom(message)
    _clear_locations(copy)
    return copy


def _holds_tensors(message: Any) -> bool:
    """Whether a node has a tensor or subgraph attribute; a local function's nodes may."""
    if message.DESCRIPTOR.name == "NodeProto":
        return any(field.message_type is not None for a in message.attribute for field, _ in a.ListFields())
    return message.DESCRIPTOR.name == "FunctionProto"


def _clear_locations(message: Any) -> None:
    if message.DESCRIPTOR.name == "TensorProto":
        message.ClearField("data_location")
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for item in (value,) if hasattr(value, "ListFields") else value:  # one message, or a repeated field
            _clear_locations(item)
