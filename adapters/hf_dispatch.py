"""The tensors of a model accelerate dispatched (`model.device_map`): an offloaded tensor sits on the meta
device and its values live in the weights map of its module's AlignDevicesHook (CPU RAM or a file on
disk). Reads go through accelerate's `align_module_device`; a tensor with no values anywhere is an error,
never skipped. Writes (edits, guard repairs) of an offloaded weight replace its entry in the weights map,
so they are held in RAM from then on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from invarlock.domain.errors import AbortError

_CPU = torch.device("cpu")


def is_meta(tensor: torch.Tensor) -> bool:
    """Whether `tensor` holds no values itself (an offloaded weight of a dispatched model)."""
    return tensor.device.type == "meta"


def device_map_of(module: torch.nn.Module) -> dict[str, str] | None:
    """Where a model loaded with a device map put each module (`hf_device_map`, values as text: a GPU
    index, `cpu`, `disk`); None for a model loaded without one."""
    placed = getattr(module, "hf_device_map", None)
    return None if placed is None else {name: str(where) for name, where in placed.items()}


def _owner(module: torch.nn.Module, name: str) -> tuple[torch.nn.Module, str]:
    path, _, attr = name.rpartition(".")
    return module.get_submodule(path), attr


@contextmanager
def readable(module: torch.nn.Module, name: str, tensor: torch.Tensor) -> Iterator[torch.Tensor]:
    """`tensor` (the state-dict entry `name` of `module`) with its values: itself when it holds them, else
    loaded to CPU through its module's offload hook for the duration of the block.

    Raises:
        AbortError: E410 when it is on the meta device and no accelerate offload hook holds its values.
    """
    if not is_meta(tensor):
        yield tensor.detach()
        return
    from accelerate.utils import align_module_device, has_offloaded_params  # only a dispatched model needs it

    owner, attr = _owner(module, name)
    if not has_offloaded_params(owner):
        raise _unreadable(name, "no accelerate offload hook holds its values")
    with align_module_device(owner, _CPU):
        value = getattr(owner, attr)
        if is_meta(value):
            raise _unreadable(name, "its offload hook did not load it")
        yield value.detach()


def write_offloaded(module: torch.nn.Module, name: str, value: torch.Tensor) -> None:
    """Replace the stored values of the offloaded weight `name` with `value` (a CPU tensor in its dtype and
    shape). Raises AbortError E410 when the weight's hook keeps no writable weights map."""
    from accelerate.utils import has_offloaded_params

    owner, attr = _owner(module, name)
    hook: Any = getattr(owner, "_hf_hook", None)
    weights_map = getattr(hook, "weights_map", None) if has_offloaded_params(owner) else None
    if weights_map is None:
        raise _unreadable(name, "no accelerate offload hook holds its values")
    key = f"{getattr(weights_map, 'prefix', '')}{attr}"
    store = getattr(weights_map, "dataset", weights_map)
    table = getattr(store, "state_dict", store)  # OffloadedWeightsLoader reads its state_dict before the disk
    if not isinstance(table, dict):
        raise _unreadable(name, f"its offload storage ({type(table).__name__}) cannot be written")
    table[key] = value.detach().to(_CPU).contiguous()


def _unreadable(name: str, why: str) -> AbortError:
    return AbortError(
        "E410",
        f"weight {name} of the dispatched model cannot be read or written: {why}",
        "load it with model.device_map: auto (accelerate's offload hooks), or without a device map",
    )
