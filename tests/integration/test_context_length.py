"""HFModelLoader.context_length: the most window tokens a checkpoint's forward pass takes, read from its
config.json alone (the preflight's `context` check refuses a longer dataset.seq_len before any model loads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.config_checkpoints import config_only_checkpoint

pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


def _context(ref: str, adapter: str = "auto") -> int | None:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().context_length(ref, adapter=adapter)


@pytest.mark.parametrize(
    ("config", "context"),
    [
        ({"model_type": "gpt2", "n_positions": 1024}, 1024),  # GPT-2 names its table n_positions
        ({"model_type": "llama", "max_position_embeddings": 8192}, 8192),
        ({"model_type": "bert", "max_position_embeddings": 512}, 510),  # [CLS] and [SEP] take two positions
        ({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": 1}, 510),  # ids start at 2
        ({"model_type": "roberta", "max_position_embeddings": 514}, 510),  # transformers' default pad id, 1
        ({"model_type": "llama"}, None),  # no table stated: no bound
        ({"model_type": "roberta", "max_position_embeddings": 514, "pad_token_id": None}, None),
    ],
)
def test_the_context_is_the_position_table_less_what_the_adapter_adds(
    tmp_path: Path, config: dict[str, Any], context: int | None
) -> None:
    assert _context(config_only_checkpoint(tmp_path / "model", **config)) == context


def test_a_causal_lm_read_as_a_classifier_keeps_its_whole_table(tmp_path: Path) -> None:
    ref = config_only_checkpoint(tmp_path / "model", model_type="qwen2", max_position_embeddings=32768)
    assert _context(ref, adapter="hf_seqcls") == 32768


def test_a_reference_that_is_no_model_is_the_loaders_own_error(tmp_path: Path) -> None:
    from invarlock.domain.errors import UsageError

    with pytest.raises(UsageError) as caught:
        _context(str(tmp_path / "missing"))
    assert caught.value.code == "E101"


@pytest.mark.parametrize(
    ("config", "shapes"),
    [
        (
            {"model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30, "intermediate_size": 1536},
            {"hidden_size": 576, "num_hidden_layers": 30, "intermediate_size": 1536},
        ),
        ({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_inner": None}, {"n_embd": 768, "n_layer": 12}),
        ({"model_type": "llama", "num_attention_heads": 9, "vocab_size": 49152}, {}),
    ],
    ids=["llama names", "GPT-2 names, n_inner unset", "neither a count nor a shape key"],
)
def test_shape_settings_are_the_config_s_counts_that_fix_weight_shapes(
    tmp_path: Path, config: dict[str, Any], shapes: dict[str, int]
) -> None:
    """Heads and vocabulary are left out: equal hidden sizes keep the attention matrices' shapes, and the
    tokenizers check compares what fixes the embedding's rows."""
    from invarlock.adapters.hf_loader import HFModelLoader

    assert HFModelLoader().shape_settings(config_only_checkpoint(tmp_path / "m", **config)) == shapes


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("vocab_size", 0),
        ("num_hidden_layers", -1),
        ("hidden_size", "576"),
        ("n_head", 0),
        ("n_layer", True),
        ("num_hidden_layers", 10**30),  # the doctor's meta build grew without end (the regression hunt)
        ("vocab_size", 2**70),
        ("max_position_embeddings", 0),  # read as no table, so no bound on a window's tokens
        ("n_positions", "1024"),  # read as no table too
    ],
)
def test_a_size_transformers_builds_no_model_from_is_e102_naming_it(tmp_path: Path, key: str, value: Any) -> None:
    """Refused where config.json is read, so the doctor says so too, not only the load that would follow."""
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.domain.errors import UsageError

    ref = config_only_checkpoint(tmp_path / "m", model_type="llama", **{key: value})
    with pytest.raises(UsageError) as caught:
        HFModelLoader().shape_settings(ref)
    assert caught.value.code == "E102" and f"config.json: {key} is " in caught.value.message
    assert "not a whole number from 1 to " in caught.value.message, caught.value.message
