"""An HF model duplicated in memory (what `invarlock run` edits instead of reading the checkpoint twice) is the
model a second load gives: same identity and ties. The two share each weight's storage until either side writes
it (copy on write), so a write on one side never shows on the other."""

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


def test_a_duplicate_has_the_identity_and_ties_of_a_second_load(tiny_random_gpt2: Any, tiny_random_gpt2_dir: Path):
    from invarlock.adapters.hf_loader import HFModelLoader

    twin = tiny_random_gpt2.duplicate()
    reloaded = HFModelLoader().load(
        str(tiny_random_gpt2_dir), LoadOptions(adapter="auto", device="cpu", dtype="float32")
    )
    assert twin.identity() == reloaded.identity() == tiny_random_gpt2.identity()
    assert twin.census() == reloaded.census()
    assert twin.census().tied_groups, "the tiny GPT-2 ties its LM head to the embedding"
    assert twin.batch_size == tiny_random_gpt2.batch_size and twin.tokenizer() is tiny_random_gpt2.tokenizer()


def test_editing_a_duplicate_leaves_the_original_unchanged(tiny_random_gpt2: Any) -> None:
    before = tiny_random_gpt2.identity().weights_sha256
    twin = tiny_random_gpt2.duplicate()
    name, array = next((m.name, m.array) for m in twin.matrices() if m.family == "ffn")
    twin.assign(name, np.zeros_like(array))
    twin.scale_weights({name: 0.5})
    assert tiny_random_gpt2.identity().weights_sha256 == before
    assert twin.identity().weights_sha256 != before
    original = dict((m.name, m.array) for m in tiny_random_gpt2.matrices())[name]
    assert np.array_equal(original, array) and original.any()


def _storage(model: Any) -> dict[str, int]:
    return {name: param.data_ptr() for name, param in model.module.named_parameters(remove_duplicate=False)}


def test_a_duplicate_holds_only_the_weights_written_after_it(tiny_random_gpt2: Any) -> None:
    twin = tiny_random_gpt2.duplicate()
    assert _storage(twin) == _storage(tiny_random_gpt2), "nothing written yet: no second copy of any weight"
    name, array = next((m.name, m.array) for m in twin.matrices() if m.family == "ffn")
    twin.assign(name, array * 2)
    mine, theirs = _storage(twin), _storage(tiny_random_gpt2)
    assert [key for key in mine if mine[key] != theirs[key]] == [name]
    assert np.array_equal(dict((m.name, m.array) for m in twin.matrices())[name], array * 2)
    twin.assign(name, array * 3)  # owned now: written in place, no further copy
    assert _storage(twin)[name] == mine[name]


def test_writing_the_original_leaves_its_duplicate_unchanged(tiny_random_gpt2: Any) -> None:
    twin = tiny_random_gpt2.duplicate()
    before = twin.identity().weights_sha256
    name = next(m.name for m in tiny_random_gpt2.matrices() if m.family == "attn")
    tiny_random_gpt2.scale_weights({name: 0.0})
    assert twin.identity().weights_sha256 == before
    assert tiny_random_gpt2.identity().weights_sha256 != before
    tiny_random_gpt2.scale_weights({})
    assert tiny_random_gpt2.identity().weights_sha256 == before


def test_a_tied_weight_written_on_a_duplicate_stays_tied_there_and_untouched_in_the_original(
    tiny_random_gpt2: Any,
) -> None:
    twin = tiny_random_gpt2.duplicate()
    embedding = twin.module.get_input_embeddings().weight
    original = tiny_random_gpt2.module.get_input_embeddings().weight.detach().clone()
    name = next(n for n, p in twin.module.named_parameters() if p is embedding)
    twin.assign(name, np.zeros(tuple(embedding.shape), dtype=np.float32))
    assert twin.module.get_output_embeddings().weight is embedding and not embedding.any()
    assert twin.census().tied_groups == tiny_random_gpt2.census().tied_groups
    assert torch.equal(tiny_random_gpt2.module.get_input_embeddings().weight, original) and original.any()


def test_a_module_dispatched_over_several_devices_is_not_duplicated(tiny_random_gpt2: Any) -> None:
    tiny_random_gpt2.module.hf_device_map = {"transformer.h.0": 0, "transformer.h.1": "cpu"}  # as accelerate sets it
    assert tiny_random_gpt2.duplicate() is None, "the caller loads the reference again"


@pytest.mark.skipif(platform.system() != "Linux", reason="/proc/self/pagemap and smaps: Linux only")
def test_once_the_original_is_freed_a_duplicate_leaves_no_checkpoint_page_behind(tiny_random_gpt2_dir: Path) -> None:
    # a sequential run releases the baseline after copying it: its subject's edit must not put new memory
    # beside checkpoint pages that nothing reads any more (they stay resident while the mapping lives); it gives
    # them back (hf_shared.own_storage), and a later write goes in place
    import gc

    from invarlock.adapters.hf_loader import HFModelLoader

    original = HFModelLoader().load(str(tiny_random_gpt2_dir), LoadOptions(adapter="auto", device="cpu"))
    twin = original.duplicate()
    name, array = next((m.name, m.array.copy()) for m in twin.matrices() if m.family == "ffn")
    shared = _storage(twin)[name]
    del original
    gc.collect()
    param = dict(twin.module.named_parameters())[name]
    view, resident = param.data, resident_kib(shared)  # `view` keeps the mapping alive
    twin.assign(name, array * 2)
    written = _storage(twin)[name]
    assert resident_kib(shared) <= resident - (param.nbytes // mmap.PAGESIZE - 1) * mmap.PAGESIZE // 1024
    twin.scale_weights({name: 0.5})
    assert _storage(twin)[name] == written, "its own memory now: written in place"
    assert np.array_equal(dict((m.name, m.array) for m in twin.matrices())[name], array)
    assert np.array_equal(view.T.numpy() if view.shape != array.shape else view.numpy(), array)  # the file's bytes


def test_a_copy_of_a_copy_still_copies_on_write_while_the_first_model_lives(tiny_random_gpt2: Any) -> None:
    import gc

    before = tiny_random_gpt2.identity().weights_sha256
    middle = tiny_random_gpt2.duplicate()
    last = middle.duplicate()
    del middle
    gc.collect()
    name, array = next((m.name, m.array) for m in last.matrices() if m.family == "ffn")
    last.assign(name, np.zeros_like(array))
    assert tiny_random_gpt2.identity().weights_sha256 == before
    assert _storage(last)[name] != _storage(tiny_random_gpt2)[name]
