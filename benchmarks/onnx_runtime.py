"""ONNX Runtime against PyTorch on the demo model: the wall of scoring the same windows, as ratios in one run.

What is measured, in one process, on the windows the int8 preset plans (seq_len 256):

1. The HF demo model, its fp32 ONNX export and the export's `quantize_dynamic` int8 copy are loaded through
   `cli.bootstrap`'s loader (`--adapter auto` routes a folder holding model.onnx to the onnx adapter). The
   exports come from `--onnx-root` (folders fp32/ and int8/ as tests/onnx_demo.py writes them), else they are
   exported into a temporary folder first (about a minute; not timed).
2. Each model scores the first `--windows` windows with `score` after a one-batch warm-up; the wall of each
   call is printed with its ratio to the HF model's.
3. The int8 graph quantizes its activations at run time (DynamicQuantizeLinear), so the adapter runs each window
   in a pass of its own (`window_per_pass`, adapters/onnx_causal.py). The same model then scores the same windows
   in batched passes (`window_per_pass` off, as before 0.3.3; its scores then depend on the batch), and the
   ratio of the two walls is the cost of batch-independent int8 scores.

Usage:
    python benchmarks/onnx_runtime.py --onnx-root ~/.cache/invarlock/onnx/<key>
    python benchmarks/onnx_runtime.py --onnx-root DIR --windows 16 --json
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import onnxruntime
import torch
from bench_output import emit, machine
from invarlock.application.certification import planning
from invarlock.cli.bootstrap import build_services
from invarlock.cli.config_file import load_config
from invarlock.domain.model import LoadOptions
from invarlock.domain.windows import TokenWindow
from scratch import scratch_dir

PRESET = Path(__file__).resolve().parent.parent / "configs/presets/causal_lm/quant_rtn_int8.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx-root", type=Path, required=True, help="folder holding fp32/ and int8/ exports")
    parser.add_argument("--windows", type=int, default=16, help="windows each model scores (default 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


def exports(root: Path) -> tuple[Path, Path]:
    fp32, int8 = root / "fp32", root / "int8"
    for folder in (fp32, int8):
        if not (folder / "model.onnx").is_file():
            hint = "export and quantize as docs/user-guide.md (ONNX models) says"
            raise SystemExit(f"{folder}/model.onnx is missing: {hint}")
    return fp32, int8


def timed_score(model: object, windows: list[TokenWindow]) -> float:
    list(model.score(windows[: model.batch_size]))  # type: ignore[attr-defined]  # warm-up
    start = time.perf_counter()
    list(model.score(windows))  # type: ignore[attr-defined]
    return time.perf_counter() - start


def timed_batched(model: object, windows: list[TokenWindow]) -> float:
    """`timed_score` of a batch-dependent graph run in batched passes, as before 0.3.3."""
    model.window_per_pass = False  # type: ignore[attr-defined]
    try:
        return timed_score(model, windows)
    finally:
        model.window_per_pass = True  # type: ignore[attr-defined]


def main() -> None:
    args = parse_args()
    fp32, int8 = exports(args.onnx_root)
    cfg = load_config(str(PRESET))
    svc = build_services(events=str(scratch_dir("onnx_runtime_") / "events.duckdb"))
    ds = cfg.dataset
    refs = {"hf_fp32": cfg.model.id, "onnx_fp32": str(fp32), "onnx_int8": str(int8)}
    models = {
        name: svc.loader.load(ref, LoadOptions(adapter="auto", device="cpu", dtype="float32"))
        for name, ref in refs.items()
    }
    corpus = svc.corpora.open(ds.provider, path=ds.source_path, text_field=ds.text_field, split=ds.split)
    planned, rows = planning.plan(corpus, models["hf_fp32"].tokenizer(), ds, allow_fewer=True)
    ids = [w.window_id for w in planned.plan.windows if w.arm in ("preview", "final")][: args.windows]
    windows = [TokenWindow(window_id=i, tokens=tuple(int(t) for t in rows[i])) for i in ids]
    walls = {name: timed_score(model, windows) for name, model in models.items()}
    assert models["onnx_int8"].window_per_pass and not models["onnx_fp32"].window_per_pass  # type: ignore[attr-defined]
    walls["onnx_int8_batched"] = timed_batched(models["onnx_int8"], windows)
    result: dict[str, object] = {
        "windows": len(windows),
        "seq_len": ds.seq_len,
        **{f"{name}_s": round(wall, 3) for name, wall in walls.items()},
        "onnx_fp32/hf": round(walls["onnx_fp32"] / walls["hf_fp32"], 3),
        "onnx_int8/hf": round(walls["onnx_int8"] / walls["hf_fp32"], 3),
        "onnx_int8_batched/hf": round(walls["onnx_int8_batched"] / walls["hf_fp32"], 3),
        "onnx_int8 window per pass/batched": round(walls["onnx_int8"] / walls["onnx_int8_batched"], 3),
        "threads": torch.get_num_threads(),
        "machine": machine(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
