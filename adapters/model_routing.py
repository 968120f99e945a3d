"""One ModelLoader over the HF and ONNX loaders: `--adapter onnx`, or `auto` on a directory holding `model.onnx`,
goes to the ONNX loader (onnxruntime imported on first use); everything else to the HF loader. Importing this
module imports the HF stack (torch), as the `auto` entry point always has: a run without the hf extra stops
with E105 when its entries are preloaded, before anything is recorded."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.model import LoadOptions
from invarlock.ports.loader import (
    ContextLimit,
    MatrixNames,
    MatrixShapes,
    OptionsCheck,
    ScoredKinds,
    SequentialSupport,
    ShapeSettings,
)

from .hf_loader import HFModelLoader
from .input_errors import reading_input
from .onnx_loader import ADAPTER as ONNX
from .onnx_loader import is_onnx_reference


class RoutingModelLoader:
    """Picks the loader of each reference; registered for the adapter names `auto` and `onnx`.

    Args:
        hf: The loader of every non-ONNX reference (default: an HFModelLoader).
    """

    def __init__(self, hf: Any = None) -> None:
        self._hf = hf if hf is not None else HFModelLoader()
        self._onnx: Any = None

    def _pick(self, ref: str, adapter: str) -> Any:
        if adapter == ONNX or (adapter == "auto" and is_onnx_reference(ref)):
            return self._onnx_loader()
        return self._hf

    def _onnx_loader(self) -> Any:
        if self._onnx is None:
            missing = [m for m in ("onnxruntime", "onnx") if importlib.util.find_spec(m) is None]
            if missing:
                raise UsageError(
                    "E105",
                    f"the onnx adapter needs {', '.join(missing)}, not installed",
                    "pip install 'invarlock[onnx]'",
                )
            from .onnx_loader import OnnxModelLoader

            self._onnx = OnnxModelLoader()
        return self._onnx

    def load(self, ref: str, options: LoadOptions) -> Any:
        """Load `ref` with the loader its adapter (or, for `auto`, its files) selects."""
        with reading_input("model", ref):
            return self._pick(ref, options.adapter).load(ref, options)

    def tokenizer(self, ref: str, *, adapter: str) -> Any:
        """The tokenizer of `ref` from the loader its adapter selects."""
        with reading_input("model", ref):
            return self._pick(ref, adapter).tokenizer(ref, adapter=adapter)

    def check_options(self, ref: str, options: LoadOptions) -> None:
        """The load options of `ref` checked by the loader its adapter selects, where that loader checks them."""
        with reading_input("model", ref):
            loader = self._pick(ref, options.adapter)
            if isinstance(loader, OptionsCheck):
                loader.check_options(ref, options)

    def shape_settings(self, ref: str, *, adapter: str) -> Mapping[str, int] | None:
        """The shape settings of `ref` from the loader its adapter selects, None when that loader tells none."""
        with reading_input("model", ref):
            loader = self._pick(ref, adapter)
            return loader.shape_settings(ref, adapter=adapter) if isinstance(loader, ShapeSettings) else None

    def context_length(self, ref: str, *, adapter: str) -> int | None:
        """The context of `ref` from the loader its adapter selects, None when that loader states none."""
        with reading_input("model", ref):
            loader = self._pick(ref, adapter)
            return loader.context_length(ref, adapter=adapter) if isinstance(loader, ContextLimit) else None

    def scored_kinds(self, ref: str, *, adapter: str) -> tuple[str, tuple[str, ...]] | None:
        """The adapter that runs `ref` and the metric kinds it scores, from the loader its adapter selects."""
        with reading_input("model", ref):
            loader = self._pick(ref, adapter)
            return loader.scored_kinds(ref, adapter=adapter) if isinstance(loader, ScoredKinds) else None

    def matrix_names(self, ref: str, *, adapter: str) -> tuple[str, ...] | None:
        """The 2-D parameter names of `ref` from the loader its adapter selects, None when that loader tells none."""
        with reading_input("model", ref):
            loader = self._pick(ref, adapter)
            return loader.matrix_names(ref, adapter=adapter) if isinstance(loader, MatrixNames) else None

    def matrix_shapes(self, ref: str, *, adapter: str) -> Mapping[str, tuple[int, ...]] | None:
        """The 2-D parameter shapes of `ref` from the loader its adapter selects, None when that loader tells none."""
        with reading_input("model", ref):
            loader = self._pick(ref, adapter)
            return loader.matrix_shapes(ref, adapter=adapter) if isinstance(loader, MatrixShapes) else None

    def sequential_obstacle(
        self, ref: str, options: LoadOptions, *, window_tokens: int | None, stated: bool = False
    ) -> str | None:
        """Why `ref` should be held beside the other model, from the loader its adapter selects (the ONNX loader
        tells nothing: its models are held together unless the config says otherwise and measures no KL)."""
        with reading_input("model", ref):
            loader = self._pick(ref, options.adapter)
            if not isinstance(loader, SequentialSupport):
                return None if stated and window_tokens is None else "the onnx adapter keeps no side of KL"
            return loader.sequential_obstacle(ref, options, window_tokens=window_tokens, stated=stated)
