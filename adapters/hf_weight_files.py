"""A checkpoint's safetensors files hold what their headers describe: read from the headers alone (a few KiB of
each file) when a reference is resolved, so a truncated download or copy stops the preflight instead of the
load, which one model at a time reaches for the subject only after the baseline's whole pass.

A safetensors file is an 8-byte little-endian header length, a JSON header naming each tensor's byte range
(`data_offsets`, relative to the end of the header), then exactly those bytes. An index
(`model.safetensors.index.json`) names the shard file of each weight. `pytorch_model.bin` is not read here."""

from __future__ import annotations

import errno
import json
import os
import struct
from pathlib import Path
from typing import BinaryIO

from invarlock.domain.errors import UsageError

from .node_kind import mode_kind, odd_node

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
MAX_HEADER = 100 * 2**20  # the safetensors format's own limit on a header


def check_weight_files(directory: Path) -> None:
    """UsageError E102 naming the file when a safetensors file of the checkpoint (the single file, or every shard its
    index names) is missing, unreadable, has no safetensors header, or is shorter than its header describes."""
    if (directory / SINGLE).is_file():
        check_safetensors(directory / SINGLE)
        return
    if not (directory / INDEX).is_file():
        return
    for shard in _shards(directory / INDEX):
        check_safetensors(directory / shard)


def _shards(index: Path) -> list[str]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map")
    except (OSError, ValueError, AttributeError, RecursionError) as exc:  # RecursionError: nested too deep
        raise _damaged(index, f"is not a readable index ({type(exc).__name__})", "copy the checkpoint again") from None
    if not isinstance(weight_map, dict) or not all(isinstance(s, str) for s in weight_map.values()):
        raise _damaged(index, "has no weight_map of shard file names", "copy the checkpoint again")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if Path(shard).name != shard:
            raise _damaged(index, f"names a shard outside its folder ({shard})", "copy the checkpoint again")
    return shards


def header_shapes(directory: Path) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor the checkpoint's safetensors headers describe (the single file, or every shard its
    index names), by name; empty when it has none (`pytorch_model.bin`). Call check_weight_files first: a header
    that check would refuse raises its E102."""
    if (directory / SINGLE).is_file():
        files = [directory / SINGLE]
    elif (directory / INDEX).is_file():
        files = [directory / shard for shard in _shards(directory / INDEX)]
    else:
        return {}
    return {name: shape for file in files for name, shape in _shapes(check_safetensors(file)).items()}


def _shapes(header: dict[str, object]) -> dict[str, tuple[int, ...]]:
    found: dict[str, tuple[int, ...]] = {}
    for name, tensor in header.items():
        shape = tensor.get("shape") if isinstance(tensor, dict) else None
        if name != "__metadata__" and isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape):
            found[name] = tuple(shape)
    return found


def check_safetensors(path: Path) -> dict[str, object]:
    """The header of `path`; E102 unless it is a safetensors file at least as long as that header says (the bytes
    are not read)."""
    try:
        with _open_regular(path) as file:
            size = os.fstat(file.fileno()).st_size
            raw = file.read(8)
            length = struct.unpack("<Q", raw)[0] if len(raw) == 8 else -1
            if not 0 < length <= min(MAX_HEADER, size - 8):
                raise _damaged(path, f"is not a safetensors file ({size} bytes, no header)", _AGAIN)
            header = json.loads(file.read(length))
    except FileNotFoundError:
        kind = odd_node(path)  # a link to nothing: its name is there
        if kind is not None:
            raise _damaged(path, f"is {kind}", f"put the checkpoint's {path.name} file there") from None
        raise _damaged(path, "is missing: the checkpoint's index names it", _AGAIN) from None
    except OSError as exc:
        raise _damaged(path, f"cannot be read: {exc.strerror or exc}", "check its permissions") from None
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python's stack
        raise _damaged(path, "has a header that is not JSON", _AGAIN) from None
    described = 8 + length + _tensor_bytes(path, header)
    if size < described:
        raise _damaged(path, f"is truncated: {size} bytes, its header describes {described}", _AGAIN)
    return header  # type: ignore[no-any-return]  # _tensor_bytes refused any other JSON


def _open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading; E102 when it is not a regular file. Opened without blocking: a shard the index
    names that is a FIFO blocked `open` for ever (certify, doctor and the audit hung, a run left incomplete)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:  # a socket cannot be opened (ENXIO); a link that loops never reaches a file (ELOOP)
        if exc.errno not in (errno.ENXIO, errno.ELOOP):
            raise
        said = (
            (mode_kind(os.stat(path).st_mode) or "not a regular file")
            if exc.errno == errno.ENXIO
            else "a link that loops"
        )
        raise _damaged(path, f"is {said}", f"put the checkpoint's {path.name} file there") from None
    kind = mode_kind(os.fstat(fd).st_mode)
    if kind is None:
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    os.close(fd)
    raise _damaged(path, f"is {kind}", f"put the checkpoint's {path.name} file there")


def _tensor_bytes(path: Path, header: object) -> int:
    """The end of the last tensor's bytes, from the header's `data_offsets`."""
    if not isinstance(header, dict):
        raise _damaged(path, "has a header that is not a JSON object", _AGAIN)
    ends = [
        t["data_offsets"][1]
        for name, t in header.items()
        if name != "__metadata__"
        and isinstance(t, dict)
        and isinstance(t.get("data_offsets"), list)
        and len(t["data_offsets"]) == 2
    ]
    if not all(type(end) is int for end in ends):
        raise _damaged(path, "has tensor offsets that are not byte counts", _AGAIN)
    return max(ends, default=0)


_AGAIN = "download or copy the checkpoint again (an interrupted download or copy leaves a shorter file)"


def _damaged(path: Path, problem: str, hint: str) -> UsageError:
    return UsageError("E102", f"{path} {problem}", hint)
