"""A write of a whole weight that lies in a memory-mapped checkpoint (the edit of `run`'s subject loaded on its own,
the variance guard's scales) takes new memory and gives the checkpoint's pages back (hf_shared.own_storage), instead
of copying each page for the process on its first write: the same values and digests, the same resident set. A
weight whose pages were written before, or a rejected array, is handled as before."""

from __future__ import annotations

import mmap
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from invarlock.domain.model import LoadOptions

from tests.resident import resident_kib

pytestmark = [
    pytest.mark.hf,
    pytest.mark.skipif(platform.system() != "Linux", reason="/proc/self/pagemap and smaps: Linux only"),
]


def _load(directory: Path) -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load(str(directory), LoadOptions(adapter="auto", device="cpu", dtype="float32"))


def _matrices(model: Any) -> dict[str, np.ndarray]:
    return {m.name: m.array.copy() for m in model.matrices()}


def _param(model: Any, name: str) -> torch.nn.Parameter:
    return dict(model.module.named_parameters())[name]


def test_an_edit_of_a_mapped_weight_writes_new_memory_and_gives_the_pages_back(demo_dir: Path) -> None:
    model = _load(demo_dir)
    before = _matrices(model)  # reads every weight: the checkpoint's pages resident
    name = next(n for n in before if n.endswith("mlp.down_proj.weight"))
    param = _param(model, name)
    address, whole_kib = param.data_ptr(), (param.nbytes // mmap.PAGESIZE - 1) * mmap.PAGESIZE // 1024
    view, resident = param.data, resident_kib(param.data_ptr())  # `view` keeps its pages mapped
    edited = before[name] * np.float32(0.5)
    model.assign(name, edited)
    assert param.data_ptr() != address and param.is_contiguous()
    assert resident_kib(address) <= resident - whole_kib  # its pages given back
    assert np.array_equal(view.numpy(), before[name])  # read again from the file, bit for bit
    after = _matrices(model)
    assert np.array_equal(after[name], edited)
    assert all(np.array_equal(after[n], before[n]) for n in before if n != name)
    again = param.data_ptr()
    model.assign(name, before[name])  # its own memory now: written in place
    assert param.data_ptr() == again and np.array_equal(_matrices(model)[name], before[name])


def test_the_edited_weights_have_the_digest_of_an_in_place_edit(demo_dir: Path) -> None:
    mapped, in_place = _load(demo_dir), _load(demo_dir)
    names = [n for n in _matrices(mapped) if ".layers.3." in n]
    for param in (p for n, p in in_place.module.named_parameters() if n in names):
        with torch.no_grad():  # one bit written in place and back: every page of it the process's own
            param.data.view(torch.int32).view(-1)[:: mmap.PAGESIZE // 4] ^= 1
            param.data.view(torch.int32).view(-1)[:: mmap.PAGESIZE // 4] ^= 1
    addresses = [{n: _param(m, n).data_ptr() for n in names} for m in (mapped, in_place)]
    for model in (mapped, in_place):
        for name in names:
            model.assign(name, _matrices(model)[name] * np.float32(0.25))
    assert all(_param(in_place, n).data_ptr() == addresses[1][n] for n in names)  # written in place, as before
    assert all(_param(mapped, n).data_ptr() != addresses[0][n] for n in names)
    assert mapped.identity().weights_sha256 == in_place.identity().weights_sha256


def test_a_conv1d_weight_is_written_transposed_into_its_new_memory(tiny_random_gpt2_dir: Path) -> None:
    model = _load(tiny_random_gpt2_dir)
    before = _matrices(model)
    name = next(n for n in before if n.endswith("mlp.c_fc.weight"))  # stored (in, out): written through .T
    address = _param(model, name).data_ptr()
    edited = np.arange(before[name].size, dtype=np.float32).reshape(before[name].shape)
    model.assign(name, edited)
    assert _param(model, name).data_ptr() != address
    assert np.array_equal(_matrices(model)[name], edited)


def test_a_rejected_array_leaves_the_weight_as_it_was(demo_dir: Path) -> None:
    model = _load(demo_dir)
    twin = model.duplicate()  # every weight shared: a write would give it new storage first
    before, identity = _matrices(twin), twin.identity()
    name = next(iter(before))
    for bad in (before[name][:, :-1], before[name].astype(np.float16)):
        with pytest.raises(ValueError, match=name):
            twin.assign(name, bad)
        with pytest.raises(ValueError, match=name):
            model.assign(name, bad)
    assert twin.identity() == identity and model.identity() == identity


def test_scales_over_mapped_weights_are_undone_bit_for_bit(demo_dir: Path) -> None:
    model = _load(demo_dir)
    identity = model.identity()
    names = [n for n in model.variance_taps()][:3]
    addresses = [_param(model, n).data_ptr() for n in names]
    model.scale_weights(dict.fromkeys(names, 0.5))
    scaled = _matrices(model)
    assert [_param(model, n).data_ptr() for n in names] != addresses
    model.scale_weights({})
    assert all(np.array_equal(scaled[n] * 2, _matrices(model)[n]) for n in names)
    assert model.identity() == identity
