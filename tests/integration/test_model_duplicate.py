"""An HF model duplicated in memory (what `invarlock run` edits instead of reading the checkpoint twice) is the
model a second load gives: same identity and ties, its own weight storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from invarlock.domain.model import LoadOptions

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


def test_a_module_dispatched_over_several_devices_is_not_duplicated(tiny_random_gpt2: Any) -> None:
    tiny_random_gpt2.module.hf_device_map = {"transformer.h.0": 0, "transformer.h.1": "cpu"}  # as accelerate sets it
    assert tiny_random_gpt2.duplicate() is None, "the caller loads the reference again"
