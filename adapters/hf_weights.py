"""The WeightSource port over any transformers module: identity, matrices, census, writes, scaling, export.

The architecture rules (adapters/hf_architecture.py) name each weight's family, block and output axis; the
model adapters (causal LM, encoder, masked LM) add their ModelRunner half on top of `HFWeights`.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from invarlock.domain.model import GGUFSource, ModelIdentity, TensorCensus

from . import file_pages, hf_fingerprint
from .hf_architecture import ArchitectureRules, rules_for
from .hf_dispatch import device_map_of, is_meta, readable, write_offloaded
from .hf_quiet import quiet_transformers
from .hf_shared import equal_pairs, own_storage, parameter_ids, sharing_copy
from .hf_tokenizer import HFTokenizer
from .staged_folder import staged_folder


@dataclass(frozen=True)
class HFMatrix:
    """A 2-D weight as (out, in) float32 numpy, with its family, block index and LM-head flag."""

    name: str
    family: str
    block: int | None
    head: bool
    array: np.ndarray


class HFWeights:
    """A transformers model in memory as a WeightSource.

    Args:
        module: The transformers model (already on its device, in eval mode).
        tokenizer: The matching transformers fast tokenizer.
        ref: The reference it was loaded from (recorded in the identity).
        adapter: Adapter name recorded in the identity.
        batch_size: Windows per forward pass; defaults to 8 on CPU and 32 on accelerators.
        gguf: The GGUF file the weights were dequantized from (recorded in the identity), if any.
    """

    def __init__(
        self,
        module: Any,
        tokenizer: Any,
        *,
        ref: str,
        adapter: str,
        batch_size: int | None = None,
        gguf: GGUFSource | None = None,
    ) -> None:
        self.module = module
        self.gguf = gguf
        self.config_model_type: str = module.config.model_type
        self.rules: ArchitectureRules = rules_for(self.config_model_type)
        self.ref = ref
        self.adapter = adapter
        self._tokenizer = tokenizer if isinstance(tokenizer, HFTokenizer) else HFTokenizer(tokenizer)
        self.batch_size = batch_size or (8 if self.device.type == "cpu" else 32)
        self._originals: dict[str, torch.Tensor] = {}
        self._by_name: dict[str, torch.nn.Parameter] | None = None
        self._shared: set[int] = set()  # ids of parameters whose storage a duplicate holds too (copy on write)
        self._sharers: list[weakref.ref[HFWeights]] = []  # the models holding that storage too

    def duplicate(self) -> Self | None:
        """A copy in memory, as a second load of the same reference gives it (same identity, tokenizer and batch
        size; the weights as they are now, ties kept; no scaling originals): `invarlock run` edits a copy of the
        baseline instead of reading its checkpoint twice. The two share each weight's storage until either
        writes it (`assign`, `scale_weights`), so a copy costs only the weights an edit changes. None for a
        module accelerate dispatched over several devices (`hf_device_map`): it is loaded again."""
        if len(set((getattr(self.module, "hf_device_map", None) or {}).values())) > 1:
            return None
        twin = copy.copy(self)
        twin.module = sharing_copy(self.module)
        twin._originals = {}
        twin._by_name = None
        twin._shared = parameter_ids(twin.module)
        self._shared |= parameter_ids(self.module)
        twin._sharers = []
        _share_group(self, twin)
        return twin

    def share_equal_weights(self, other: object) -> int:
        """WeightSharingModel: each plain weight of this model bit-identical to `other`'s of the same name (an
        HFWeights; any other model shares nothing) takes `other`'s storage, both then marked shared as after
        `duplicate`, so that `assign` and `scale_weights` on either side give that weight its own storage
        first. The Parameter objects stay, hence tied aliases too; what this model held is freed, and the pages
        of a memory-mapped checkpoint that held them are given back (adapters/file_pages.py)."""
        if not isinstance(other, HFWeights):
            return 0
        shared = 0
        with torch.no_grad():
            for param, twin in equal_pairs(self.module, other.module):
                own, param.data = param.data, twin.data
                self._shared.add(id(param))
                other._shared.add(id(twin))
                shared += 1
                if shared == 1:
                    _share_group(self, other)
                if own.device.type == "cpu" and own.is_contiguous():  # `own` keeps the checkpoint mapped meanwhile
                    file_pages.release(own.data_ptr(), own.nbytes)  # else its pages stay resident, read by nothing
        return shared

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters (of the first one holding values: a dispatched model's inputs go
        there, and accelerate's hooks move them on)."""
        return next((p.device for p in self.module.parameters() if not is_meta(p)), torch.device("cpu"))

    def tokenizer(self) -> HFTokenizer:
        """The tokenizer the model was loaded with."""
        return self._tokenizer

    def identity(self) -> ModelIdentity:
        """Digests of the weights as they are now, plus tokenizer, config, parameter count, dtype, device and
        the GGUF file they came from."""
        return ModelIdentity(
            ref=self.ref,
            adapter=self.adapter,
            architecture=type(self.module).__name__,
            weights_sha256=hf_fingerprint.weights_sha256(self.module),
            tokenizer_sha256=self._tokenizer.digest(),
            config_sha256=hf_fingerprint.config_sha256(self.module.config),
            param_count=sum(p.numel() for p in self.module.parameters()),
            dtype=hf_fingerprint.dtype_name(next(self.module.parameters()).dtype),
            device=str(self.device),
            gguf=self.gguf,
            device_map=device_map_of(self.module),
        )

    def matrices(self) -> Iterator[HFMatrix]:
        """Every unique 2-D parameter as (out, in) float32 (a view of float32 CPU weights, else a copy); GPT-2
        Conv1D weights are transposed."""
        head = self._untied_head()
        for name, param in self.module.named_parameters():
            if param.ndim != 2:
                continue
            with readable(self.module, name, param) as value:  # one matrix at a time, offloaded ones too
                array = value.to("cpu", torch.float32)
            if self.rules.output_axis(name) == 1:
                array = array.T
            yield HFMatrix(
                name=name,
                family=self.rules.family(name),
                block=self.rules.block_index(name),
                head=param is head,
                array=array.contiguous().numpy(),
            )

    def _untied_head(self) -> torch.Tensor | None:
        head = self.module.get_output_embeddings()
        if head is None or head.weight is self.module.get_input_embeddings().weight:
            return None
        weight: torch.Tensor = head.weight
        return weight

    def assign(self, name: str, array: np.ndarray) -> None:
        """Copy the (out, in) float32/64 `array` into weight `name` (transposed back for Conv1D), in its dtype.

        Raises:
            ValueError: `name` is not a 2-D parameter, or `array` is not float32/64 of its (out, in) shape.
        """
        param = self._parameters().get(name)
        if param is None or param.ndim != 2:
            raise ValueError(f"cannot assign {name}: not a 2-D parameter of this model")
        transposed = self.rules.output_axis(name) == 1
        shape = tuple(param.shape[::-1]) if transposed else tuple(param.shape)
        if array.dtype not in (np.float32, np.float64) or array.shape != shape:
            raise ValueError(f"cannot assign {name}: need float32/64 {shape}, not {array.dtype} {array.shape}")
        own_storage(param, self._still_shared())  # after the checks: it leaves the values to this write
        if is_meta(param):
            value = torch.from_numpy(array).to(param.dtype)
            write_offloaded(self.module, name, value.T if transposed else value)
        else:
            with torch.no_grad():
                (param.T if transposed else param).copy_(torch.from_numpy(array))
        for key in [key for key, original in self._originals.items() if self._parameters()[key] is param]:
            del self._originals[key]

    def _still_shared(self) -> set[int]:
        """The parameters whose storage another model still holds: none once every model this one shared with
        is freed (a sequential run's subject after the baseline is released), so that a write no longer leaves
        pages nothing reads resident: it goes in place, or, over a checkpoint's clean mapped pages, into new memory
        while those pages are given back (hf_shared.own_storage)."""
        if self._shared and not any(ref() is not None for ref in self._sharers):
            self._shared.clear()
        return self._shared

    def _parameters(self) -> dict[str, torch.nn.Parameter]:
        """Every parameter by each of its names (tied aliases included); the module's parameters never change
        identity (edits write in place), so the map is built once."""
        if self._by_name is None:
            self._by_name = dict(self.module.named_parameters(remove_duplicate=False))
        return self._by_name

    def census(self) -> TensorCensus:
        """Every state_dict tensor (tied duplicates included), tied groups, config and tokenizer digests."""
        return TensorCensus(
            tensors=hf_fingerprint.tensor_infos(self.module),
            tied_groups=hf_fingerprint.tied_groups(self.module),
            config_sha256=hf_fingerprint.config_sha256(self.module.config),
            tokenizer_sha256=self._tokenizer.digest(),
        )

    def unmapped(self) -> dict[str, str]:
        """Every 2-D parameter of an HF module is a named model weight: none is unmapped."""
        return {}

    def variance_taps(self) -> list[str]:
        """Weight names of the FFN output modules (GPT-2 `mlp.c_proj`, LLaMA `mlp.down_proj`, BERT `output.dense`)."""
        return [n for n, p in self.module.named_parameters() if p.ndim == 2 and self.rules.is_variance_tap(n)]

    def scale_weights(self, factors: Mapping[str, float]) -> None:
        """Weight = original x factor for each named weight; previously scaled weights not named are restored."""
        params = dict(self.module.named_parameters())
        unknown = sorted(set(factors) - params.keys())
        if unknown:
            raise ValueError(f"cannot scale unknown weights: {', '.join(unknown)}")
        with torch.no_grad():
            for name in sorted(set(self._originals) | set(factors)):
                if name not in self._originals:
                    with readable(self.module, name, params[name]) as value:
                        self._originals[name] = value.clone()
                original, factor = self._originals[name], factors.get(name)
                if is_meta(params[name]):
                    write_offloaded(self.module, name, original.clone() if factor is None else original * factor)
                    continue
                own_storage(params[name], self._still_shared())
                params[name].copy_(original)
                if factor is not None:
                    params[name].mul_(factor)

    def export(self, directory: str | Path) -> Path:
        """Save a plain safetensors checkpoint and the tokenizer that `HFModelLoader` loads back."""
        with staged_folder(directory) as staging, quiet_transformers():  # whole or not at all
            self.module.save_pretrained(staging, safe_serialization=True)
            self._tokenizer.inner.save_pretrained(staging)
        return Path(directory)


def _share_group(a: HFWeights, b: HFWeights) -> None:
    """Every live model sharing storage with `a` or `b` (storage sharing is transitive: a copy of a copy holds
    the first model's storage) now lists all the others as its sharers."""
    group = {id(m): m for m in (a, b, *(r() for r in (*a._sharers, *b._sharers))) if m is not None}
    for model in group.values():
        model._sharers = [weakref.ref(other) for key, other in group.items() if key != id(model)]
