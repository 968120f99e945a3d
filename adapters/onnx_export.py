"""Export a Hugging Face causal LM to an ONNX model directory the `onnx` adapter loads, and quantize one to int8.

`export_causal_lm` uses torch's dynamo exporter (`torch.onnx.export(..., dynamo=True)`, which needs
`onnxscript`): the legacy TorchScript exporter fails on the LLaMA attention mask, and optimum is not a
dependency. The exporter's graph optimization runs without one costly rewrite rule (`_optimize`).
The graph takes `input_ids` (batch, sequence; both dynamic) and returns `logits`, without a KV
cache. The exporter names most weights `val_N`; each is renamed to the HF parameter it comes from (from the
node's recorded module scope), so the weight guards and `quantize_dynamic`'s `<name>_quantized` tensors keep
HF names. The HF `config.json` and tokenizer files are copied next to `model.onnx`.
"""

from __future__ import annotations

import ast
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

DATA_SUFFIX = ".data"
_COPIED = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
_WRAPPER = "m"  # attribute of the export wrapper holding the HF model: scopes read `m.model.layers.0...`


def export_causal_lm(hf_dir: str | Path, out_dir: str | Path) -> Path:
    """Export the float32 HF causal LM in `hf_dir` to `out_dir/model.onnx` (+ `model.onnx.data`) with its
    config and tokenizer files. Takes about a minute and a half for a 135 M parameter model on 2 CPU cores."""
    import onnx
    import torch
    from transformers import AutoModelForCausalLM

    source, out = Path(hf_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).eval()
    wrapper = _logits_only(model)
    dims = {"input_ids": {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}}
    example = torch.zeros((2, 16), dtype=torch.long)
    program = torch.onnx.export(
        wrapper,
        (example,),
        dynamo=True,
        optimize=False,
        input_names=["input_ids"],
        output_names=["logits"],
        dynamic_shapes=dims,
    )
    _optimize(program.model)
    staging = out / "exported.onnx"
    program.save(str(staging), external_data=True)
    proto = onnx.load(str(staging), load_external_data=True)
    rename_to_hf_parameters(proto)
    save_model(proto, out / "model.onnx")
    for path in (staging, staging.with_name(staging.name + DATA_SUFFIX)):
        path.unlink(missing_ok=True)
    for name in _COPIED:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    return out


def _optimize(model: Any) -> None:
    """What `torch.onnx.export(optimize=True)` does to the graph (onnxscript's `optimize_ir`, then its ONNX
    fusions), in place, without the `SlicesSplit` rewrite rule: on the 135 M demo model that one rule cost
    about 30 s of each of the optimizer's two rounds on 2 CPU cores and rewrote nothing, and the graph is the
    same node for node without it (docs/performance.md, ONNX export). Constant folding is what matters here:
    it turns a weight read through a Transpose into a transposed initializer, which `quantize_dynamic` needs."""
    import onnx_ir as ir
    import onnx_ir.passes.common as common
    from onnxscript import rewriter
    from onnxscript.optimizer import _constant_folding
    from onnxscript.rewriter import onnx_fusions

    rules = [rule for rule in rewriter._DEFAULT_REWRITE_RULES if getattr(rule, "name", None) != "SlicesSplit"]
    rounds = ir.passes.PassManager(
        [
            _constant_folding.FoldConstantsPass(
                shape_inference=True,
                input_size_limit=_constant_folding.DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT,
                output_size_limit=_constant_folding.DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT,
            ),
            rewriter.RewritePass(rules),
            common.RemoveUnusedNodesPass(),
            common.RemoveUnusedFunctionsPass(),
            common.RemoveUnusedOpsetsPass(),
        ],
        steps=2,
        early_stop=True,
    )
    ir.passes.Sequential(
        common.InlinePass(),
        rounds,
        common.RemoveUnusedNodesPass(),
        common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
        common.LiftSubgraphInitializersToMainGraphPass(),
        common.DeduplicateInitializersPass(),
        common.CommonSubexpressionEliminationPass(),
        common.OutputFixPass(),
        common.NameFixPass(),
    )(model)
    onnx_fusions.fuse(model)


def quantize_int8(onnx_dir: str | Path, out_dir: str | Path) -> Path:
    """`onnxruntime.quantization.quantize_dynamic` of `onnx_dir/model.onnx` (int8 weights of every MatMul,
    per tensor; activations quantized at run time) into `out_dir`, with the config and tokenizer files."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, out = Path(onnx_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(
        source / "model.onnx",
        out / "model.onnx",
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        use_external_data_format=True,
    )
    for name in _COPIED:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    return out


def save_model(proto: Any, path: Path) -> None:
    """Save with every weight in one external data file `<name>.data` next to it (no 2 GB protobuf limit)."""
    import onnx

    path.with_name(path.name + DATA_SUFFIX).unlink(missing_ok=True)
    onnx.save_model(
        proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=path.name + DATA_SUFFIX
    )


def rename_to_hf_parameters(proto: Any) -> None:
    """Rename each initializer that holds an HF parameter to that parameter's name (in place); a name that
    two initializers would share, or that another initializer already has, is left as exported."""
    consumers = _first_consumers(proto.graph)
    renames = {}
    for init in proto.graph.initializer:
        scope = _module_scope(consumers.get(init.name)) if len(init.dims) == 2 else None
        new = f"{scope}.weight" if scope is not None else init.name.removeprefix(f"{_WRAPPER}.")
        if new != init.name:
            renames[init.name] = new
    counts = Counter(renames.values())
    kept = {init.name for init in proto.graph.initializer if init.name not in renames}
    renames = {old: new for old, new in renames.items() if counts[new] == 1 and new not in kept}
    for init in proto.graph.initializer:
        init.name = renames.get(init.name, init.name)
    for node in proto.graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        _unwrap_scopes(node)


def _unwrap_scopes(node: Any) -> None:
    """Drop the export wrapper from the node's recorded module scopes, as if the HF model were the root."""
    for prop in node.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            path = ast.literal_eval(prop.value)
            kept = [p.removeprefix(f"{_WRAPPER}.") for p in path if p != _WRAPPER]
            prop.value = repr(kept)


def _first_consumers(graph: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, node)
    return found


def _module_scope(node: Any) -> str | None:
    """The HF module a MatMul/Gemm/Gather node belongs to, from the dynamo exporter's name scopes."""
    if node is None or node.op_type not in ("MatMul", "Gemm", "Gather", "Transpose"):
        return None
    meta = {p.key: p.value for p in node.metadata_props}
    scopes = meta.get("pkg.torch.onnx.name_scopes")
    if scopes is None:
        return None
    path = ast.literal_eval(scopes)
    if len(path) < 2 or not path[-2].startswith(f"{_WRAPPER}."):
        return None
    module: str = path[-2].removeprefix(f"{_WRAPPER}.")
    return module


def _logits_only(model: Any) -> Any:
    """`model` wrapped so that the exported graph maps input_ids to logits alone (no cache outputs)."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            setattr(self, _WRAPPER, model)

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = getattr(self, _WRAPPER)(input_ids=input_ids, use_cache=False).logits
            return logits

    return LogitsOnly().eval()
