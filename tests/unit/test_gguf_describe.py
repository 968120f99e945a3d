"""What describe() refuses in a GGUF file before transformers converts it (the formats hunt): tensors of blocks its
metadata does not count (transformers dropped them: a file whose block_count was lowered by one was certified
without its last block, under the whole file's digest), and a metadata number that is not finite (E999)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from invarlock.domain.errors import UsageError

gguf = pytest.importorskip("gguf")


def _write(path: Path, *, blocks: int, stated: int, rope: float = 10000.0) -> Path:
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(stated)
    writer.add_rope_freq_base(rope)
    for block in range(blocks):
        writer.add_tensor(f"blk.{block}.attn_q.weight", np.ones((4, 4), dtype=np.float32))
    writer.add_tensor("token_embd.weight", np.ones((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _refused(path: Path) -> str:
    from invarlock.adapters.hf_gguf import describe

    with pytest.raises(UsageError) as refused:
        describe(path)
    assert refused.value.code == "E102"
    return refused.value.message


def test_the_blocks_of_the_tensors_are_those_the_metadata_counts(tmp_path: Path) -> None:
    from invarlock.adapters.hf_gguf import describe

    assert describe(_write(tmp_path / "ok.gguf", blocks=3, stated=3)).tensor_types == {"F32": 4}
    said = _refused(_write(tmp_path / "more.gguf", blocks=3, stated=2))
    assert said == f"{tmp_path / 'more.gguf'}: holds tensors of blocks [2], yet its metadata states 2 blocks"
    said = _refused(_write(tmp_path / "fewer.gguf", blocks=2, stated=3))
    assert said.endswith("holds no tensors of blocks [2], yet its metadata states 3 blocks")


@pytest.mark.parametrize("rope", [float("nan"), float("inf")])
def test_a_metadata_number_that_is_not_finite_is_named(tmp_path: Path, rope: float) -> None:
    said = _refused(_write(tmp_path / "rope.gguf", blocks=1, stated=1, rope=rope))
    assert said.endswith("rope.gguf: metadata llama.rope.freq_base is not a finite number")


def test_a_block_count_given_as_an_array_is_read_as_transformers_reads_it(tmp_path: Path) -> None:
    """The regression hunt: `[29]` skipped the check, and transformers built 29 blocks of a file holding 30."""
    path = tmp_path / "array.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_array("llama.block_count", [1])
    for block in range(2):
        writer.add_tensor(f"blk.{block}.attn_q.weight", np.ones((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert _refused(path).endswith("holds tensors of blocks [1], yet its metadata states 1 blocks")


def test_tensors_the_built_model_does_not_load_are_refused(tmp_path: Path) -> None:
    """A block's tensors renamed (blk_29.*) are dropped by transformers' name map; only the element count tells."""
    from invarlock.adapters.hf_gguf import _refuse_unused_tensors

    path = _write(tmp_path / "m.gguf", blocks=2, stated=2)  # 2 x 16 + 32 elements
    _refuse_unused_tensors(path, 64, "the hint")
    with pytest.raises(UsageError) as refused:
        _refuse_unused_tensors(path, 48, "the hint")
    assert "holds 64 weight elements; the model transformers builds from it loads 48" in refused.value.message


def test_a_weight_transformers_built_without_a_tensor_is_refused() -> None:
    """A block's norm renamed in the file was initialized to ones by transformers, and the element count still
    matched (the second regression hunt): its loading info names the weight."""
    from invarlock.adapters.hf_gguf import _refuse_missing_weights

    _refuse_missing_weights(Path("m.gguf"), {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []})
    with pytest.raises(UsageError) as refused:
        _refuse_missing_weights(Path("m.gguf"), {"missing_keys": ["model.layers.0.input_layernorm.weight"]})
    assert refused.value.message.startswith(
        "m.gguf: transformers finds no tensor in it for 1 weights of its model (model.layers.0.input_layernorm.weight)"
    )


def test_only_rotary_frequencies_by_their_own_names_and_size_are_left_out_of_the_count(tmp_path: Path) -> None:
    from invarlock.adapters.hf_gguf import _refuse_unused_tensors

    path = tmp_path / "rot.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_tensor("blk.0.attn_q.weight", np.ones((4, 4), dtype=np.float32))
    writer.add_tensor("rope_freqs.weight", np.ones(32, dtype=np.float32))
    writer.add_tensor("blk.0.attn_rot_embd.weight", np.ones(8, dtype=np.float32))
    writer.add_tensor("payload.attn_rot_embd.weight", np.ones(100, dtype=np.float32))  # no block's: counted
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    _refuse_unused_tensors(path, 116, "the hint")
    with pytest.raises(UsageError):
        _refuse_unused_tensors(path, 16, "the hint")


def test_a_metadata_text_longer_than_any_models_is_refused_before_transformers_parses_it(tmp_path: Path) -> None:
    """The GGUF hunt: a 50 MB general.name took the conversion about eight minutes and 2.8 GB."""
    from invarlock.adapters.gguf_texts import LONGEST_TEXT

    path = tmp_path / "long.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_block_count(1)
    writer.add_string("general.name", "y" * (LONGEST_TEXT + 1))
    writer.add_array("tokenizer.ggml.tokens", ["a", "é" * (LONGEST_TEXT // 2 + 1)])
    writer.add_tensor("blk.0.attn_q.weight", np.ones((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    said = _refused(path)
    assert said.endswith(
        f"metadata 'general.name' holds a text of {LONGEST_TEXT + 1:,} bytes, more than "
        f"{LONGEST_TEXT:,}: no model's metadata is that long"
    )


@pytest.mark.parametrize("when", ["after its description", "before its description"])
def test_a_file_changed_while_it_was_converted_is_refused_and_nothing_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """The GGUF hunt: a file replaced by another (llama-quantize writing the same path) after its digest was taken
    was converted from the other and cached under the first's digest; every later run of the first loaded the
    second's weights without a word. Here the last byte changes, size and modification time kept (what
    file_sha256's memo trusts)."""
    from invarlock.adapters import hf_gguf

    path = _write(tmp_path / "model.gguf", blocks=1, stated=1)
    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path / "cache"))

    def rewrite() -> None:
        stat, data = path.stat(), bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + (1 if when == "before its description" else 0)))

    def convert(source: Path, out: Path) -> object:
        if when == "before its description":
            rewrite()
        described = hf_gguf.describe(source)
        (out / "config.json").write_text("{}", encoding="utf-8")  # what transformers would have written
        if when == "after its description":
            rewrite()
        return described

    monkeypatch.setattr(hf_gguf, "_convert", convert)
    with pytest.raises(UsageError) as refused:
        hf_gguf.open_gguf(path)
    assert refused.value.code == "E102" and refused.value.message == f"{path} changed while it was converted " + (
        "(another program wrote it)"
    )
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == []
