"""The 2-D parameter names of a checkpoint's module, from its config alone (ports.loader.MatrixNames): the module
is built on PyTorch's meta device, so no weight is read or allocated (0.8 s for the demo's SmolLM2-135M here)."""

from __future__ import annotations

import functools
from pathlib import Path

from .hf_architecture import read_checkpoint_config
from .hf_load_checks import as_usage_error
from .hf_quiet import quiet_transformers


def matrix_names(path: Path, auto_class: str) -> tuple[str, ...] | None:
    """Every 2-D parameter name, tied aliases included, of the `transformers.<auto_class>` module `path` loads
    into; None for a pre-quantized checkpoint, whose parameters (packed weights, scales) its method sets at load.
    Raises UsageError E102 when transformers cannot build the module from the config (the load would fail too)."""
    if read_checkpoint_config(path).get("quantization_config") is not None:
        return None
    written = (path / "config.json").stat()
    return _names(str(path.resolve()), written.st_mtime_ns, written.st_size, auto_class)


@functools.lru_cache(maxsize=4)  # calibrate asks once per case of one model
def _names(path: str, mtime_ns: int, size: int, auto_class: str) -> tuple[str, ...]:
    import torch
    import transformers

    with as_usage_error(Path(path)), quiet_transformers(), torch.device("meta"):
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True)
        module = getattr(transformers, auto_class).from_config(config)
    return tuple(name for name, param in module.named_parameters(remove_duplicate=False) if param.ndim == 2)
