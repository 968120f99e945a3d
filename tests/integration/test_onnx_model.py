"""The onnx adapter on the demo model exported to ONNX: the same weights as the HF model under HF names, int8
weights read back within half a quantization step, writes refused where they cannot be honoured, and the
loader's one-line errors."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.model import DevicePlacement, LoadOptions

from tests.onnx_demo import onnx_demo

pytestmark = [pytest.mark.model]


@functools.cache
def _models() -> dict[str, Any]:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.onnx_loader import OnnxModelLoader

    dirs = onnx_demo()
    return {
        "hf": HFModelLoader().load("demo:smollm2-135m", LoadOptions(adapter="auto", device="cpu", dtype="float32")),
        "fp32": OnnxModelLoader().load(str(dirs.fp32), LoadOptions(device="cpu")),
        "int8": OnnxModelLoader().load(str(dirs.int8), LoadOptions(device="cpu")),
    }


def test_the_fp32_export_holds_the_hf_matrices_bit_for_bit_under_hf_names_with_the_hf_census() -> None:
    hf, onnx = _models()["hf"], _models()["fp32"]
    mine, theirs = list(hf.matrices()), list(onnx.matrices())
    assert [(m.name, m.family, m.block, m.head) for m in mine] == [(m.name, m.family, m.block, m.head) for m in theirs]
    assert all(np.array_equal(a.array, b.array) for a, b in zip(mine, theirs, strict=True))
    theirs_census, mine_census = onnx.census(), hf.census()
    assert {t.name: t for t in theirs_census.tensors} == {t.name: t for t in mine_census.tensors}
    assert msgspec.structs.replace(theirs_census, tensors=()) == msgspec.structs.replace(mine_census, tensors=())
    assert onnx.variance_taps() == hf.variance_taps()
    assert onnx.identity().tokenizer_sha256 == hf.identity().tokenizer_sha256


def test_int8_weights_read_back_within_half_a_quantization_step_of_the_float_weights() -> None:
    fp32, int8 = _models()["fp32"], _models()["int8"]
    floats = {m.name: m.array for m in fp32.matrices()}
    quantized = list(int8.matrices())
    assert [m.name for m in quantized] == list(floats)
    assert int8.identity().dtype == "float32+int8" and int8.census().tied_groups == fp32.census().tied_groups
    for matrix in quantized:
        slot = int8.slot(matrix.name)
        if slot.scale is None:
            assert np.array_equal(matrix.array, floats[matrix.name])
            continue
        step = float(np.max(int8.initializer(slot.scale)))
        assert np.max(np.abs(matrix.array - floats[matrix.name])) <= step / 2 * (1 + 1e-4), matrix.name


def test_the_spectral_measure_of_an_int8_block_moves_no_more_than_its_dequantization_error() -> None:
    from invarlock.application.certification.guard_chain import measure_matrix
    from invarlock.domain.policy import resolve_policy

    policy = resolve_policy("balanced", "dev")
    floats = {m.name: m.array for m in _models()["hf"].matrices()}
    block = [m for m in _models()["int8"].matrices() if m.block == 0]
    assert {m.family for m in block} == {"attn", "ffn"}
    tol = policy.guards.spectral.power_tol  # relative accuracy of each σ (power iteration, else exact)
    moved = []
    for matrix in block:
        sigma_q, sigma = (measure_matrix(a, policy).sigma for a in (matrix.array, floats[matrix.name]))
        error = float(np.linalg.norm(matrix.array.astype(np.float64) - floats[matrix.name], "fro"))
        assert abs(sigma_q - sigma) <= error + 2 * tol * max(sigma_q, sigma), matrix.name  # Weyl, ||·||_2 <= ||·||_F
        moved.append(sigma_q != sigma)
    assert any(moved)


def test_an_int8_weight_is_scaled_through_its_scale_and_refuses_assign_with_e104() -> None:
    from invarlock.adapters.onnx_loader import OnnxModelLoader

    model = OnnxModelLoader().load(str(onnx_demo().int8), LoadOptions(device="cpu"))
    tap = model.variance_taps()[0]
    before = next(m.array for m in model.matrices() if m.name == tap)
    model.scale_weights({tap: 0.5})
    after = next(m.array for m in model.matrices() if m.name == tap)
    assert np.allclose(after, before * 0.5, rtol=1e-6, atol=0)
    with pytest.raises(UsageError) as caught:
        model.assign(tap, before)
    assert caught.value.code == "E104"


def _routed() -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.model_routing import RoutingModelLoader

    return RoutingModelLoader(HFModelLoader())


def test_auto_routes_a_directory_holding_model_onnx_to_the_onnx_adapter() -> None:
    loader = _routed()
    assert loader.tokenizer(str(onnx_demo().fp32), adapter="auto").digest() == _models()["hf"].tokenizer().digest()
    assert type(loader.tokenizer("demo:smollm2-135m", adapter="auto")).__name__ == "HFTokenizer"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("missing", "E101"),
        ("no_model_onnx", "E102"),
        ("no_config", "E102"),
        ("float16", "E104"),
        ("mps", "E104"),
        ("device_map", "E104"),
    ],
)
def test_the_onnx_loader_refuses_bad_references_with_one_line_errors(case: str, code: str, tmp_path: Path) -> None:
    ref, dtype, device, placement = str(onnx_demo().fp32), "float32", "cpu", None
    if case == "missing":
        ref = str(tmp_path / "absent")
    elif case == "no_model_onnx":
        ref = str(tmp_path)
    elif case == "no_config":
        for name in ("model.onnx", "tokenizer.json", "tokenizer_config.json"):
            (tmp_path / name).symlink_to(onnx_demo().fp32 / name)
        ref = str(tmp_path)
    elif case == "float16":
        dtype = "float16"
    elif case == "device_map":
        device, placement = "auto", DevicePlacement(device_map="auto")
    else:
        device = "mps"
    with pytest.raises(UsageError) as caught:
        _routed().load(ref, LoadOptions(adapter="onnx", device=device, dtype=dtype, placement=placement))
    assert caught.value.code == code and "\n" not in caught.value.message


def test_a_graph_whose_config_is_not_a_causal_lm_is_e104_with_a_way_out(tmp_path: Path) -> None:
    import json

    for name in ("model.onnx", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).symlink_to(onnx_demo().fp32 / name)
    config = json.loads((onnx_demo().fp32 / "config.json").read_text(encoding="utf-8"))
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "bert"}), encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        _routed().load(str(tmp_path), LoadOptions(adapter="onnx", device="cpu"))
    assert caught.value.code == "E104" and "runs causal LMs, not 'bert'" in caught.value.message
    assert "llama" in caught.value.hint and "--adapter auto" in caught.value.hint


def test_an_exported_copy_without_its_tokenizer_is_refused_with_e102(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("model.onnx", "config.json"):
        shutil.copy2(onnx_demo().fp32 / name, copy / name)
    with pytest.raises(UsageError) as caught:
        _routed().tokenizer(str(copy), adapter="auto")
    assert caught.value.code == "E102"


def test_a_graph_onnx_cannot_read_is_e102_quoting_why(tmp_path: Path) -> None:
    """E102 said the exception's type alone ("ValidationError"), with a hint to re-export; onnx's first line says why,
    e.g. that the external data has several hard links (cp -al, rsync --link-dest; the real-checkpoint hunt). Here: a
    graph file that is no protobuf (the cache's own files are never linked: onnx would refuse them afterwards)."""
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).symlink_to(onnx_demo().fp32 / name)
    (tmp_path / "model.onnx").write_bytes(b"\xff" * 64)
    with pytest.raises(UsageError) as caught:
        _routed().load(str(tmp_path), LoadOptions(adapter="onnx", device="cpu"))
    message = caught.value.message
    assert caught.value.code == "E102" and "model.onnx could not be read: DecodeError: " in message, message
    assert len(message.split("could not be read: DecodeError: ")[1]) > 0 and "\n" not in message


