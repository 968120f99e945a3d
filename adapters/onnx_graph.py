"""Which ONNX initializers hold which HF weight matrices, read off the graph's MatMul/Gemm/Gather patterns.

A weight is found where the graph uses it: the B input of MatMul (stored (in, out)), of Gemm (transB says the
layout), of a Transpose feeding a MatMul (stored (out, in)), the table of the token-embedding Gather, and the
int8 forms `onnxruntime.quantization` writes: MatMulInteger (B int8, its zero point, and the weight scale the
Mul after it applies) and DequantizeLinear feeding a MatMul. Its name is the initializer's own when that is an
HF parameter name (`<module>.weight`, after dropping `_quantized`), else the module scope the dynamo exporter
records on the node. A 2-D weight matched by no rule is listed as unmapped, with the reason, under the HF name
its initializer or a node using it records (else the initializer's name).

`batch_dependent` tells whether the graph quantizes activations at run time (DynamicQuantizeLinear), with a scale
over the whole pass: the runner then runs each window in a pass of its own (onnx_causal).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_QUANTIZED_SUFFIX = "_quantized"
# Ops that quantize an activation with a scale and zero point computed at run time over the whole input tensor,
# every row of the pass at once: onnxruntime's quantize_dynamic writes DynamicQuantizeLinear before each
# MatMulInteger (and before QAttention); its contrib ops fuse the same computation.
_DYNAMIC_QUANTIZERS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul", "DynamicQuantizeLSTM"})


@dataclass(frozen=True)
class WeightSlot:
    """Where one HF weight matrix lives in the graph.

    Attributes:
        name: The HF parameter name (`model.layers.0.mlp.down_proj.weight`).
        storage: The initializer holding its values (float, or int8/uint8 when `scale` is set).
        transposed: Whether the initializer is stored (in, out); the matrix is (out, in).
        scale: Initializer of the dequantization scale (per tensor, or per output channel), None for float.
        zero_point: Initializer of the zero point (None: zero).
        output: The graph value this weight's product produces (its module's output, pre-residual).
        head: Whether it is a projection to the vocabulary that is not the embedding table.
    """

    name: str
    storage: str
    transposed: bool
    scale: str | None = None
    zero_point: str | None = None
    output: str | None = None
    head: bool = False


@dataclass(frozen=True)
class WeightMap:
    """Every mapped weight in graph order, the extra names of tied uses, and the unmapped 2-D weights."""

    slots: tuple[WeightSlot, ...]
    aliases: dict[str, str]  # tied use name -> the slot name holding the values (lm_head -> embed_tokens)
    unmapped: dict[str, str]  # initializer -> why it is not mapped


class _Graph:
    def __init__(self, graph: Any) -> None:
        self.inits = {init.name: init for init in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.nodes = list(graph.node)

    def init_input(self, node: Any, index: int) -> str | None:
        name = node.input[index] if len(node.input) > index else ""
        return name if name in self.inits else None

    def single_consumer(self, value: str, op: str) -> Any | None:
        users = self.consumers.get(value, [])
        return users[0] if len(users) == 1 and users[0].op_type == op else None


def map_weights(graph: Any) -> WeightMap:
    """The weight map of an ONNX GraphProto (read only)."""
    g = _Graph(graph)
    found: dict[str, tuple[WeightSlot, Any]] = {}
    aliases: dict[str, str] = {}
    for node in g.nodes:
        slot = _slot_of(g, node)
        if slot is None:
            continue
        storage, transposed, scale, zero, output = slot
        if storage in found:  # the tied LM head reuses the embedding table
            alias = _scope_name(node)
            if alias is not None and alias != found[storage][0].name:
                aliases[alias] = found[storage][0].name
            continue
        name = _hf_name(storage, node)
        if name is None:
            continue
        head = node.op_type != "Gather" and name.endswith("lm_head.weight")
        found[storage] = (WeightSlot(name, storage, transposed, scale, zero, output, head), node)
    mapped = {slot.storage for slot, _ in found.values()} | {s.scale for s, _ in found.values() if s.scale}
    unmapped = {
        _unmapped_name(g, name): f"initializer {name}: no MatMul/Gemm/Gather pattern maps it to a model weight"
        for name, init in g.inits.items()
        if len(init.dims) == 2 and min(init.dims) > 1 and name not in mapped
    }
    return WeightMap(slots=tuple(s for s, _ in found.values()), aliases=aliases, unmapped=unmapped)


def batch_dependent(graph: Any) -> bool:
    """Whether one row's outputs depend on the other rows of its pass: a node of the graph (or of a subgraph)
    quantizes an activation with a scale computed over the whole input tensor, as `quantize_dynamic` writes."""
    return any(
        node.op_type in _DYNAMIC_QUANTIZERS or any(batch_dependent(sub) for sub in _subgraphs(node))
        for node in graph.node
    )


def _subgraphs(node: Any) -> Iterator[Any]:
    """The graphs a node's attributes hold (the branches of If, the body of Loop and Scan)."""
    for attribute in node.attribute:
        if attribute.HasField("g"):
            yield attribute.g
        yield from attribute.graphs


