"""Recorded-state fakes of the model, corpus and edit ports (for unit tests of the use cases only)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import UsageError
from invarlock.domain.model import (
    ActivationStats,
    CorpusInfo,
    EditOutcome,
    ModelIdentity,
    TensorCensus,
    TensorInfo,
    WindowScore,
)
from invarlock.domain.windows import TokenWindow

VOCAB = 997


class FakeTokenizer:
    """Word-level ids from a hash of each word; digest depends on a `flavour` string."""

    def __init__(self, flavour: str = "words") -> None:
        self.flavour = flavour

    def encode(self, text: str) -> list[int]:
        return [int(hashlib.sha256(w.encode()).hexdigest()[:6], 16) % (VOCAB - 1) + 1 for w in text.split()]

    def separator_id(self) -> int | None:
        return 0

    def digest(self) -> str:
        return hashlib.sha256(self.flavour.encode()).hexdigest()


@dataclass(frozen=True)
class FakeMatrix:
    name: str
    family: str
    array: np.ndarray


@dataclass
class FakeModel:
    """A 'model' whose per-token NLL is a fixed function of the token id, times `quality` (1.0 = baseline)."""

    ref: str
    quality: float = 1.0
    tokenizer_flavour: str = "words"
    weights: dict[str, np.ndarray] = field(default_factory=lambda: {"w": np.ones((4, 4), np.float32)})
    scored: list[int] = field(default_factory=list)

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
        )

    def tokenizer(self) -> FakeTokenizer:
        return FakeTokenizer(self.tokenizer_flavour)

    def _scale_penalty(self) -> float:
        """The loss grows with how far each tapped weight's scale is from 1 (its value in every fake)."""
        return sum(abs(float(np.log(np.abs(self.weights[n]).mean()))) for n in self.variance_taps())

    def score(self, windows: Sequence[TokenWindow], progress=None) -> Iterator[WindowScore]:  # type: ignore[no-untyped-def]
        for w in windows:
            self.scored.append(w.window_id)
            tokens = np.asarray(w.tokens[1:], dtype=np.float64)
            nll = float(np.sum(2.0 + (tokens % 13) / 10.0) * self.quality * (1.0 + self._scale_penalty()))
            if progress is not None:
                progress(1)
            yield WindowScore(window_id=w.window_id, tokens_scored=len(w.tokens) - 1, nll_sum=nll)

    originals: dict[str, np.ndarray] = field(default_factory=dict)
    tapped: list[tuple[int, ...]] = field(default_factory=list)

    def matrices(self) -> Iterator[FakeMatrix]:
        for name, array in sorted(self.weights.items()):
            if array.ndim == 2:
                yield FakeMatrix(name=name, family="ffn" if "ffn" in name else "other", array=array.copy())

    def variance_taps(self) -> list[str]:
        return sorted(n for n in self.weights if n.endswith("down"))

    def activation_stats(self, windows, weights, progress=None):  # type: ignore[no-untyped-def]
        """Output values behave like N(0, (mean |W|)^2): count = tokens, sum = 0, sum_sq = count * scale^2."""
        scores = list(self.score(windows, progress))
        self.tapped.append(tuple(w.window_id for w in windows))
        count = sum(len(w.tokens) for w in windows)
        stats = {
            w: ActivationStats(count=count, sum=0.0, sum_sq=count * float(np.abs(self.weights[w]).mean()) ** 2)
            for w in weights
        }
        return stats, scores

    def scale_weights(self, factors: Mapping[str, float]) -> None:
        for name in sorted(set(self.originals) | set(factors)):
            original = self.originals.setdefault(name, self.weights[name].copy())
            self.weights[name] = original * np.float32(factors.get(name, 1.0)) if name in factors else original.copy()

    def export(self, directory):  # type: ignore[no-untyped-def]
        raise AssertionError("the fake model cannot be exported")

    def census(self) -> TensorCensus:
        infos = tuple(
            TensorInfo(name=k, dtype="float32", shape=v.shape, finite=bool(np.isfinite(v).all()), all_zero=not v.any())
            for k, v in sorted(self.weights.items())
        )
        return TensorCensus(
            tensors=infos, tied_groups=(), config_sha256="0" * 64, tokenizer_sha256=self.tokenizer().digest()
        )


@dataclass
class FakeLoader:
    """Loads FakeModels registered by reference; records what was loaded."""

    models: dict[str, FakeModel]
    loaded: list[str] = field(default_factory=list)
    batch_sizes: list[int | None] = field(default_factory=list)
    instances: list[FakeModel] = field(default_factory=list)
    tokenizers_loaded: list[str] = field(default_factory=list)

    def load(self, ref: str, *, adapter: str, device: str, dtype: str, batch_size: int | None = None) -> FakeModel:
        if ref not in self.models:
            raise UsageError("E101", f"model path '{ref}' does not exist", "check the path")
        self.loaded.append(ref)
        self.batch_sizes.append(batch_size)
        original = self.models[ref]
        model = FakeModel(
            ref=ref,
            quality=original.quality,
            tokenizer_flavour=original.tokenizer_flavour,
            weights={k: v.copy() for k, v in original.weights.items()},
        )
        self.instances.append(model)
        return model

    def tokenizer(self, ref: str, *, adapter: str) -> FakeTokenizer:
        if ref not in self.models:
            raise UsageError("E101", f"model path '{ref}' does not exist", "check the path")
        self.tokenizers_loaded.append(ref)
        return FakeTokenizer(self.models[ref].tokenizer_flavour)


class FakeCorpus:
    def __init__(self, docs: list[str]) -> None:
        self.docs = docs

    def info(self) -> CorpusInfo:
        return CorpusInfo(provider="fake", split="test", source="memory", licence="test text")

    def texts(self) -> Iterator[str]:
        return iter(self.docs)


@dataclass
class FakeCorpora:
    docs: list[str]

    def open(self, provider: str, *, path: str | None, text_field: str, split: str) -> FakeCorpus:
        return FakeCorpus(self.docs)


@dataclass
class FakeScaleEdit:
    """Multiplies the fake model's quality by `plan['factor']` (a stand-in for a lossy edit)."""

    name: str = "fake_scale"
    applied: list[Mapping[str, object]] = field(default_factory=list)

    def apply(self, model: FakeModel, plan: Mapping[str, object]) -> EditOutcome:
        factor = plan.get("factor", 1.0)
        assert isinstance(factor, float)
        model.quality *= factor
        self.applied.append(plan)
        return EditOutcome(
            name=self.name,
            plan=dict(plan),
            plan_digest=sha256_hex(canonical_bytes(dict(plan))),
            params_changed=16,
            layers_modified=1,
            modules_changed=("w",),
            bitwidth_map={},
        )


@dataclass
class FakeWeightEdit:
    """Multiplies one named weight of the fake model by `plan['factor']`."""

    name: str = "fake_weight"

    def apply(self, model: FakeModel, plan: Mapping[str, object]) -> EditOutcome:
        weight, factor = str(plan["weight"]), plan["factor"]
        assert isinstance(factor, float)
        model.weights[weight] = model.weights[weight] * np.float32(factor)
        return EditOutcome(
            name=self.name,
            plan=dict(plan),
            plan_digest=sha256_hex(canonical_bytes(dict(plan))),
            params_changed=int(model.weights[weight].size),
            layers_modified=1,
            modules_changed=(weight,),
            bitwidth_map={},
        )


def words(n: int, seed: int = 0) -> list[str]:
    """`n` deterministic pseudo-documents of 40–80 words each."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{int(x)}" for x in rng.integers(0, 5000, rng.integers(40, 80))) for _ in range(n)]
