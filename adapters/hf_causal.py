"""ModelRunner and WeightSource ports (one `LoadedModel`) for Hugging Face causal LMs (GPT-2, LLaMA family)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from invarlock.domain.errors import UsageError
from invarlock.domain.model import ActivationStats, ModelIdentity, PairedScore, TensorCensus, WindowScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import ModelRunner, Progress

from . import hf_fingerprint
from .hf_architecture import ArchitectureRules, rules_for
from .hf_demo import quiet_transformers
from .hf_kl import window_comparison
from .hf_nll import batches, token_ids, window_scores
from .hf_tokenizer import HFTokenizer
from .hf_zero_shot import zero_shot_pairs


@dataclass(frozen=True)
class HFMatrix:
    """A 2-D weight as (out, in) float32 numpy, with its family, block index and LM-head flag."""

    name: str
    family: str
    block: int | None
    head: bool
    array: np.ndarray


class HFCausalModel:
    """A causal LM in memory, both roles: ModelRunner (scoring, taps) and WeightSource (weights, export).

    Args:
        module: The transformers `*ForCausalLM` model (already on its device, in eval mode).
        tokenizer: The matching transformers fast tokenizer.
        ref: The reference it was loaded from (recorded in the identity).
        adapter: Adapter name recorded in the identity.
        batch_size: Windows per forward pass; defaults to 8 on CPU and 32 on accelerators.
    """

    ADAPTER = "hf_causal"

    def __init__(
        self, module: Any, tokenizer: Any, *, ref: str, adapter: str = "hf_causal", batch_size: int | None = None
    ) -> None:
        self.module = module
        self.config_model_type: str = module.config.model_type
        self.rules: ArchitectureRules = rules_for(self.config_model_type)
        self.ref = ref
        self.adapter = adapter
        self._tokenizer = HFTokenizer(tokenizer)
        self.batch_size = batch_size or (8 if self.device.type == "cpu" else 32)
        self._originals: dict[str, torch.Tensor] = {}
        self._by_name: dict[str, torch.nn.Parameter] | None = None

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.module.parameters()).device

    def tokenizer(self) -> HFTokenizer:
        """The tokenizer the model was loaded with."""
        return self._tokenizer

    def identity(self) -> ModelIdentity:
        """Digests of the weights as they are now, plus tokenizer, config, parameter count, dtype, device."""
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
        )

    def score(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> Iterator[WindowScore]:
        """Per-window NLL sums (nats, float64) of tokens 1..L-1 given the tokens before them; no BOS added.

        Raises:
            AbortError: E402 when a logit or a token loss is non-finite.
        """
        for batch in batches(windows, self.batch_size):
            yield from self._score_batch(batch)
            if progress is not None:
                progress(len(batch))

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """Both models' logits of each batch (this model's batch size) are held together, then reduced: each
        model's NLL sums, and per window KL(baseline ‖ subject), top-1 and top-5 agreement (hf_kl).
        Labelled examples (windows with `candidates`) are classified zero-shot instead (hf_zero_shot): no
        per-model scores, a comparison with the gold label and both predictions.

        Raises:
            UsageError: E104 when `other` is not an `HFCausalModel`.
            AbortError: E402 as `score`.
        """
        if not isinstance(other, HFCausalModel):
            raise UsageError(
                "E104",
                f"lockstep scoring needs two hf_causal models, got {type(other).__name__}",
                "load both models with the same adapter",
            )
        if any(w.label is not None for w in windows):
            yield from self._zero_shot(other, windows, progress)
            return
        for batch in batches(windows, self.batch_size):
            ids = token_ids(batch, self.device)
            with torch.inference_mode():
                mine, others = self._logits(ids), other._logits(ids)
                pairs = [
                    PairedScore(
                        window_id=b.window_id,
                        baseline=b,
                        subject=s,
                        comparison=window_comparison(b.window_id, mine[i, :-1], others[i, :-1].to(mine.device)),
                    )
                    for i, (b, s) in enumerate(
                        zip(window_scores(batch, ids, mine), window_scores(batch, ids, others), strict=True)
                    )
                ]
            yield from pairs
            if progress is not None:
                progress(len(batch))

    def _zero_shot(
        self, other: HFCausalModel, windows: Sequence[TokenWindow], progress: Progress | None
    ) -> Iterator[PairedScore]:
        for start in range(0, len(windows), self.batch_size):
            batch = windows[start : start + self.batch_size]
            yield from zero_shot_pairs(self._masked_logits, other._masked_logits, batch, self.batch_size)
            if progress is not None:
                progress(len(batch))

    def _masked_logits(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.module(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), use_cache=False).logits

    def _logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.module(input_ids=ids.to(self.device), use_cache=False).logits

    def _score_batch(self, batch: Sequence[TokenWindow]) -> list[WindowScore]:
        ids = token_ids(batch, self.device)
        with torch.inference_mode():
            return window_scores(batch, ids, self._logits(ids))

    def matrices(self) -> Iterator[HFMatrix]:
        """Every unique 2-D parameter as (out, in) float32 (a view of float32 CPU weights, else a copy); GPT-2
        Conv1D weights are transposed."""
        head = self._untied_head()
        for name, param in self.module.named_parameters():
            if param.ndim != 2:
                continue
            array = param.detach().to("cpu", torch.float32)
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
        rows = param.T if self.rules.output_axis(name) == 1 else param
        if array.dtype not in (np.float32, np.float64) or array.shape != tuple(rows.shape):
            raise ValueError(
                f"cannot assign {name}: need float32/64 {tuple(rows.shape)}, not {array.dtype} {array.shape}"
            )
        with torch.no_grad():
            rows.copy_(torch.from_numpy(array))
        for key in [key for key, original in self._originals.items() if self._parameters()[key] is param]:
            del self._originals[key]

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

    def variance_taps(self) -> list[str]:
        """Weight names of the FFN output modules (GPT-2 `mlp.c_proj`, LLaMA `mlp.down_proj`, BERT `output.dense`)."""
        return [n for n, p in self.module.named_parameters() if p.ndim == 2 and self.rules.is_variance_tap(n)]

    def activation_stats(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
        """Score `windows` while a forward hook sums each tapped module's output values in float64."""
        modules = dict(self.module.named_modules())
        sums = {w: [0.0, 0.0, 0.0] for w in weights}
        handles = [modules[w.removesuffix(".weight")].register_forward_hook(_accumulator(sums[w])) for w in weights]
        try:
            scores = list(self.score(windows, progress))
        finally:
            for handle in handles:
                handle.remove()
        stats = {w: ActivationStats(count=int(c), sum=s, sum_sq=q) for w, (c, s, q) in sums.items()}
        return stats, scores

    def scale_weights(self, factors: Mapping[str, float]) -> None:
        """Weight = original x factor for each named weight; previously scaled weights not named are restored."""
        params = dict(self.module.named_parameters())
        unknown = sorted(set(factors) - params.keys())
        if unknown:
            raise ValueError(f"cannot scale unknown weights: {', '.join(unknown)}")
        with torch.no_grad():
            for name in sorted(set(self._originals) | set(factors)):
                original = self._originals.setdefault(name, params[name].detach().clone())
                params[name].copy_(original)
                if name in factors:
                    params[name].mul_(factors[name])

    def export(self, directory: str | Path) -> Path:
        """Save a plain safetensors checkpoint and the tokenizer that `HFModelLoader` loads back."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.module.save_pretrained(out, safe_serialization=True)
            self._tokenizer.inner.save_pretrained(out)
        return out


def _accumulator(acc: list[float]) -> Callable[..., None]:
    def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> None:
        values = output.detach().double()
        acc[0] += values.numel()
        acc[1] += float(values.sum())
        acc[2] += float((values * values).sum())

    return hook
