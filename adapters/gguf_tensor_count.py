"""Whether a GGUF file's tensors are all in the model transformers built from it (adapters/hf_gguf.py)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from invarlock.domain.errors import UsageError

# Tensors a GGUF holds that transformers derives rather than loads: rotary frequencies, one value per pair of a
# head's dimensions (so at most a few hundred), never weights
_DERIVED = re.compile(r"rope_freqs\.weight|blk\.\d+\.attn_rot_embd\.weight")
_MOST_DERIVED = 4096


def refuse_unused_tensors(path: Path, loaded_elements: int, hint: str) -> None:
    """E102 when the file's tensors hold more elements than the model transformers built from it: transformers
    drops a tensor whose name it cannot map (a block's tensors renamed, or beyond an array-valued block count) and
    llama.cpp refuses such a file, yet the certificate would state the whole file's digest (the regression hunt)."""
    from gguf import GGUFReader

    tensors = GGUFReader(path).tensors
    held = sum(int(t.n_elements) for t in tensors if not _derived(t))
    if held != loaded_elements:
        raise UsageError(
            "E102",
            f"{path} holds {held:,} weight elements; the model transformers builds from it loads {loaded_elements:,}"
            " (tensors it does not use, or a tied output stored twice)",
            hint,
        )


def _derived(tensor: Any) -> bool:
    return bool(_DERIVED.fullmatch(tensor.name)) and len(tensor.shape) == 1 and int(tensor.n_elements) <= _MOST_DERIVED
