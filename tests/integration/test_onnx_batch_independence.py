"""A dynamically quantized ONNX graph (`quantize_dynamic`: DynamicQuantizeLinear computes each activation scale
over the whole pass) scores a window the same alone and batched with others, on every path that feeds evidence
or the re-execution audit: the runner runs each window in a pass of its own. The fp32 export keeps batching."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from invarlock.domain.model import LoadOptions
from invarlock.domain.windows import TokenWindow

from tests.onnx_demo import onnx_demo

pytestmark = [pytest.mark.model]

TEXT = (
    "The river rises in the northern hills and flows south through a wide valley of farms and small towns. "
    "In 1852 a railway reached the valley, and the largest town grew into a market for grain, wool and timber. "
    "Its old stone bridge, built by monks in the fourteenth century, still carries the road across the river. "
    "Winters are cold and wet; summers are short, but the long evenings draw walkers to the ridges above."
)
SEQ_LEN = 20


@functools.cache
def _models() -> dict[str, Any]:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.onnx_loader import OnnxModelLoader

    dirs = onnx_demo()
    return {
        "hf": HFModelLoader().load("demo:smollm2-135m", LoadOptions(adapter="auto", device="cpu", dtype="float32")),
        "fp32": OnnxModelLoader().load(str(dirs.fp32), LoadOptions(device="cpu")),
        "int8": OnnxModelLoader().load(str(dirs.int8), LoadOptions(device="cpu", batch_size=4)),
    }


def _windows() -> list[TokenWindow]:
    ids = _models()["hf"].tokenizer().encode(TEXT)
    count = min(4, len(ids) // SEQ_LEN)
    return [TokenWindow(window_id=i, tokens=tuple(ids[i * SEQ_LEN : (i + 1) * SEQ_LEN])) for i in range(count)]


def test_the_int8_graph_scores_each_window_alike_alone_and_batched_with_others() -> None:
    """Before, a window's NLL sum moved by 0.3-3 % with the windows batched beside it, so the audit's re-scored
    sample, batched otherwise than the run's arms, accused an honest int8 ONNX certificate (exit 3)."""
    int8, windows = _models()["int8"], _windows()
    assert len(windows) == 4 and int8.window_per_pass and not _models()["fp32"].window_per_pass
    batched = [s.nll_sum for s in int8.score(windows)]
    alone = [next(iter(int8.score([w]))).nll_sum for w in windows]
    assert batched == alone
    _, tapped = int8.activation_stats(windows, int8.variance_taps()[:1])
    assert [s.nll_sum for s in tapped] == alone


def test_the_int8_graph_paired_with_the_hf_model_scores_each_window_alike_alone_and_batched() -> None:
    """The subject side of lockstep scoring (the HF baseline's score_pair with the int8 graph as `other`, and the
    int8 graph's own score_pair) is what certify records and the audit re-scores."""
    hf, int8, windows = _models()["hf"], _models()["int8"], _windows()
    batched = [p.subject.nll_sum for p in hf.score_pair(int8, windows)]
    alone = [next(iter(hf.score_pair(int8, [w]))).subject.nll_sum for w in windows]
    assert batched == alone == [s.nll_sum for s in int8.score(windows)]
    assert [p.baseline.nll_sum for p in int8.score_pair(hf, windows[1:3])] == alone[1:3]
