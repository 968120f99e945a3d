"""The parameters of a checkpoint's module, from its config alone: the module is built on PyTorch's meta device, so
no weight is read or allocated (about 0.05 s for the demo's SmolLM2-135M once transformers has imported its class).
Their 2-D names (ports.loader.MatrixNames), and their shapes against the checkpoint's safetensors headers."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from invarlock.domain.errors import UsageError

from .hf_architecture import read_checkpoint_config
from .hf_load_checks import as_usage_error, refuse_mismatched_shapes, refuse_unused_weights
from .hf_quiet import quiet_transformers
from .hf_weight_files import header_shapes

_BLOCK_NUMBER = re.compile(r"\.\d+\.")  # the first `.N.` of a name: its block (model.layers.29.mlp...)


def matrix_names(path: Path, auto_class: str) -> tuple[str, ...] | None:
    """Every 2-D parameter name, tied aliases included, of the `transformers.<auto_class>` module `path` loads
    into; None for a pre-quantized checkpoint, whose parameters (packed weights, scales) its method sets at load.
    Raises UsageError E102 when transformers cannot build the module from the config (the load would fail too)."""
    shapes = matrix_shapes(path, auto_class)
    return None if shapes is None else tuple(shapes)


def matrix_shapes(path: Path, auto_class: str) -> dict[str, tuple[int, ...]] | None:
    """matrix_names' parameters, each with its shape."""
    shapes = _module_shapes(path, auto_class)
    return None if shapes is None else {name: shape for name, shape in shapes.items() if len(shape) == 2}


def check_weight_shapes(path: Path, auto_class: str) -> None:
    """UsageError E102, as the load gives it (hf_load_checks.refuse_mismatched_shapes), when a tensor of the
    checkpoint's safetensors files has another shape than the parameter of that very name in the module its
    config.json builds: a config that does not match its weights (a structured pruning saved with the old config).
    The load refused it only after the baseline's whole pass when one model is held at a time. A causal LM's
    weights in blocks its module does not have (extra_blocks) are E102 as the load gives them too. Names the module
    gives otherwise (a prefix, a legacy key) are left to the load, as are a pre-quantized checkpoint, one without
    safetensors files and a config transformers cannot build on the meta device."""
    try:
        shapes = _module_shapes(path, auto_class)
    except UsageError:  # the load gives its own error, from the weights transformers reads
        return
    if shapes is None:
        return
    in_file = header_shapes(path)
    mismatched = [(name, in_file[name], shapes[name]) for name in in_file if name in shapes]
    refuse_mismatched_shapes(sorted(m for m in mismatched if m[1] != m[2]), path)
    if auto_class == "AutoModelForCausalLM":  # the load refuses unused weights of a causal LM only
        refuse_unused_weights(extra_blocks(in_file, shapes), path)


def extra_blocks(in_file: Mapping[str, object], module: Mapping[str, object]) -> list[str]:
    """The file's weights in numbered blocks its module does not have (more layers than the config's
    num_hidden_layers): a name the module lacks that it has with another block's number. Other names the module
    lacks (a prefix, a legacy key, a buffer transformers ignores) are left to the load, which knows its rules."""
    schemes = {_BLOCK_NUMBER.sub(".#.", name, count=1) for name in module}
    extra = (name for name in in_file if name not in module and _BLOCK_NUMBER.search(name))
    return sorted(name for name in extra if _BLOCK_NUMBER.sub(".#.", name, count=1) in schemes)


def _module_shapes(path: Path, auto_class: str) -> Mapping[str, tuple[int, ...]] | None:
    if read_checkpoint_config(path).get("quantization_config") is not None:
        return None
    written = (path / "config.json").stat()
    return _shapes(str(path.resolve()), written.st_mtime_ns, written.st_size, auto_class)


@functools.lru_cache(maxsize=4)  # calibrate asks once per case of one model
def _shapes(path: str, mtime_ns: int, size: int, auto_class: str) -> Mapping[str, tuple[int, ...]]:
    import torch
    import transformers

    with as_usage_error(Path(path)), quiet_transformers(), torch.device("meta"):
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        module = getattr(transformers, auto_class).from_config(config)
    return MappingProxyType({name: tuple(p.shape) for name, p in module.named_parameters(remove_duplicate=False)})
