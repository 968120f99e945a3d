"""ModelRunner and WeightSource ports (one `LoadedModel`) for a causal LM exported to ONNX, run by onnxruntime.

The logits come from an `onnxruntime.InferenceSession` (input `input_ids`, output `logits`); every reduction
after them is the HF adapter's own (hf_nll, hf_kl), on CPU in float64, so the same weights give the same
evidence up to the runtimes' float32 round-off. `score_pair` pairs with any causal LM runner, HF or ONNX.

A graph that quantizes its activations at run time (`quantize_dynamic`'s DynamicQuantizeLinear, onnx_graph.
batch_dependent) computes each scale over the whole pass, so a window's logits would depend on the windows batched
with it (NLL sums 0.3–3 % apart on the demo's int8 export) and the re-execution audit, which batches a sample of
them, could not repeat them. Such a graph runs each window in a pass of its own (`window_per_pass`), behind the
same batch API: its scores depend on the window's tokens only. Float graphs keep batching.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.model import ActivationStats, PairedScore, WindowScore
from invarlock.domain.windows import TokenWindow
from invarlock.ports.model import ModelRunner, Progress

from .causal_lockstep import lockstep_pairs, require_causal
from .error_text import first_line
from .hf_nll import window_scores
from .onnx_graph import batch_dependent
from .onnx_session import open_session
from .onnx_signature import HINT, check_logits, fixed_batch
from .onnx_weights import OnnxMatrix, OnnxSource, OnnxWeights, read_files
from .window_batches import batches, token_ids

__all__ = ["OnnxCausalModel", "OnnxMatrix"]


class OnnxCausalModel(OnnxWeights):
    """A causal LM in ONNX, both roles: ModelRunner (scoring, taps) and WeightSource (OnnxWeights).

    Args:
        source: The loaded model, weight map, tokenizer and config facts (onnx_loader).
        ref: The reference it was loaded from (recorded in the identity).
        provider: The onnxruntime execution provider (CPUExecutionProvider or CUDAExecutionProvider).
        device: `cpu` or `cuda`, the provider's device.
        runtime: `onnxruntime <version> <provider>`, recorded in the identity.
        batch_size: Windows per batch; defaults to 8 on CPU and 32 on CUDA. A graph whose rows depend on their
            pass (`window_per_pass`) still takes batches, but runs each distinct window of one in a pass of its own.
    """

    ADAPTER = "onnx"

    def __init__(
        self, source: OnnxSource, *, ref: str, provider: str, device: str, runtime: str, batch_size: int | None = None
    ) -> None:
        super().__init__(source, ref=ref, adapter=self.ADAPTER, device=device, runtime=runtime)
        self.provider = provider
        self.batch_size = batch_size or (8 if device == "cpu" else 32)
        self._sessions: dict[tuple[str, ...], tuple[int, Any]] = {}
        # a graph fixed at a batch of 1 (0.3.11 certified such exports with eval.batch_size 1) runs the same way
        self.window_per_pass = batch_dependent(source.proto.graph) or fixed_batch(source.proto.graph) == 1

    def _session(self, outputs: tuple[str, ...] = ()) -> Any:
        cached = self._sessions.get(outputs)
        if cached is None or cached[0] != self.changed:
            self._require_finite()
            path = self.source.directory / "model.onnx" if self.changed == 0 else None
            if path is not None:
                self._require_unchanged_files()
            self._sessions[outputs] = (
                self.changed,
                open_session(self.source.proto, self.provider, path=path, outputs=outputs),
            )
        return self._sessions[outputs][1]

    def _require_unchanged_files(self) -> None:
        """UsageError E102 when model.onnx or an external data file changed since it was read: onnxruntime reads
        the files, so it would score other weights than those fingerprinted (a re-export or copy finishing mid-run)."""
        now = read_files(self.source.directory, self.source.files)
        changed = sorted(n for n in self.source.files if now.get(n) != self.source.files[n])
        if changed:
            said = f"{self.source.directory}: {changed[0]} changed on disk after the model was read and fingerprinted"
            raise UsageError("E102", said, "leave the model folder unchanged during a run, then run again")

    def _require_finite(self) -> None:
        """AbortError E402 for a non-finite weight: exported attention graphs may mask NaN scores (IsNaN/Where),
        so a broken weight need not reach the logits, and the loss check alone would miss it."""
        bad = [t.name for t in self.census().tensors if not t.finite]
        if bad:
            raise AbortError(
                "E402",
                f"non-finite weights in the ONNX model: {', '.join(bad[:3])}",
                "check the model's weights (the invariants guard lists non-finite tensors)",
            )

    def _run(self, ids: torch.Tensor, outputs: tuple[str, ...] = ()) -> list[np.ndarray]:
        session, names, path = self._session(outputs), ["logits", *outputs], self.source.directory / "model.onnx"
        try:
            if self.window_per_pass:
                given = _row_by_row(session, names, ids.numpy())
            else:
                given = list(session.run(names, {"input_ids": ids.numpy()}))
        except Exception as error:  # onnxruntime's InvalidArgument, Fail...: the graph refused the input
            if not type(error).__module__.startswith("onnxruntime"):
                raise
            said = first_line(error)
            raise UsageError("E102", f"{path} could not run input_ids {tuple(ids.shape)}: {said}", HINT) from None
        check_logits(path, given[0], tuple(ids.shape), self.source.vocab_size, self.source.tokens)
        return given

    def causal_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """The logits (batch, positions, vocab) of `ids` from onnxruntime, as a CPU torch tensor (no copy)."""
        return torch.from_numpy(self._run(ids.cpu())[0])

    def score(self, windows: Sequence[TokenWindow], progress: Progress | None = None) -> Iterator[WindowScore]:
        """Per-window NLL sums (nats, float64) of tokens 1..L-1 given the tokens before them; no BOS added.

        Raises:
            AbortError: E402 when a logit or a token loss is non-finite.
        """
        for batch in batches(windows, self.batch_size):
            ids = token_ids(batch, torch.device("cpu"), self.batch_size)  # padded: window_batches.token_ids
            yield from window_scores(batch, ids, self.causal_logits(ids))
            if progress is not None:
                progress(len(batch))

    def score_pair(
        self, other: ModelRunner, windows: Sequence[TokenWindow], progress: Progress | None = None
    ) -> Iterator[PairedScore]:
        """Both models' logits of each batch are held together, then reduced as the HF adapter does: each
        model's NLL sums and per window KL(this ‖ other), top-1 and top-5 agreement. `other` may be an HF model.

        Raises:
            UsageError: E104 when `other` is not a causal LM runner, or for labelled examples (zero-shot
                classification needs an attention mask the exported graph does not take).
            AbortError: E402 as `score`.
        """
        if any(w.label is not None for w in windows):
            raise UsageError(
                "E104",
                "the onnx adapter scores token windows, not labelled examples",
                "use eval.metric.kind ppl_causal",
            )
        yield from lockstep_pairs(self, require_causal(other, "onnx"), windows, self.batch_size, progress)

    def activation_stats(
        self, windows: Sequence[TokenWindow], weights: Sequence[str], progress: Progress | None = None
    ) -> tuple[dict[str, ActivationStats], list[WindowScore]]:
        """Score `windows` while summing each tapped weight's product (count, Σx, Σx², float64), read as an
        extra output of the graph (the value the weight's MatMul produces, pre-residual)."""
        slots = [self.slot(name) for name in weights]
        outputs = tuple(s.output for s in slots if s is not None and s.output is not None)
        if len(outputs) != len(weights):
            raise UsageError("E104", f"the onnx adapter cannot tap {', '.join(weights)}", "tap variance_taps() weights")
        sums = {w: [0.0, 0.0, 0.0] for w in weights}
        scores: list[WindowScore] = []
        for batch in batches(windows, self.batch_size):
            ids = token_ids(batch, torch.device("cpu"))
            logits, *tapped = self._run(ids, outputs)
            scores += window_scores(batch, ids, torch.from_numpy(logits))
            for name, values in zip(weights, tapped, strict=True):
                wide = values.astype(np.float64)
                sums[name][0] += wide.size
                sums[name][1] += float(wide.sum())
                sums[name][2] += float((wide * wide).sum())
            if progress is not None:
                progress(len(batch))
        return {w: ActivationStats(count=int(c), sum=s, sum_sq=q) for w, (c, s, q) in sums.items()}, scores


def _row_by_row(session: Any, names: list[str], ids: np.ndarray) -> list[np.ndarray]:
    """`session`'s outputs `names` for `ids` (rows, positions), each row run in a pass of its own, placed along
    the outputs' first axis as one pass of all rows places them. A row equal to an earlier one (the padding
    window_batches.token_ids adds) gets a copy of that row's outputs: a pass's outputs depend on its input only."""
    outputs: list[np.ndarray] = []
    first: dict[bytes, int] = {}
    for i, row in enumerate(ids):
        earlier = first.setdefault(row.tobytes(), i)
        values = session.run(names, {"input_ids": row[None]}) if earlier == i else None
        if not outputs and values is not None:
            outputs = [np.empty((len(ids) * len(v), *v.shape[1:]), v.dtype) for v in values]
        for k, out in enumerate(outputs):
            part = len(out) // len(ids)
            out[i * part : (i + 1) * part] = out[earlier * part : (earlier + 1) * part] if values is None else values[k]
    return outputs
