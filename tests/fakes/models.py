"""Recorded-state fakes of the model, corpus and edit ports (for unit tests of the use cases only)."""

from __future__ import annotations

import bisect
import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from invarlock.domain.canonical import canonical_bytes, sha256_hex
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.examples import LabelledText
from invarlock.domain.metrics.kl_bins import BINS, EDGES
from invarlock.domain.model import (
    ActivationStats,
    CorpusInfo,
    DevicePlacement,
    EditDeltas,
    EditOutcome,
    ModelIdentity,
    PairedScore,
    TensorCensus,
    TensorInfo,
    WindowComparison,
    WindowScore,
)
from invarlock.domain.windows import TokenWindow

from tests.fakes.corpus import InMemoryLabelledSet

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
    block: int | None
    head: bool
    array: np.ndarray


def _block_of(name: str) -> int | None:
    """The first all-digit segment of a fake weight name ("ffn.2.down" -> 2), None when there is none."""
    return next((int(part) for part in name.split(".") if part.isdigit()), None)


def _predict(w: TokenWindow, quality: float) -> int:
    """A stand-in classifier: right unless the window's token sum hits one of its error residues; a `quality`
    above 1 (a lossy edit) adds errors in proportion."""
    labels, h = len(w.candidates or ()) or 2, sum(w.tokens)
    wrong = h % 7 == 0 or h % 97 < (quality - 1.0) * 300
    return ((w.label or 0) + 1) % labels if wrong else (w.label or 0)


def _classified(w: TokenWindow, baseline: FakeModel, subject: FakeModel) -> PairedScore:
    pair = WindowComparison(
        window_id=w.window_id,
        positions=1,
        label=w.label,
        baseline_pred=_predict(w, baseline.quality),
        subject_pred=_predict(w, subject.quality),
    )
    return PairedScore(window_id=w.window_id, baseline=None, subject=None, comparison=pair)


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

    originals: dict[str, np.ndarray] = field(default_factory=dict)
    tapped: list[tuple[int, ...]] = field(default_factory=list)
    paired: list[int] = field(default_factory=list)
    loader: FakeLoader | None = field(default=None, repr=False, compare=False)

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
            paired=[],
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


@dataclass
class FakeLoader:
    """Loads FakeModels registered by reference; records what was loaded."""

    models: dict[str, FakeModel]
    loaded: list[str] = field(default_factory=list)
    batch_sizes: list[int | None] = field(default_factory=list)
    placements: list[DevicePlacement | None] = field(default_factory=list)
    instances: list[FakeModel] = field(default_factory=list)
    tokenizers_loaded: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    def load(
        self,
        ref: str,
        *,
        adapter: str,
        device: str,
        dtype: str,
        batch_size: int | None = None,
        placement: DevicePlacement | None = None,
    ) -> FakeModel:
        if ref not in self.models:
            raise UsageError("E101", f"model path '{ref}' does not exist", "check the path")
        self.loaded.append(ref)
        self.batch_sizes.append(batch_size)
        self.placements.append(placement)
        original = self.models[ref]
        model = type(original)(
            ref=ref,
            quality=original.quality,
            tokenizer_flavour=original.tokenizer_flavour,
            weights={k: v.copy() for k, v in original.weights.items()},
            unmapped_weights=dict(original.unmapped_weights),
            loader=self,
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
    labelled: list[LabelledText] = field(default_factory=list)

    def open(self, provider: str, *, path: str | None, text_field: str, split: str) -> FakeCorpus:
        return FakeCorpus(self.docs)

    def open_labelled(
        self, provider: str, *, path: str | None, text_field: str, label_field: str, split: str
    ) -> InMemoryLabelledSet:
        """The labelled examples (a text provider name is refused as the real resolver refuses it)."""
        if not self.labelled:
            raise UsageError("E301", f"{provider!r} is not a labelled dataset provider", "give the fake examples")
        info = CorpusInfo(provider=provider, split=split, source="memory", licence="test text")
        return InMemoryLabelledSet(info, self.labelled)


def labelled_words(n: int) -> list[LabelledText]:
    """`n` short distinct labelled texts, labels alternating `neg`/`pos`."""
    return [
        LabelledText(text=f"example {i} says {'good' if i % 2 else 'bad'}", label="pos" if i % 2 else "neg")
        for i in range(n)
    ]


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
            deltas=EditDeltas(
                params_changed=16,
                layers_modified=1,
                modules_changed=("w",),
                bitwidth_map={},
            ),
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
            deltas=EditDeltas(
                params_changed=int(model.weights[weight].size),
                layers_modified=1,
                modules_changed=(weight,),
                bitwidth_map={},
            ),
        )


def _compare(w: TokenWindow, mine: WindowScore, theirs: WindowScore) -> WindowComparison:
    """Fake causal measures of one window: every position has the same KL, half the squared per-token NLL
    gap; positions whose argmax disagree grow with the gap (all agree when the fakes score alike)."""
    positions = mine.tokens_scored
    gap = abs(theirs.nll_sum - mine.nll_sum) / positions
    kl = gap * gap / 2.0
    agree = positions - min(positions, round(positions * min(1.0, gap)))
    histogram = [0] * BINS
    histogram[bisect.bisect_right(EDGES, kl)] = positions
    return WindowComparison(
        window_id=w.window_id,
        positions=positions,
        kl_sum=kl * positions,
        kl_max=kl,
        kl_histogram=tuple(histogram),
        top1_agree=agree,
        top5_overlap=4 * positions + agree,
    )


def words(n: int, seed: int = 0) -> list[str]:
    """`n` deterministic pseudo-documents of 40–80 words each."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{int(x)}" for x in rng.integers(0, 5000, rng.integers(40, 80))) for _ in range(n)]
