"""Digests and census of a torch model's tensors and its HF config."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

import torch
from invarlock.domain.model import TensorInfo

from .hf_dispatch import is_meta, readable

# Bookkeeping that says how a config was saved or loaded, not what the model computes.
_CONFIG_IGNORED = frozenset({"transformers_version", "dtype", "torch_dtype", "quantization_config", "architectures"})


def dtype_name(dtype: torch.dtype) -> str:
    """`torch.float32` -> "float32"."""
    return str(dtype).removeprefix("torch.")


def weights_sha256(module: torch.nn.Module) -> str:
    """sha256 over (name, dtype, shape, raw bytes) of every state_dict tensor, sorted by name; one tensor is
    read at a time (an offloaded one through accelerate) and hashed in place, without a bytes copy."""
    digest = hashlib.sha256()
    state = module.state_dict(keep_vars=True)
    for name in sorted(state):
        with readable(module, name, state[name]) as value:
            tensor = value.to("cpu").contiguous()
            header = f"{name}\x00{dtype_name(tensor.dtype)}\x00{tuple(tensor.shape)}\x00"
            digest.update(header.encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
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
        with readable(module, name, tensor) as data:
            finite, all_zero = _finite_and_all_zero(data)
        infos.append(
            TensorInfo(
                name=name, dtype=dtype_name(data.dtype), shape=tuple(data.shape), finite=finite, all_zero=all_zero
            )
        )
    return tuple(infos)


def _finite_and_all_zero(data: torch.Tensor) -> tuple[bool, bool]:
    if data.numel() == 0:
        return True, True
    if data.dtype == torch.bool:
        return True, not bool(data.any())
    # One pass for both flags (~8x cheaper than isfinite().all() plus any()): min/max propagate NaN and
    # hold any infinity, and a tensor is all zero exactly when its min and max are both zero.
    low, high = torch.aminmax(data)
    finite = bool(torch.isfinite(low)) and bool(torch.isfinite(high)) if data.is_floating_point() else True
    return finite, bool(low == 0) and bool(high == 0)


def tied_groups(module: torch.nn.Module) -> tuple[tuple[str, ...], ...]:
    """Groups (sorted, two or more names) of state_dict entries that alias the same memory (an offloaded
    tensor has none: entries alias when they are the same parameter object)."""
    groups: dict[tuple[object, ...], list[str]] = defaultdict(list)
    for name, tensor in module.state_dict(keep_vars=True).items():
        if tensor.numel() == 0:
            continue
        if is_meta(tensor):
            groups[("meta", id(tensor))].append(name)
            continue
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        groups[key].append(name)
    return tuple(sorted(tuple(sorted(names)) for names in groups.values() if len(names) > 1))
