"""Digests and census of a torch model's tensors and its HF config."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

import torch
from invarlock.domain.model import TensorInfo

# Bookkeeping that says how a config was saved or loaded, not what the model computes.
_CONFIG_IGNORED = frozenset({"transformers_version", "dtype", "torch_dtype", "quantization_config", "architectures"})


def dtype_name(dtype: torch.dtype) -> str:
    """`torch.float32` -> "float32"."""
    return str(dtype).removeprefix("torch.")


def weights_sha256(module: torch.nn.Module) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of every state_dict tensor, sorted by name."""
    digest = hashlib.sha256()
    state = module.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        header = f"{name}\x00{dtype_name(tensor.dtype)}\x00{tuple(tensor.shape)}\x00"
        digest.update(header.encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def config_sha256(config: Any) -> str:
    """sha256 of the config's canonical JSON, without quantization metadata and load/save bookkeeping."""
    raw = json.loads(json.dumps(config.to_dict(), default=str))
    kept = {k: v for k, v in raw.items() if k not in _CONFIG_IGNORED and not k.startswith("_")}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def tensor_infos(module: torch.nn.Module) -> tuple[TensorInfo, ...]:
    """Name, dtype, shape, finiteness and all-zero flag of every state_dict tensor (tied duplicates too)."""
    infos = []
    for name, tensor in module.state_dict(keep_vars=True).items():
        data = tensor.detach()
        finite = _all_finite(data)
        infos.append(
            TensorInfo(
                name=name,
                dtype=dtype_name(data.dtype),
                shape=tuple(data.shape),
                finite=finite,
                all_zero=not bool(data.any()),
            )
        )
    return tuple(infos)


def _all_finite(data: torch.Tensor) -> bool:
    if not data.is_floating_point():
        return True
    # Any NaN/inf element makes the sum non-finite; a finite sum is proof, and ~25x cheaper than isfinite.
    if bool(torch.isfinite(data.sum())):
        return True
    return bool(torch.isfinite(data).all())  # the sum may overflow on finite values: decide exactly


def tied_groups(module: torch.nn.Module) -> tuple[tuple[str, ...], ...]:
    """Groups (sorted, two or more names) of state_dict entries that alias the same memory."""
    groups: dict[tuple[int, int, tuple[int, ...]], list[str]] = defaultdict(list)
    for name, tensor in module.state_dict(keep_vars=True).items():
        if tensor.numel() == 0:
            continue
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        groups[key].append(name)
    return tuple(sorted(tuple(sorted(names)) for names in groups.values() if len(names) > 1))
