"""`model.device_map` for the HF loader: from_pretrained's `device_map`/`max_memory`/`offload_folder` keywords
for a DevicePlacement, and the device map recorded for a model accelerate put on one device."""

from __future__ import annotations

import shutil
import tempfile
import weakref
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.model import DEVICE_MAPS, DevicePlacement

from .hf_dispatch import is_meta


def keywords(placement: DevicePlacement | None, device: str) -> dict[str, Any] | None:
    """from_pretrained's keywords for `placement` (None without one). A device map decides the devices, so
    `device` must be left at auto; with `max_memory`, what fits nowhere is offloaded to a temporary folder
    (removed with the model). Raises UsageError E104 for an unknown map, another device or a bad cap."""
    if placement is None:
        return None
    if placement.device_map not in DEVICE_MAPS:
        raise UsageError(
            "E104", f"unknown model.device_map '{placement.device_map}'", f"use {' or '.join(DEVICE_MAPS)}"
        )
    if device != "auto":
        raise UsageError(
            "E104", f"model.device '{device}' and model.device_map both place the model", "leave device at auto"
        )
    spread: dict[str, Any] = {"device_map": placement.device_map}
    if placement.max_memory is not None:
        spread["max_memory"] = {_device_key(key): size for key, size in placement.max_memory.items()}
        spread["offload_folder"] = tempfile.mkdtemp(prefix="invarlock-offload-")
    return spread


def _device_key(key: str) -> int | str:
    """accelerate names a GPU by its index (an int), the others `cpu`/`disk`/`mps`."""
    if key.isdigit():
        return int(key)
    if key not in ("cpu", "disk", "mps"):
        raise UsageError("E104", f"model.max_memory names an unknown device '{key}'", "use 0, 1, ..., cpu or disk")
    return key


def discard(spread: dict[str, Any] | None) -> None:
    """Remove the offload folder `keywords` made for a load that failed before `placed` took it over."""
    if spread is not None and spread.get("offload_folder") is not None:
        shutil.rmtree(spread["offload_folder"], ignore_errors=True)


def placed(module: Any, spread: dict[str, Any]) -> Any:
    """`module` as accelerate placed it, with `hf_device_map` set also when the whole model landed on one
    device (transformers then leaves it unset): the identity records the map whenever one was asked for."""
    folder = spread.get("offload_folder")
    if folder is not None:
        weakref.finalize(module, shutil.rmtree, folder, ignore_errors=True)
    if getattr(module, "hf_device_map", None) is None:
        first = next((p.device for p in module.parameters() if not is_meta(p)), "cpu")
        module.hf_device_map = {"": str(first)}
    return module