def _slot_of(g: _Graph, node: Any) -> tuple[str, bool, str | None, str | None, str | None] | None:
    """(storage, transposed, scale, zero point, output value) of the weight a node multiplies by, if any."""
    op = node.op_type
    if op == "Gather":
        table = g.init_input(node, 0)
        return (table, False, None, None, None) if table and len(g.inits[table].dims) == 2 else None
    if op == "MatMulInteger":
        return _matmul_integer(g, node)
    if op not in ("MatMul", "Gemm"):
        return None
    b = node.input[1]
    transposed = True
    if op == "Gemm":
        transposed = not any(a.name == "transB" and a.i == 1 for a in node.attribute)
    if b in g.inits and len(g.inits[b].dims) == 2:
        return b, transposed, None, None, node.output[0]
    source = g.producer.get(b)
    if source is not None and source.op_type == "Transpose" and g.init_input(source, 0):
        return source.input[0], not transposed, None, None, node.output[0]
    if source is not None and source.op_type == "DequantizeLinear" and g.init_input(source, 0):
        zero = g.init_input(source, 2)
        return source.input[0], transposed, g.init_input(source, 1), zero, node.output[0]
    return None


def _matmul_integer(g: _Graph, node: Any) -> tuple[str, bool, str | None, str | None, str | None] | None:
    """MatMulInteger(x_q, W_q, x_zp, W_zp) -> Cast -> Mul(·, x_scale · W_scale): W_scale is the initializer
    input of the Mul that forms the combined scale."""
    weight = g.init_input(node, 1)
    if weight is None:
        return None
    cast = g.single_consumer(node.output[0], "Cast")
    rescale = g.single_consumer(cast.output[0], "Mul") if cast is not None else None
    if rescale is None:
        return None
    combined = g.producer.get(next((i for i in rescale.input if i != cast.output[0]), ""))  # type: ignore[union-attr]
    scale = next((i for i in combined.input if i in g.inits), None) if combined is not None else None
    if scale is None:
        return None
    return weight, True, scale, g.init_input(node, 3), rescale.output[0]


def _unmapped_name(g: _Graph, storage: str) -> str:
    """An unmapped weight's HF name when its initializer or a node using it tells it, else the initializer's."""
    names = [_hf_name(storage, node) for node in g.consumers.get(storage, [])] or [_hf_name(storage, None)]
    return next((name for name in names if name is not None), storage)


def _hf_name(storage: str, node: Any) -> str | None:
    base = storage.removesuffix(_QUANTIZED_SUFFIX)
    if base.endswith(".weight"):
        return base
    return _scope_name(node) if node is not None else None


def _scope_name(node: Any) -> str | None:
    scope = _module_scope(node)
    return f"{scope}.weight" if scope is not None else None


def _module_scope(node: Any) -> str | None:
    """The module path the dynamo exporter recorded for the node (`pkg.torch.onnx.name_scopes`)."""
    meta = {p.key: p.value for p in node.metadata_props}
    raw = meta.get("pkg.torch.onnx.name_scopes")
    if raw is None:
        return None
    try:
        path = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    return str(path[-2]) if isinstance(path, list) and len(path) >= 2 and path[-2] else None
