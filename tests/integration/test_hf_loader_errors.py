"""HFModelLoader refuses bad references and options with coded one-line errors, before loading anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invarlock.domain.errors import UsageError
from invarlock.domain.model import LoadOptions

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytestmark = pytest.mark.hf


def load_error(ref: str, **options: str) -> UsageError:
    from invarlock.adapters.hf_loader import HFModelLoader

    settings = {"adapter": "auto", "device": "cpu", "dtype": "float32", **options}
    with pytest.raises(UsageError) as caught:
        HFModelLoader().load(ref, LoadOptions(**settings))
    line = caught.value.one_line()
    assert "\n" not in line and " — " in line, line
    return caught.value


def fake_checkpoint(path: Path, model_type: str, *, weights: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    if weights:
        (path / "model.safetensors").write_bytes(b"")
    return path


def test_missing_path_is_e101_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    error = load_error(str(missing))
    assert error.code == "E101" and str(missing) in error.message


def test_unknown_demo_name_is_e101() -> None:
    assert load_error("demo:gpt-7").code == "E101"


def test_directory_without_config_is_e102(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    error = load_error(str(tmp_path))
    assert error.code == "E102" and "config.json" in error.message


def test_directory_without_weights_is_e102(tmp_path: Path) -> None:
    error = load_error(str(fake_checkpoint(tmp_path / "m", "llama", weights=False)))
    assert error.code == "E102" and "weights" in error.message


def test_unreadable_weights_are_e102_not_a_traceback(tmp_path: Path) -> None:
    checkpoint = fake_checkpoint(tmp_path / "m", "llama")
    (checkpoint / "model.safetensors").write_bytes(b"not safetensors")
    error = load_error(str(checkpoint))
    assert error.code == "E102" and "is not a safetensors file (15 bytes, no header)" in error.message


def test_hf_id_missing_from_the_offline_cache_is_e103(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INVARLOCK_ALLOW_NETWORK", raising=False)
    error = load_error("hf:invarlock-tests/surely-not-cached-model")
    assert error.code == "E103" and "INVARLOCK_ALLOW_NETWORK=1" in error.hint


@pytest.mark.parametrize(("option", "value"), [("adapter", "hf_seq2seq"), ("device", "tpu"), ("dtype", "int3")])
def test_unknown_adapter_device_or_dtype_is_e104_naming_the_field(tmp_path: Path, option: str, value: str) -> None:
    error = load_error(str(tmp_path), **{option: value})
    assert error.code == "E104" and option in error.message and value in error.message


def test_unavailable_device_is_e104(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert load_error(str(tmp_path), device="cuda").code == "E104"


@pytest.mark.parametrize(
    ("model_type", "adapter"),
    [("bert", "hf_causal"), ("t5", "auto"), ("gpt2", "hf_encoder"), ("llama", "hf_mlm"), ("bert", "hf_seqcls")],
)
def test_an_unknown_model_type_or_one_the_adapter_cannot_run_is_e104(
    tmp_path: Path, model_type: str, adapter: str
) -> None:
    error = load_error(str(fake_checkpoint(tmp_path / "m", model_type)), adapter=adapter)
    assert error.code == "E104" and model_type in error.message


def test_a_checkpoint_lacking_a_weight_is_e102_naming_it_not_a_random_initialisation(tmp_path: Path) -> None:
    """transformers would initialise the missing matrix at random and only warn: the run would certify weights
    that are in no file (on a TINY RANDOMLY INITIALISED Llama, mechanics only)."""
    from safetensors.torch import load_file, save_file

    from tests.integration.tiny_models import make_tiny_llama_dir

    path = make_tiny_llama_dir(tmp_path / "tiny_random_llama")
    tensors = load_file(path / "model.safetensors")
    del tensors["model.layers.0.mlp.down_proj.weight"]
    save_file(tensors, path / "model.safetensors", metadata={"format": "pt"})
    error = load_error(str(path))
    assert error.code == "E102"
    assert "lacks weights its model needs: model.layers.0.mlp.down_proj.weight" in error.message


def test_an_encoder_checkpoint_without_its_pooler_drops_it_and_loads_the_same_weights_every_time(
    tmp_path: Path,
) -> None:
    """A masked LM's checkpoint has no pooler; as an encoder (mean pooling, which never uses the pooler) the
    module drops it instead of holding random weights, so two loads digest the same weights."""
    from invarlock.adapters.hf_loader import HFModelLoader

    from tests.integration.tiny_models import make_tiny_bert_mlm_dir

    path = make_tiny_bert_mlm_dir(tmp_path / "tiny_random_bert_mlm")
    options = LoadOptions(adapter="hf_encoder", device="cpu")
    first, second = HFModelLoader().load(str(path), options), HFModelLoader().load(str(path), options)
    assert first.module.pooler is None
    assert not any(m.name.startswith("pooler.") for m in first.matrices())
    assert first.identity().weights_sha256 == second.identity().weights_sha256


def test_a_weight_whose_shape_its_config_does_not_give_is_e102_naming_both_shapes(tmp_path: Path) -> None:
    """transformers' own error pointed at "the above report", which it logs and InvarLock keeps quiet (on a TINY
    RANDOMLY INITIALISED Llama, mechanics only)."""
    from tests.integration.tiny_models import make_tiny_llama_dir

    path = make_tiny_llama_dir(tmp_path / "tiny_random_llama")
    config = json.loads((path / "config.json").read_text())
    wider = config["intermediate_size"] + 16
    (path / "config.json").write_text(json.dumps({**config, "intermediate_size": wider}))
    error = load_error(str(path))
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    expected = f"weight model.layers.0.mlp.down_proj.weight is {hidden}×{inner} in the checkpoint but {hidden}×{wider}"
    assert error.code == "E102" and expected in error.message and "more)" in error.message
    assert "above report" not in error.message and "config.json" in error.hint


def _widened(path: Path) -> tuple[dict, int]:
    config = json.loads((path / "config.json").read_text())
    wider = config["intermediate_size"] + 16
    (path / "config.json").write_text(json.dumps({**config, "intermediate_size": wider}))
    return config, wider


@pytest.mark.parametrize("files", ["one file", "shards"])
def test_the_preflight_finds_a_config_that_does_not_match_its_weights_from_the_headers(tmp_path: Path, files: str):
    """The tokenizer's check (the preflight's, before any weights load) refuses it as the load does, from the
    safetensors headers and the module built on the meta device: one model at a time met it only at the subject's
    load, after the baseline's whole pass (on a TINY RANDOMLY INITIALISED Llama, mechanics only)."""
    from invarlock.adapters.hf_loader import HFModelLoader

    from tests.integration.tiny_models import make_tiny_llama_dir

    path = make_tiny_llama_dir(tmp_path / "tiny_random_llama")
    if files == "shards":
        _reshard(path)
    HFModelLoader().tokenizer(str(path))  # its weights match its config
    config, wider = _widened(path)
    with pytest.raises(UsageError) as caught:
        HFModelLoader().tokenizer(str(path))
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    at_load = load_error(str(path))
    assert caught.value.code == "E102" and caught.value.message == at_load.message, caught.value.message
    assert f"down_proj.weight is {hidden}×{inner} in the checkpoint but {hidden}×{wider}" in at_load.message


def _reshard(path: Path) -> None:
    """The checkpoint saved again in shards of a few KiB (model.safetensors.index.json and its files)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path)
    (path / "model.safetensors").unlink()
    model.save_pretrained(path, max_shard_size="20KB")
    assert (path / "model.safetensors.index.json").is_file() and not (path / "model.safetensors").exists()


@pytest.mark.parametrize("entry", ["directory", "dangling link", "fifo"])
@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_something_else_under_a_checkpoint_file_s_name_is_named(tmp_path: Path, entry: str, name: str) -> None:
    """It used to be "no weights" (or "no config.json"), sending the user looking for a file that is there."""
    import os

    checkpoint = fake_checkpoint(tmp_path / "m", "llama")
    (checkpoint / name).unlink()
    if entry == "directory":
        (checkpoint / name).mkdir()
    elif entry == "dangling link":
        (checkpoint / name).symlink_to(tmp_path / "gone")
    else:
        os.mkfifo(checkpoint / name)
    error = load_error(str(checkpoint))
    said = {"directory": "is a directory", "dangling link": "which does not exist", "fifo": "is a FIFO"}
    assert error.code == "E102" and f"{checkpoint / name} " in error.message and said[entry] in error.message


def test_a_file_inside_a_checkpoint_is_e102_naming_the_folder_to_pass(tmp_path: Path) -> None:
    config = fake_checkpoint(tmp_path / "model", "gpt2") / "config.json"
    error = load_error(str(config))  # said "is not a model directory: no config.json", of a config.json
    assert error.code == "E102" and error.message == f"{config} is a file, not a model directory"
    assert error.hint == f"pass the folder it is in: {config.parent}"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "gguf: is followed by no file path"),
        ("folder", "is a directory, not a file"),
        ("no.gguf", "does not exist"),
    ],
)
def test_a_gguf_reference_that_names_no_file_says_why(tmp_path: Path, monkeypatch, name: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)  # `gguf:` alone was "GGUF file . does not exist", a folder "does not exist" too
    (tmp_path / "folder").mkdir()
    error = load_error(f"gguf:{name}")
    assert error.code == "E101" and error.message.endswith(message)


def test_a_checkpoint_without_tokenizer_files_is_e102_saying_so(tmp_path: Path, demo_dir: Path) -> None:
    # transformers' message is several lines; its first, all a one-line error kept, ended "from one of:".
    from invarlock.adapters.hf_loader import HFModelLoader

    folder = tmp_path / "weights-only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).symlink_to(demo_dir / name)
    with pytest.raises(UsageError) as caught:
        HFModelLoader().tokenizer(str(folder))
    assert caught.value.code == "E102" and caught.value.message.startswith(f"{folder} has no tokenizer files")
