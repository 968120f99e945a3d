"""Recorded-state fakes of the model, corpus and edit ports (for unit tests of the use cases only).

The fake model lives here; its tokenizer, loader, corpora, edits and paired measures live in tokenizer.py,
loaders.py, corpora.py, edits.py and comparisons.py, re-exported here under their old import path."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.model import (
    ActivationStats,
    ModelIdentity,
    PairedScore,
    TensorCensus,
    TensorInfo,
    WindowScore,
)
from invarlock.domain.windows import TokenWindow

from tests.fakes.comparisons import _classified, _compare
from tests.fakes.corpora import FakeCorpora, FakeCorpus, labelled_words, words
from tests.fakes.edits import FakeCheckedEdit, FakeScaleEdit, FakeWeightEdit
from tests.fakes.loaders import FakeLoader
from tests.fakes.references import FakeReference
from tests.fakes.tokenizer import VOCAB, FakeTokenizer

__all__ = [
    "VOCAB",
    "FakeCheckedEdit",
    "FakeCorpora",
    "FakeCorpus",
    "FakeLoader",
    "FakeMatrix",
    "FakeModel",
    "FakeScaleEdit",
    "FakeTokenizer",
    "FakeWeightEdit",
    "labelled_words",
    "words",
]


@dataclass(frozen=True)
class FakeMatrix:
    name: str
    family: str
    block: int | None
    head: bool
    array: np.ndarray


def _block_of(name: str) -> int | None:
    """The first all-digit segment of a fake weight name ("ffn.2.down" -> 2), None when there is none."""
    return next((int(part) for part in name.split(".") if part.isdigit()), None)


@dataclass
class FakeModel:
    """A 'model' whose per-token NLL is a fixed function of the token id, times `quality` (1.0 = baseline).

    Both model ports on one object, like an adapter's LoadedModel: ModelRunner (score, score_pair,
    activation_stats) and WeightSource (identity, matrices, census, assign, scale_weights, export). It runs
    the same contract suites as the real adapter (tests/contracts/test_model_runner_contract.py and
    test_weight_source_contract.py)."""

    ref: str
    quality: float = 1.0
    tokenizer_flavour: str = "words"
    weights: dict[str, np.ndarray] = field(default_factory=lambda: {"w": np.ones((4, 4), np.float32)})
    scored: list[int] = field(default_factory=list)
    unmapped_weights: dict[str, str] = field(default_factory=dict)  # weight name -> why the "adapter" cannot map it

    def identity(self) -> ModelIdentity:
        digest = hashlib.sha256(repr(sorted((k, v.tobytes()) for k, v in self.weights.items())).encode())
        return ModelIdentity(
            ref=self.ref,
            adapter="fake",
            architecture="fake",
            weights_sha256=digest.hexdigest(),
            tokenizer_sha256=self.tokenizer().digest(),
            config_sha256="0" * 64,
            param_count=16,
            dtype="float32",
            device="cpu",
            unmapped=self.unmapped() or None,
        )

    def unmapped(self) -> dict[str, str]:
        return dict(self.unmapped_weights)

    def tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer(self.tokenizer_flavour)

    def _scale_penalty(self) -> float:
        """The loss grows with how far each tapped weight's scale is from 1 (its value in every fake)."""
        return sum(abs(float(np.log(np.abs(self.weights[n]).mean()))) for n in self.variance_taps())

    def score(self, windows: Sequence[TokenWindow], progress=None) -> Iterator[WindowScore]:  # type: ignore[no-untyped-def]
        for w in windows:
            self.scored.append(w.window_id)
            score = self._score_one(w)
            if progress is not None:
                progress(1)
            yield score

    def _score_one(self, w: TokenWindow) -> WindowScore:
        tokens = np.asarray(w.tokens[1:], dtype=np.float64)
        nll = float(np.sum(2.0 + (tokens % 13) / 10.0) * self.quality * (1.0 + self._scale_penalty()))
        if not (math.isfinite(nll) and all(np.isfinite(v).all() for v in self.weights.values())):
            raise AbortError("E402", f"non-finite token loss in window {w.window_id}", "check the fake's weights")
        return WindowScore(window_id=w.window_id, tokens_scored=len(w.tokens) - 1, nll_sum=nll)

    def score_pair(self, other, windows, progress=None):  # type: ignore[no-untyped-def]
        """Lockstep: one window through both fakes before the next (`paired` records each window once, each
        model's `scored` records it too). The comparison is a stand-in for the causal measures: KL and
        disagreement grow with the two fakes' quality gap, zero when they are equal."""
        if not isinstance(other, FakeModel):
            raise UsageError("E104", f"lockstep scoring needs two fake models, got {type(other).__name__}", "use fakes")
        for w in windows:
            self.paired.append(w.window_id)
            if w.label is not None:
                yield _classified(w, self, other)
                if progress is not None:
                    progress(1)
                continue
            self.scored.append(w.window_id)
            other.scored.append(w.window_id)
            mine, theirs = self._score_one(w), other._score_one(w)
            if progress is not None:
                progress(1)
            yield PairedScore(
                window_id=w.window_id, baseline=mine, subject=theirs, comparison=_compare(w, mine, theirs)
            )

    def kept_reference(self) -> FakeReference:
        """An empty reference of this fake (recorded in `references`)."""
        reference = FakeReference(self, self.batch_size)
        self.references.append(reference)
        return reference

    originals: dict[str, np.ndarray] = field(default_factory=dict)
    references: list[FakeReference] = field(default_factory=list)
    tapped: list[tuple[int, ...]] = field(default_factory=list)
    taps_without_scores: list[tuple[int, ...]] = field(default_factory=list)
    paired: list[int] = field(default_factory=list)
    loader: FakeLoader | None = field(default=None, repr=False, compare=False)
    batch_size: int = 8  # windows per "forward pass" (ModelRunner.batch_size): the loader's option, else 8

    def duplicate(self) -> FakeModel:
        """A copy with its own weights (no scaling originals, nothing scored), recorded by the loader that
        loaded this model as a duplicate (in `duplicated` and `instances`, not in `loaded`)."""
        twin = replace(
            self,
            weights={k: v.copy() for k, v in self.weights.items()},
            unmapped_weights=dict(self.unmapped_weights),
            scored=[],
            originals={},
            tapped=[],
            taps_without_scores=[],
            paired=[],
            references=[],
        )
        if self.loader is not None:
            self.loader.duplicated.append(self.ref)
            self.loader.instances.append(twin)
        return twin

    def matrices(self) -> Iterator[FakeMatrix]:
        for name, array in sorted(self.weights.items()):
            if array.ndim == 2 and name not in self.unmapped_weights:
                family = "ffn" if "ffn" in name else "other"
                yield FakeMatrix(name=name, family=family, block=_block_of(name), head=False, array=array.copy())

    def assign(self, name: str, array: np.ndarray) -> None:
        current = self.weights.get(name)
        if current is None or array.shape != current.shape or array.dtype not in (np.float32, np.float64):
            raise ValueError(f"cannot assign {name}: not a weight of this shape, or not float32/64")
        self.weights[name] = array.astype(current.dtype)
        self.originals.pop(name, None)

    def variance_taps(self) -> list[str]:
        return sorted(n for n in self.weights if n.endswith("down") and n not in self.unmapped_weights)

    def activation_stats(self, windows, weights, progress=None):  # type: ignore[no-untyped-def]
        """Output values behave like N(0, (mean |W|)^2): count = tokens, sum = 0, sum_sq = count * scale^2."""
        scores = list(self.score(windows, progress))
        return self._taps(windows, weights), scores

    def activation_taps(self, windows, weights, progress=None):  # type: ignore[no-untyped-def]
        """activation_stats' statistics without scoring (recorded in `taps_without_scores` too)."""
        self.taps_without_scores.append(tuple(w.window_id for w in windows))
        if progress is not None:
            progress(len(windows))
        return self._taps(windows, weights)

    def _taps(self, windows, weights):  # type: ignore[no-untyped-def]
        self.tapped.append(tuple(w.window_id for w in windows))
        count = sum(len(w.tokens) for w in windows)
        return {
            w: ActivationStats(count=count, sum=0.0, sum_sq=count * float(np.abs(self.weights[w]).mean()) ** 2)
            for w in weights
        }

    def scale_weights(self, factors: Mapping[str, float]) -> None:
        for name in sorted(set(self.originals) | set(factors)):
            original = self.originals.setdefault(name, self.weights[name].copy())
            self.weights[name] = original * np.float32(factors.get(name, 1.0)) if name in factors else original.copy()

    def export(self, directory: str | Path) -> Path:
        """Weights as `weights.npz` and the rest as `fake.json`; `FakeModel.reload` reads them back."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "weights.npz", **self.weights)
        meta = {"ref": self.ref, "quality": self.quality, "tokenizer_flavour": self.tokenizer_flavour}
        if self.unmapped_weights:
            meta["unmapped_weights"] = self.unmapped_weights
        (out / "fake.json").write_text(json.dumps(meta), encoding="utf-8")
        return out

    @classmethod
    def reload(cls, directory: Path) -> FakeModel:
        """The model `export` wrote to `directory`."""
        meta = json.loads((directory / "fake.json").read_text(encoding="utf-8"))
        with np.load(directory / "weights.npz") as saved:
            return cls(**meta, weights={name: saved[name] for name in saved.files})

    def census(self) -> TensorCensus:
        infos = tuple(
            TensorInfo(name=k, dtype="float32", shape=v.shape, finite=bool(np.isfinite(v).all()), all_zero=not v.any())
            for k, v in sorted(self.weights.items())
        )
        return TensorCensus(
            tensors=infos,
            tied_groups=(),
            config_sha256="0" * 64,
            tokenizer_sha256=self.tokenizer().digest(),
            unmapped=tuple(sorted(self.unmapped_weights)),
        )
