"""What the onnx adapter requires of an exported graph before and while it scores it (the formats hunt: a fixed
batch size or int32 input_ids was E999 from onnxruntime mid-run, logits narrower than the vocabulary E999 from
numpy, integer logits were certified PASS, and an empty file read "does not map input_ids to logits")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from invarlock.domain.errors import UsageError

onnx = pytest.importorskip("onnx")
from invarlock.adapters.onnx_signature import check_graph, check_logits  # noqa: E402
from onnx import TensorProto, helper  # noqa: E402

PATH = Path("m/model.onnx")


def _graph(ids_type: int = TensorProto.INT64, ids_shape: Any = ("batch", "seq"), logits_type: int = 1) -> Any:
    ids = helper.make_tensor_value_info("input_ids", ids_type, list(ids_shape))
    logits = helper.make_tensor_value_info("logits", logits_type, ["batch", "seq", 8])
    node = helper.make_node("Identity", ["input_ids"], ["logits"])
    return helper.make_graph([node], "g", [ids], [logits])


def _said(graph: Any) -> str:
    with pytest.raises(UsageError) as refused:
        check_graph(PATH, graph)
    assert refused.value.code == "E102"
    return refused.value.message


def test_a_graph_taking_int64_ids_of_any_batch_and_giving_float_logits_is_taken() -> None:
    check_graph(PATH, _graph())
    check_graph(PATH, _graph(logits_type=TensorProto.FLOAT16))


@pytest.mark.parametrize(
    ("graph", "said"),
    [
        (helper.make_graph([], "empty", [], []), "m/model.onnx holds no graph: an empty file, or not an ONNX model"),
        (_graph(ids_type=TensorProto.INT32), "m/model.onnx: input_ids is not an int64 (batch, sequence) input"),
        (_graph(ids_shape=("seq",)), "m/model.onnx: input_ids is not an int64 (batch, sequence) input"),
        (_graph(logits_type=TensorProto.INT64), "m/model.onnx: logits are not floating point (ONNX element type 7)"),
    ],
    ids=["empty", "int32 ids", "rank 1 ids", "integer logits"],
)
def test_a_graph_the_adapter_cannot_score_is_e102_naming_why(graph: Any, said: str) -> None:
    assert _said(graph) == said


@pytest.mark.parametrize(
    ("logits", "vocab"),
    [(np.zeros((2, 5, 7), np.float32), 8), (np.zeros((2, 5, 8), np.int64), 8), (np.zeros((2, 4, 8), np.float32), 8)],
    ids=["narrower than the vocabulary", "integers", "fewer positions"],
)
def test_logits_a_pass_gives_are_checked_against_its_input_and_the_vocabulary(logits: np.ndarray, vocab: int) -> None:
    with pytest.raises(UsageError) as refused:
        check_logits(PATH, logits, (2, 5), vocab, 8)
    assert refused.value.message.startswith(f"m/model.onnx gave logits of {logits.dtype} {logits.shape}")
    check_logits(PATH, np.zeros((2, 5, 8), np.float32), (2, 5), vocab, 8)
    check_logits(PATH, np.zeros((2, 5, 9), np.float32), (2, 5), None, 8)  # no vocab_size: the tokenizer's, or more


def test_a_batch_fixed_at_one_is_taken_and_other_fixed_sizes_refused() -> None:
    """0.3.11 certified an export fixed at a batch of 1 (eval.batch_size 1), so the audit must run it: it runs one
    window a pass (the regression hunt: this release refused it, E102)."""
    from invarlock.adapters.onnx_signature import fixed_batch

    check_graph(PATH, _graph(ids_shape=(1, "seq")))
    assert fixed_batch(_graph(ids_shape=(1, "seq"))) == 1 and fixed_batch(_graph()) is None
    assert _said(_graph(ids_shape=(8, "seq"))) == "m/model.onnx: input_ids has a fixed batch size of 8"


@pytest.mark.parametrize("pair", ["pair_stats", "pair_stats_top"])
def test_logit_rows_of_two_widths_are_e104_not_a_value_error(pair: str) -> None:
    from invarlock.adapters import logit_rows

    with pytest.raises(UsageError) as refused:
        getattr(logit_rows, pair)(np.zeros((3, 8), np.float32), np.zeros((3, 5), np.float32))
    assert refused.value.code == "E104"
    assert refused.value.message == "the baseline's logits are 8 wide and the subject's 5"


def test_logits_narrower_than_the_tokenizer_are_e102_where_config_json_states_no_vocab_size() -> None:
    """Two exports whose logits were cut to 1000 columns, config.json without vocab_size, scored against each other:
    E999 from torch's gather on the first token past them (the second regression hunt)."""
    with pytest.raises(UsageError) as refused:
        check_logits(PATH, np.zeros((2, 5, 1000), np.float32), (2, 5), None, 49152)
    assert refused.value.code == "E102" and refused.value.message == (
        "m/model.onnx gave logits of float32 (2, 5, 1000) for input_ids (2, 5), not float (batch, sequence,"
        " at least the tokenizer's 49152 tokens)"
    )


def test_two_initializers_of_one_name_or_a_sparse_one_are_e102() -> None:
    """The ONNX hunt: onnxruntime computes with the first of two initializers alike and with sparse ones, while
    the weights digest read the last by name and no sparse one: a model scoring other weights kept the genuine
    model's weights_sha256 and graph_sha256."""
    weight = np.ones(4, np.float32)
    graph = _graph()
    graph.initializer.extend([helper.make_tensor("w", 1, [4], weight), helper.make_tensor("w", 1, [4], 2 * weight)])
    assert _said(graph) == "m/model.onnx holds two initializers named 'w'"
    graph = _graph()
    values, indices = helper.make_tensor("s", 1, [4], weight), helper.make_tensor("i", 7, [4], [0, 1, 2, 3])
    graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    assert _said(graph) == "m/model.onnx holds 1 sparse initializers, which invarlock does not fingerprint"


def test_the_files_watched_are_model_onnx_and_the_external_data_it_names_in_subfolders_too(tmp_path: Path) -> None:
    """The regression hunt: only the folder's top level was watched, so data in a subfolder changed unseen, while
    a touched file onnxruntime never reads failed the run."""
    from invarlock.adapters.onnx_weights import data_files, read_files

    tensor = helper.make_tensor("w", 1, [4], np.ones(4, np.float32))
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="w/model.onnx.data")
    graph = _graph()
    graph.initializer.append(tensor)
    model = helper.make_model(graph)
    (tmp_path / "w").mkdir()
    for name in ("model.onnx", "w/model.onnx.data", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert data_files(model) == {"model.onnx", "w/model.onnx.data"}
    assert sorted(read_files(tmp_path, data_files(model))) == ["model.onnx", "w/model.onnx.data"]
