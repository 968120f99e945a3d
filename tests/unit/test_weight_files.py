"""A checkpoint's safetensors files are checked against their own headers when the reference is resolved (a few
KiB read per file): a truncated download or copy is E102 naming the file, before any weights load."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from invarlock.adapters.hf_weight_files import check_weight_files
from invarlock.domain.errors import UsageError


def _safetensors(path: Path, *, tensor_bytes: int = 24, cut: int = 0, header: bytes | None = None) -> Path:
    """A float32 safetensors file of one tensor of `tensor_bytes` bytes, less its last `cut` bytes."""
    described = {"w": {"dtype": "F32", "shape": [tensor_bytes // 4], "data_offsets": [0, tensor_bytes]}}
    raw = header if header is not None else json.dumps({"__metadata__": {"format": "pt"}, **described}).encode()
    data = struct.pack("<Q", len(raw)) + raw + bytes(tensor_bytes)
    path.write_bytes(data[: len(data) - cut])
    return path


def _refusal(directory: Path) -> UsageError:
    with pytest.raises(UsageError) as caught:
        check_weight_files(directory)
    assert caught.value.code == "E102"
    return caught.value


def test_a_whole_file_passes_and_a_truncated_one_is_named_with_both_sizes(tmp_path: Path) -> None:
    whole = _safetensors(tmp_path / "model.safetensors")
    check_weight_files(tmp_path)
    size = whole.stat().st_size
    _safetensors(whole, cut=5)
    refused = _refusal(tmp_path)
    assert refused.message == f"{whole} is truncated: {size - 5} bytes, its header describes {size}"
    assert refused.hint.startswith("download or copy the checkpoint again")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "is not a safetensors file (0 bytes, no header)"),
        (b"not safetensors", "is not a safetensors file (15 bytes, no header)"),
        (struct.pack("<Q", 2**40) + b"{}", "is not a safetensors file (10 bytes, no header)"),
        (struct.pack("<Q", 3) + b"{{{", "has a header that is not JSON"),
        (struct.pack("<Q", 2) + b"[]", "has a header that is not a JSON object"),
        (struct.pack("<Q", 200_000) + b"[" * 100_000 + b"]" * 100_000, "has a header that is not JSON"),
    ],
    ids=["empty", "text", "a header longer than the file", "no JSON", "no object", "nested too deep to decode"],
)
def test_a_file_that_is_no_safetensors_is_e102(tmp_path: Path, content: bytes, said: str) -> None:
    (tmp_path / "model.safetensors").write_bytes(content)
    assert _refusal(tmp_path).message == f"{tmp_path / 'model.safetensors'} {said}"


def test_offsets_that_are_no_byte_counts_are_e102(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, "4"]}}).encode()
    _safetensors(tmp_path / "model.safetensors", header=header)
    assert _refusal(tmp_path).message.endswith("has tensor offsets that are not byte counts")


def _index(directory: Path, weight_map: object) -> Path:
    index = directory / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}), encoding="utf-8")
    return index


def test_every_shard_an_index_names_is_checked(tmp_path: Path) -> None:
    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    _index(tmp_path, shards)
    for shard in shards.values():
        _safetensors(tmp_path / shard)
    check_weight_files(tmp_path)
    second = _safetensors(tmp_path / shards["b"], cut=1)
    assert _refusal(tmp_path).message.startswith(f"{second} is truncated")
    second.unlink()
    assert _refusal(tmp_path).message == f"{second} is missing: the checkpoint's index names it"


@pytest.mark.parametrize(
    ("weight_map", "said"),
    [
        (["a.safetensors"], "has no weight_map of shard file names"),
        ({"a": 3}, "has no weight_map of shard file names"),
        ({"a": "../elsewhere.safetensors"}, "names a shard outside its folder (../elsewhere.safetensors)"),
    ],
    ids=["a list", "a number", "a path out of the folder"],
)
def test_an_index_that_names_no_shards_is_e102(tmp_path: Path, weight_map: object, said: str) -> None:
    index = _index(tmp_path, weight_map)
    assert _refusal(tmp_path).message == f"{index} {said}"


def test_an_index_nested_too_deep_to_decode_is_e102(tmp_path: Path) -> None:
    index = tmp_path / "model.safetensors.index.json"
    index.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")  # a RecursionError on every CPython
    assert _refusal(tmp_path).message == f"{index} is not a readable index (RecursionError)"


def test_a_pickled_checkpoint_is_left_to_its_load(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model.bin").write_bytes(b"not read here")
    check_weight_files(tmp_path)  # no safetensors file: nothing to compare, torch's load reports what it finds


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "socket", "loop", "dangling"])
def test_a_shard_that_is_no_regular_file_is_e102_without_blocking(tmp_path: Path, kind: str) -> None:
    """A FIFO named by the index blocked `open` for ever: certify, doctor and the audit hung (a run left
    incomplete); /dev/zero never ends. Each is refused by its kind, in a thread that must finish."""
    import os
    import socket
    import threading

    shards = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    _index(tmp_path, shards)
    _safetensors(tmp_path / shards["a"])
    second = tmp_path / shards["b"]
    if kind == "fifo":
        os.mkfifo(second)
    elif kind == "device":
        second.symlink_to("/dev/zero")
    elif kind == "socket":
        listening = socket.socket(socket.AF_UNIX)
        listening.bind(str(second))
    elif kind == "loop":
        second.symlink_to(second.name)
    elif kind == "dangling":  # it said "is missing: the checkpoint's index names it"
        second.symlink_to("gone.safetensors")
    else:
        second.mkdir()
    found: list[UsageError] = []
    checking = threading.Thread(target=lambda: found.append(_refusal(tmp_path)), daemon=True)
    checking.start()
    checking.join(timeout=30)
    assert not checking.is_alive(), "check_weight_files blocked on the shard"
    said = {
        "directory": "is a directory",
        "loop": "is a link that loops",
        "fifo": "is a FIFO",
        "dangling": "is a link to gone.safetensors, which does not exist",
    }.get(kind, f"is a {kind}")
    assert found[0].message == f"{second} {said}" and found[0].hint == f"put the checkpoint's {second.name} file there"
