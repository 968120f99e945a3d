"""hf_shared.sharing_copy: plain parameters are shared (ties kept) until own_storage gives one its own values;
buffers and Parameter subclasses (a quantization library's packed weights) are copied as a deep copy does."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.hf

from invarlock.adapters.hf_shared import own_storage, parameter_ids, sharing_copy  # noqa: E402  (needs torch)


class _Packed(torch.nn.Parameter):
    """A Parameter subclass, as bitsandbytes' Params4bit is one."""


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(5, 3)
        self.head = torch.nn.Linear(3, 5, bias=False)
        self.head.weight = self.embed.weight  # tied
        self.norm = torch.nn.LayerNorm(3)
        self.packed = _Packed(torch.arange(4, dtype=torch.float32), requires_grad=False)
        self.register_buffer("steps", torch.zeros(2))


def test_plain_parameters_are_shared_and_ties_kept_while_buffers_and_subclasses_are_copied() -> None:
    module = _Tiny()
    twin = sharing_copy(module)
    assert twin.embed.weight is not module.embed.weight and twin.head.weight is twin.embed.weight
    assert twin.embed.weight.data_ptr() == module.embed.weight.data_ptr()
    assert twin.norm.bias.data_ptr() == module.norm.bias.data_ptr()
    assert type(twin.packed) is _Packed and twin.packed.data_ptr() != module.packed.data_ptr()
    assert twin.steps.data_ptr() != module.steps.data_ptr()
    assert id(module.packed) not in parameter_ids(module) and id(module.embed.weight) in parameter_ids(module)


def test_own_storage_gives_a_shared_parameter_its_own_storage_once_and_keeps_its_object() -> None:
    module = _Tiny()
    twin = sharing_copy(module)
    shared = parameter_ids(twin)
    weight = twin.embed.weight
    before = module.embed.weight.detach().clone()
    own_storage(weight, shared)
    assert weight.data_ptr() != module.embed.weight.data_ptr()
    assert weight.shape == before.shape and weight.stride() == before.stride() and weight.dtype == before.dtype
    with torch.no_grad():
        weight.fill_(0.0)  # the caller writes the whole parameter
    assert twin.head.weight is weight and id(weight) not in shared
    assert torch.equal(module.embed.weight, before) and before.abs().sum() > 0, "the original keeps its values"
    pointer = weight.data_ptr()
    own_storage(weight, shared)
    assert weight.data_ptr() == pointer, "owned already: no second allocation"
