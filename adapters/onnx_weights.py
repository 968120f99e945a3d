"""The WeightSource port over an ONNX model held in memory: identity, matrices, census, writes, scaling, export.

Weights live in the ModelProto's initializers (external data read in); onnx_graph maps them to HF names. A
float weight is read and written in place; an int8 weight (onnxruntime's MatMulInteger or DequantizeLinear
patterns) is read dequantized, (q - zero point) x scale in float32, scaled by scaling its scale, and refused
by `assign` (E104: edit the float model, then quantize it). The census and the guards see every mapped
weight as its float32 matrix under its HF name; the identity's `dtype` states how the weights are stored.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from invarlock.domain.errors import UsageError
from invarlock.domain.model import ModelIdentity, TensorCensus, TensorInfo

from .hf_architecture import ArchitectureRules
from .hf_tokenizer import HFTokenizer
from .onnx_export import save_model
from .onnx_graph import WeightMap, WeightSlot
from .onnx_graph_digest import graph_sha256
from .staged_folder import staged_folder

_SIDE_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


@dataclass(frozen=True)
class OnnxMatrix:
    """A 2-D weight as (out, in) float32 numpy, with its family, block index and LM-head flag."""

    name: str
    family: str
    block: int | None
    head: bool
    array: np.ndarray


@dataclass(frozen=True)
class OnnxSource:
    """What the loader read: the model (weights in memory), its weight map, tokenizer and HF config facts."""

    directory: Path
    proto: Any
    weights: WeightMap
    tokenizer: HFTokenizer
    rules: ArchitectureRules
    architecture: str
    config_sha256: str
    vocab_size: int | None = None  # config.json's, which the graph's logits must be as wide as (onnx_signature)
    tokens: int = 0  # the tokenizer's vocabulary, which they must cover where config.json states no vocab_size
    files: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # read_files() when it was read


def data_files(proto: Any) -> set[str]:
    """model.onnx and the external data files `proto` (loaded without its external data) names, by path within
    its folder."""
    return {"model.onnx"} | {
        entry.value for init in proto.graph.initializer for entry in init.external_data if entry.key == "location"
    }


def read_files(directory: Path, names: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """(inode, size, modification time) of each of `names` within `directory`: a session read from the files must
    read what was loaded and fingerprinted (onnx_causal). A missing one is left out (onnx's load names it)."""
    return {name: facts for name in sorted(names) if (facts := _facts(directory / name)) is not None}


def _facts(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_size, info.st_mtime_ns


class OnnxWeights:
    """An ONNX model in memory as a WeightSource; `changed` counts writes (the runner rebuilds its session)."""

    def __init__(self, source: OnnxSource, *, ref: str, adapter: str, device: str, runtime: str) -> None:
        self.source = source
        self.ref, self.adapter, self.device, self.runtime = ref, adapter, device, runtime
        self.rules = source.rules
        self._inits = {init.name: init for init in source.proto.graph.initializer}
        self._slots = {slot.name: slot for slot in source.weights.slots}
        self._originals: dict[str, np.ndarray] = {}  # stored tensor (float) or scale (int8) before scaling
        self.changed = 0

    def tokenizer(self) -> HFTokenizer:
        """The tokenizer found next to `model.onnx`."""
        return self.source.tokenizer

    def identity(self) -> ModelIdentity:
        """sha256 over every initializer (name, dtype, shape, bytes), tokenizer and HF config digests, the
        parameter count of the census, the storage dtypes of the weights, the runtime that runs them and the
        digest of the graph that computes with them (onnx_graph_digest)."""
        census = self.census()
        return ModelIdentity(
            ref=self.ref,
            adapter=self.adapter,
            architecture=self.source.architecture,
            weights_sha256=self._weights_sha256(),
            tokenizer_sha256=self.source.tokenizer.digest(),
            config_sha256=self.source.config_sha256,
            param_count=sum(int(np.prod(t.shape)) for t in census.tensors if t.name not in self.source.weights.aliases),
            dtype="+".join(sorted({_dtype(self._inits[s.storage]) for s in self._slots.values()})),
            device=self.device,
            runtime=self.runtime,
            unmapped=self.unmapped() or None,
            graph_sha256=graph_sha256(self.source.proto),
        )

    def _weights_sha256(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self._inits):
            init = self._inits[name]
            digest.update(f"{name}\x00{_dtype(init)}\x00{tuple(init.dims)}\x00".encode())
            digest.update(_array(init).tobytes())
        return digest.hexdigest()

    def matrices(self) -> Iterator[OnnxMatrix]:
        """Every mapped weight once, in graph order, as (out, in) float32 (int8 ones dequantized)."""
        for slot in self.source.weights.slots:
            yield OnnxMatrix(
                name=slot.name,
                family=self.rules.family(slot.name),
                block=self.rules.block_index(slot.name),
                head=slot.head,
                array=self._matrix(slot),
            )

    def _matrix(self, slot: WeightSlot) -> np.ndarray:
        stored = _array(self._inits[slot.storage])
        if slot.scale is not None:
            zero = _array(self._inits[slot.zero_point]) if slot.zero_point else 0
            stored = (stored.astype(np.float32) - np.float32(zero)) * _array(self._inits[slot.scale])
        matrix = stored.T if slot.transposed else stored
        return np.ascontiguousarray(matrix, dtype=np.float32)

    def census(self) -> TensorCensus:
        """The mapped weights (float32, under HF names, tied uses too) and every other `*.weight`/`*.bias`
        initializer (norms); exporter constants (shapes, masks, rotary tables) are not parameters."""
        infos = [_info(slot.name, self._matrix(slot)) for slot in self.source.weights.slots]
        infos += [_info(alias, self._matrix(self._slots[target])) for alias, target in self.aliases().items()]
        used = {s.storage for s in self._slots.values()} | {s.scale for s in self._slots.values() if s.scale}
        infos += [
            _info(name, _array(init))
            for name, init in self._inits.items()
            if name not in used and name.endswith((".weight", ".bias"))
        ]
        return TensorCensus(
            tensors=tuple(infos),
            tied_groups=tuple(sorted(tuple(sorted(pair)) for pair in self.aliases().items())),
            config_sha256=self.source.config_sha256,
            tokenizer_sha256=self.source.tokenizer.digest(),
            unmapped=tuple(sorted(self.unmapped())),
        )

    def unmapped(self) -> dict[str, str]:
        """The 2-D initializers no pattern maps (onnx_graph), by model weight name when the graph tells it."""
        return dict(self.source.weights.unmapped)

    def aliases(self) -> dict[str, str]:
        """Tied uses of a weight (the LM head reading the embedding table) -> the weight's name."""
        return dict(self.source.weights.aliases)

    def variance_taps(self) -> list[str]:
        """The FFN output projections (architecture rules) whose product the graph exposes as one value."""
        return [
            s.name for s in self.source.weights.slots if s.output is not None and self.rules.is_variance_tap(s.name)
        ]

    def initializer(self, name: str) -> np.ndarray:
        """The values of initializer `name` as stored (a read-only view), e.g. a quantized weight's scale."""
        return _array(self._inits[name])

    def slot(self, name: str) -> WeightSlot | None:
        """The slot of a weight name or of a tied alias."""
        return self._slots.get(self.source.weights.aliases.get(name, name))

    def assign(self, name: str, array: np.ndarray) -> None:
        """Write the (out, in) float32/64 `array` into float weight `name`, rounded once to its dtype.

        Raises:
            ValueError: `name` is not a mapped weight, or `array` is not float32/64 of its (out, in) shape.
            UsageError: E104 for an int8 weight (quantized weights are not rewritten).
        """
        slot = self.slot(name)
        if slot is None:
            raise ValueError(f"cannot assign {name}: not a mapped 2-D weight of this ONNX model")
        init = self._inits[slot.storage]
        shape = tuple(init.dims)[::-1] if slot.transposed else tuple(init.dims)
        if array.dtype not in (np.float32, np.float64) or array.shape != shape:
            raise ValueError(f"cannot assign {name}: need float32/64 {shape}, not {array.dtype} {array.shape}")
        if slot.scale is not None:
            raise UsageError(
                "E104",
                f"the onnx adapter cannot rewrite {name}: it is stored int8 (quantized)",
                "edit the float model, then quantize it (docs/user-guide.md, ONNX models)",
            )
        stored = array.T if slot.transposed else array
        _write(init, stored.astype(_array(init).dtype))
        self._originals.pop(slot.name, None)
        self.changed += 1

    def scale_weights(self, factors: Mapping[str, float]) -> None:
        """Weight = original x factor (an int8 weight: its scale x factor); weights scaled before and absent
        from `factors` return to their original bytes."""
        unknown = sorted(n for n in factors if self.slot(n) is None)
        if unknown:
            raise ValueError(f"cannot scale unknown weights: {', '.join(unknown)}")
        for name in sorted(set(self._originals) | set(factors)):
            slot = self._slots[name]
            init = self._inits[slot.scale or slot.storage]
            original = self._originals.setdefault(name, _array(init).copy())
            scaled = original * original.dtype.type(factors[name]) if name in factors else original
            _write(init, scaled.astype(original.dtype))
        self.changed += 1

    def export(self, directory: str | Path) -> Path:
        """Write `model.onnx` (+ `model.onnx.data`) as it is now, with the config and tokenizer files (from a
        copy: saving moves a model's tensors out to the data file)."""
        with staged_folder(directory) as out:  # whole or not at all
            save_model(type(self.source.proto).FromString(self.source.proto.SerializeToString()), out / "model.onnx")
            for name in _SIDE_FILES:
                if (self.source.directory / name).is_file():
                    shutil.copy2(self.source.directory / name, out / name)
        return Path(directory)


def _array(init: Any) -> np.ndarray:
    """The initializer's values (a read-only view of its raw bytes when it has them)."""
    from onnx import helper, numpy_helper

    if init.raw_data:
        dtype = helper.tensor_dtype_to_np_dtype(init.data_type)
        return np.frombuffer(init.raw_data, dtype=dtype).reshape(tuple(init.dims))
    return np.asarray(numpy_helper.to_array(init))


def _write(init: Any, values: np.ndarray) -> None:
    init.raw_data = np.ascontiguousarray(values).tobytes()
    for kind in ("float_data", "int32_data", "int64_data", "double_data"):
        init.ClearField(kind)


def _dtype(init: Any) -> str:
    from onnx import helper

    return str(np.dtype(helper.tensor_dtype_to_np_dtype(init.data_type)))


def _info(name: str, values: np.ndarray) -> TensorInfo:
    finite = bool(np.isfinite(values).all()) if values.dtype.kind == "f" else True
    return TensorInfo(
        name=name, dtype=str(values.dtype), shape=tuple(values.shape), finite=finite, all_zero=not values.any()
    )
