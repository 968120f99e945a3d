"""A module's copy that shares every parameter's storage with the original until one side writes it.

`HFWeights.duplicate` builds on this: `invarlock run` edits a copy of the baseline, and a certify whose subject
is the baseline's own reference compares a copy with it, so most or all of the subject's weights are the
baseline's. Holding them once is what keeps an edit from costing a second full set of weights; each side's
writes go through `WeightSource.assign` and `scale_weights`, which give a shared weight its own storage first
(each writes the whole weight).
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterator
from typing import Any

import torch

from . import file_pages
from .hf_dispatch import is_meta


def sharing_copy(module: Any) -> Any:
    """A deep copy of `module` whose plain parameters are new Parameter objects over the same storage (ties
    kept: each original parameter maps to one copy); buffers, Parameter subclasses (a quantization library's
    packed weights) and everything else are copied."""
    memo: dict[int, Any] = {
        id(param): torch.nn.Parameter(param.detach(), requires_grad=param.requires_grad) for param in _shareable(module)
    }
    return copy.deepcopy(module, memo)


def parameter_ids(module: Any) -> set[int]:
    """Identities of the module's parameters that a `sharing_copy` shares (plain ones holding values here: an
    offloaded one holds none)."""
    return {id(param) for param in _shareable(module)}


def _shareable(module: Any) -> list[torch.nn.Parameter]:
    return [p for p in module.parameters() if type(p) is torch.nn.Parameter and not is_meta(p)]


_KEPT: dict[int, weakref.ref[Any]] = {}  # address of a storage a kept reference reads -> that reference


def keep_storage(tensor: torch.Tensor, holder: object) -> None:
    """Mark `tensor`'s storage as read by `holder` (a released baseline's LM head, kept for a sequential run's KL:
    causal_reference) while `holder` lives: a write through any parameter over it (a later copy's edit) then gets
    private storage first, as a shared one does, so the kept values never change. A holder marks one storage: the
    one it reads now."""
    for address in [a for a, ref in _KEPT.items() if ref() is None or ref() is holder]:  # one storage per holder
        del _KEPT[address]
    _KEPT[tensor.data_ptr()] = weakref.ref(holder)


def _kept(param: torch.Tensor) -> bool:
    ref = _KEPT.get(param.data_ptr())
    return ref is not None and ref() is not None


def own_storage(param: torch.nn.Parameter, shared: set[int]) -> None:
    """Before a write of the whole parameter: one in `shared`, or over a storage a kept reference reads
    (keep_storage), gets private storage of its shape and layout, its values left for the caller to write (both
    callers overwrite every element, so copying the shared values first would be work done twice); the Parameter
    object, hence every tied alias, stays the same, and it leaves the set.

    So does one over pages of a memory-mapped checkpoint that hold the file's own bytes, those pages given back
    first (file_pages.release): written in place, each would first be copied for this process, a page fault per
    4 KiB (1.2 s for the demo's 405 MiB of linear weights on the 2-core Intel Xeon, against 0.1 s for new memory),
    and the resident set is the same either way."""
    if id(param) in shared or _kept(param):
        shared.discard(id(param))
    elif not _given_back(param):  # given back before the new memory comes: the resident set never holds both
        return
    with torch.no_grad():
        param.data = torch.empty_like(param.data)


def _given_back(param: torch.Tensor) -> bool:
    """Whether `param`'s pages were given back (file_pages.release): each held the file's own bytes."""
    return (
        param.device.type == "cpu" and param.is_contiguous() and file_pages.release(param.data_ptr(), param.nbytes) > 0
    )


def equal_pairs(module: Any, other: Any) -> Iterator[tuple[torch.nn.Parameter, torch.nn.Parameter]]:
    """(param, other's param of the same name) for each plain parameter of `module` (tied aliases once) whose
    shape, layout, dtype, device and every bit equal the other's, in other memory (NaN payloads and signed zeros
    compared as bits: equal values are not enough, the digests hash the bits). Lazily, one pair compared at a
    time: a caller that shares each pair as it comes holds the compared bytes of one weight at a time."""
    theirs = {name: p for name, p in other.named_parameters() if type(p) is torch.nn.Parameter and not is_meta(p)}
    for name, param in module.named_parameters():
        twin = theirs.get(name)
        if (
            twin is None
            or type(param) is not torch.nn.Parameter
            or is_meta(param)
            or twin.data_ptr() == param.data_ptr()
        ):
            continue
        if _layout(param) == _layout(twin) and torch.equal(_bits(param), _bits(twin)):
            yield param, twin


def same_bits(param: torch.Tensor, other: torch.Tensor) -> bool:
    """Whether both tensors have the same shape, layout, dtype, device and every bit (as equal_pairs compares)."""
    return _layout(param) == _layout(other) and torch.equal(_bits(param), _bits(other))


def _layout(param: torch.Tensor) -> tuple[Any, ...]:
    return param.shape, param.stride(), param.dtype, param.device


_BITS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _bits(param: torch.Tensor) -> torch.Tensor:
    return param.detach().view(_BITS[param.element_size()])
