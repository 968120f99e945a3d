"""What each built-in adapter scores, told from a checkpoint's config.json alone (ScoredKinds): the preflight's
`kind` check refuses a metric kind the adapter does not score before any model loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.config_checkpoints import config_only_checkpoint

pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


@pytest.mark.parametrize(
    ("config", "adapter", "told"),
    [
        ({"model_type": "llama"}, "auto", ("hf_causal", ("ppl_causal", "accuracy"))),
        ({"model_type": "qwen2"}, "hf_seqcls", ("hf_seqcls", ("accuracy",))),
        ({"model_type": "bert", "architectures": ["BertForMaskedLM"]}, "auto", ("hf_mlm", ("ppl_mlm",))),
        ({"model_type": "bert", "architectures": ["BertModel"]}, "auto", ("hf_encoder", ("embedding_cosine",))),
        ({"model_type": "roberta"}, "hf_mlm", ("hf_mlm", ("ppl_mlm",))),
    ],
    ids=["causal", "classification head", "masked LM", "encoder", "masked LM asked for"],
)
def test_the_adapter_that_runs_a_checkpoint_and_what_it_scores(
    tmp_path: Path, config: dict[str, Any], adapter: str, told: tuple[str, tuple[str, ...]]
) -> None:
    from invarlock.adapters.model_routing import RoutingModelLoader

    assert (
        RoutingModelLoader().scored_kinds(config_only_checkpoint(tmp_path / "model", **config), adapter=adapter) == told
    )


def test_an_onnx_model_scores_causal_token_nll_only(tmp_path: Path) -> None:
    from invarlock.adapters.model_routing import RoutingModelLoader

    ref = config_only_checkpoint(tmp_path / "onnx", model_type="llama")
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"")  # never read either
    assert RoutingModelLoader().scored_kinds(ref, adapter="auto") == ("onnx", ("ppl_causal",))


def test_an_adapter_that_cannot_run_the_model_type_is_the_loaders_own_error(tmp_path: Path) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.domain.errors import UsageError

    with pytest.raises(UsageError) as caught:
        HFModelLoader().scored_kinds(config_only_checkpoint(tmp_path / "model", model_type="llama"), adapter="hf_mlm")
    assert caught.value.code == "E104" and "adapter hf_mlm cannot run model_type 'llama'" in caught.value.message