def test_a_file_of_the_model_folder_changed_after_loading_is_e102_before_a_pass(tmp_path: Path) -> None:
    """The ONNX hunt: onnxruntime reads model.onnx from disk when the session is made, after the identity was
    computed from the loaded bytes, so a folder rewritten in between was scored under the first file's digests."""
    import os

    for item in onnx_demo().int8.iterdir():
        if item.suffix == ".json":
            (tmp_path / item.name).symlink_to(item)
        else:
            shutil.copy2(item, tmp_path / item.name)
    model = _routed().load(str(tmp_path), LoadOptions(adapter="onnx", device="cpu"))
    (tmp_path / "notes.txt").write_text("a file onnxruntime does not read", encoding="utf-8")
    model._session()  # files other than model.onnx and its data may change (the regression hunt: a touch failed)
    model._sessions.clear()
    data = next(p for p in tmp_path.iterdir() if p.name.startswith("model.onnx") and p.name != "model.onnx")
    os.utime(data, ns=(data.stat().st_atime_ns, data.stat().st_mtime_ns + 1))
    with pytest.raises(UsageError) as caught:
        model._session()
    assert caught.value.code == "E102" and caught.value.message == (
        f"{tmp_path}: {data.name} changed on disk after the model was read and fingerprinted"
    )


def test_a_graph_file_not_named_model_onnx_is_refused_not_swapped_for_its_folders(tmp_path: Path) -> None:
    """The ONNX hunt: `--subject DIR/garbage.onnx` loaded DIR/model.onnx, certified PASS under the garbage's name,
    and the audit with the same reference agreed."""
    for item in onnx_demo().fp32.iterdir():
        (tmp_path / item.name).symlink_to(item)
    (tmp_path / "garbage.onnx").write_bytes(b"\x07" * 1000)
    with pytest.raises(UsageError) as caught:
        _routed().load(str(tmp_path / "garbage.onnx"), LoadOptions(adapter="auto", device="cpu"))
    assert caught.value.code == "E102" and "not from a file named garbage.onnx" in caught.value.message
    from invarlock.adapters.onnx_loader import model_directory

    assert model_directory(str(tmp_path / "model.onnx")) == tmp_path


def test_a_graph_onnxruntime_cannot_load_is_e102_not_e999() -> None:
    """The ONNX hunt: an opset or IR version onnxruntime does not know ended the run in E999 at its first pass,
    after the guards had recorded their passes, and left it incomplete."""
    from invarlock.adapters.onnx_session import open_session
    from onnx import TensorProto, helper

    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [value], [value.__class__()])
    graph.output[0].CopyFrom(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1]))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 99)])
    with pytest.raises(UsageError) as caught:
        open_session(proto, "CPUExecutionProvider")
    assert caught.value.code == "E102" and caught.value.message.startswith("onnxruntime cannot load the ONNX model: ")
    assert "\n" not in caught.value.message
