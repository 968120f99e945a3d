"""A subject read from its own checkpoint holds the weights it has bit for bit in common with the baseline once
(`HFWeights.share_equal_weights`, called by the pipeline's input step): copy on write as after `duplicate`, the
same identity, and only bit-identical weights (a signed zero or one changed element keeps its own copy)."""

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

pytestmark = pytest.mark.hf


def _load(directory: Path) -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load(str(directory), LoadOptions(adapter="auto", device="cpu", dtype="float32"))


def _storage(model: Any) -> dict[str, int]:
    return {name: param.data_ptr() for name, param in model.module.named_parameters(remove_duplicate=False)}


def _differing(a: Any, b: Any) -> list[str]:
    mine, theirs = _storage(a), _storage(b)
    return sorted(name for name in mine if mine[name] != theirs[name])


def test_a_second_load_of_the_same_weights_shares_every_one(tiny_random_gpt2: Any, tiny_random_gpt2_dir: Path):
    subject = _load(tiny_random_gpt2_dir)
    before = subject.identity()
    assert _differing(subject, tiny_random_gpt2) == sorted(_storage(subject))  # two copies after the loads
    shared = subject.share_equal_weights(tiny_random_gpt2)
    assert shared == len(list(subject.module.parameters())) and _differing(subject, tiny_random_gpt2) == []
    assert subject.identity() == before
    assert subject.module.get_output_embeddings().weight is subject.module.get_input_embeddings().weight  # tied
    assert subject.share_equal_weights(tiny_random_gpt2) == 0  # shared already


def test_only_bit_identical_weights_are_shared(tiny_random_gpt2: Any, tiny_random_gpt2_dir: Path) -> None:
    subject = _load(tiny_random_gpt2_dir)
    matrices = {m.name: m.array for m in tiny_random_gpt2.matrices() if m.family in ("ffn", "attn")}
    changed, signed = list(matrices)[:2]
    array = matrices[changed].copy()
    array[0, 0] = np.nextafter(array[0, 0], np.float32(np.inf))  # one element, one ulp
    subject.assign(changed, array)
    zeroed = matrices[signed].copy()
    zeroed[0, 0] = 0.0
    tiny_random_gpt2.assign(signed, zeroed)
    zeroed[0, 0] = -0.0  # equal as a value, not as bits: the digests hash the bits
    subject.assign(signed, zeroed)
    before = subject.identity()
    subject.share_equal_weights(tiny_random_gpt2)
    assert _differing(subject, tiny_random_gpt2) == sorted([changed, signed])
    assert subject.identity() == before
    assert np.signbit(dict((m.name, m.array) for m in subject.matrices())[signed][0, 0])


def test_a_write_after_sharing_shows_on_one_side_only(tiny_random_gpt2: Any, tiny_random_gpt2_dir: Path) -> None:
    subject = _load(tiny_random_gpt2_dir)
    subject.share_equal_weights(tiny_random_gpt2)
    base_before, subject_before = tiny_random_gpt2.identity(), subject.identity()
    name, array = next((m.name, m.array) for m in subject.matrices() if m.family == "ffn")
    subject.assign(name, array * 2)  # the subject's write: its own storage first
    assert _differing(subject, tiny_random_gpt2) == [name]
    assert tiny_random_gpt2.identity() == base_before and subject.identity() != subject_before
    other = next(m.name for m in tiny_random_gpt2.matrices() if m.family == "attn")
    tiny_random_gpt2.scale_weights({other: 0.0})  # the baseline's write: the same
    assert _differing(subject, tiny_random_gpt2) == sorted([name, other])
    subject.assign(name, array)
    assert subject.identity() == subject_before


def test_a_model_of_another_adapter_shares_nothing(tiny_random_gpt2: Any) -> None:
    before = _storage(tiny_random_gpt2)
    assert tiny_random_gpt2.share_equal_weights(object()) == 0
    assert _storage(tiny_random_gpt2) == before


@pytest.mark.skipif(platform.system() != "Linux", reason="/proc/self/smaps: Linux only")
def test_the_checkpoint_pages_of_a_shared_weight_are_given_back(tiny_random_gpt2: Any, tiny_random_gpt2_dir: Path):
    subject = _load(tiny_random_gpt2_dir)  # safetensors maps the file; each weight is a view of its part
    before = subject.identity()  # reads every weight: every page of the file resident
    embedding = subject.module.get_input_embeddings().weight
    address, whole_pages_kib = embedding.data_ptr(), (embedding.nbytes // mmap.PAGESIZE - 1) * mmap.PAGESIZE // 1024
    held = next(m.name for m in subject.matrices() if m.family == "ffn")
    view = dict(subject.module.named_parameters())[held].data  # keeps the mapping alive once nothing else does
    values, resident = view.clone(), resident_kib(address)
    subject.share_equal_weights(tiny_random_gpt2)
    assert resident_kib(address) <= resident - whole_pages_kib  # the embedding's own pages at least
    assert subject.identity() == before and _differing(subject, tiny_random_gpt2) == []
    assert torch.equal(view, values)  # a page given back reads the file's bytes again


@pytest.mark.skipif(platform.system() != "Linux", reason="/proc/self/smaps: Linux only")
def test_a_weight_kept_apart_keeps_its_pages(tiny_random_gpt2: Any, tiny_random_gpt2_dir: Path) -> None:
    subject = _load(tiny_random_gpt2_dir)
    name = next(m.name for m in subject.matrices() if m.family == "ffn")
    kept = dict(subject.module.named_parameters())[name]
    with torch.no_grad():
        kept.data.view(torch.int32)[0, 0] ^= 1  # one bit, written in place: that page is the process's own now
    before, address = subject.identity(), kept.data_ptr()
    assert subject.share_equal_weights(tiny_random_gpt2) == len(list(subject.module.parameters())) - 1
    assert subject.identity() == before and kept.data_ptr() == address
    assert resident_kib(address) > 0
