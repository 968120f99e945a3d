"""The LM head in row blocks (adapters/causal_rows.py, "Row blocks") against one call per window: milliseconds
per window on the demo model's own head and the final hidden states of the int8 preset's windows (its baseline
and its int8 `quant_rtn` subject, CPU float32), every way timed on the same rows in alternating order, in one
process run:

- `stacked`: both models' rows of a window through one head (a subject whose head is the baseline's tensor, as
  `run`'s int8 edit leaves it): one call of 2 x 255 rows against `causal_rows.row_blocks` (85 rows of each model
  per call at the demo's vocabulary);
- `alone`: one model's rows: one call of 255 rows against its blocks (at most 170 rows per call).

Each way writes into a tensor it keeps between calls, as `causal_rows.HeldHead` does, and the torch.cat of both
models' rows is timed with the stacked ways, as scoring runs it. It prints the median milliseconds per window of
each way, `blocks / one call` for both, the rows per call, and whether the blocks gave the one call's bits.

With `--scoring-windows N`, also lockstep scoring itself, A/B: `baseline.score_pair(subject, batch)` (forward
passes, heads, reductions: what certify's scoring runs) over N windows, each batch scored once in row blocks and
once with every window's head in one call (`causal_rows.rows_per_call` answering None), the order alternating
batch by batch so that a drift of the machine's speed falls on both; `scoring blocks/one call` is the ratio of the
two walls, and the evidence of both must be the same.

Usage:
    python benchmarks/head_blocks.py --windows 8 --rounds 5 --threads 2
    python benchmarks/head_blocks.py --windows 8 --scoring-windows 64 --threads 2
    python benchmarks/head_blocks.py --json
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_output import emit, machine
from kl_overhead import models_and_windows

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs/presets/causal_lm/quant_rtn_int8.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8, help="windows whose rows are timed (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="times every way runs on every window (default 5)")
    parser.add_argument("--scoring-windows", type=int, default=0, help="A/B of lockstep scoring (0: skip)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the process")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    return parser.parse_args()


Sink = Callable[[torch.Tensor], object]


def ways(causal_rows: Any, head: Any, rows: int) -> dict[str, Callable[[torch.Tensor, torch.Tensor, Sink], None]]:
    """Each way's head calls on one window's rows of both models (a, b), each call's output handed to the sink
    before the next call overwrites it."""
    most = causal_rows.rows_per_call(head.weight.shape[0])
    stacked_blocks = causal_rows.row_blocks(rows, None if most is None else most // 2)
    alone_blocks = causal_rows.row_blocks(rows, most)
    heads = {name: causal_rows.reusing_output(head) for name in ("stacked", "stacked_blocks", "alone", "alone_blocks")}

    def stacked(a: torch.Tensor, b: torch.Tensor, sink: Sink) -> None:
        sink(heads["stacked"](torch.cat((a, b))))

    def stacked_in_blocks(a: torch.Tensor, b: torch.Tensor, sink: Sink) -> None:
        for start, stop in stacked_blocks:
            sink(heads["stacked_blocks"](torch.cat((a[start:stop], b[start:stop]))))

    def alone(a: torch.Tensor, b: torch.Tensor, sink: Sink) -> None:
        sink(heads["alone"](a))

    def alone_in_blocks(a: torch.Tensor, b: torch.Tensor, sink: Sink) -> None:
        for start, stop in alone_blocks:
            sink(heads["alone_blocks"](a[start:stop]))

    return {"stacked": stacked, "stacked_blocks": stacked_in_blocks, "alone": alone, "alone_blocks": alone_in_blocks}


def outputs(way: Callable[[torch.Tensor, torch.Tensor, Sink], None], a: torch.Tensor, b: torch.Tensor) -> list[Any]:
    made: list[torch.Tensor] = []
    way(a, b, lambda logits: made.append(logits.clone()))
    return made


def same_bits(way: dict[str, Any], a: torch.Tensor, b: torch.Tensor, rows: int) -> bool:
    """Whether the blocks give each row the bits the one call gives it."""
    whole, parts = outputs(way["stacked"], a, b)[0], outputs(way["stacked_blocks"], a, b)
    base = torch.cat([p[: len(p) // 2] for p in parts])
    subj = torch.cat([p[len(p) // 2 :] for p in parts])
    alone, blocks = outputs(way["alone"], a, b)[0], torch.cat(outputs(way["alone_blocks"], a, b))
    return bool(torch.equal(base, whole[:rows]) and torch.equal(subj, whole[rows:]) and torch.equal(blocks, alone))


def scoring_ab(causal_rows: Any, baseline: Any, subject: Any, windows: list[Any]) -> dict[str, Any]:
    """Seconds of `score_pair` over `windows` in row blocks and in one head call per window, batch by batch in
    alternating order, and whether both gave the same evidence."""
    per_call, walls = causal_rows.rows_per_call, {"blocks": 0.0, "one call": 0.0}
    pairs: dict[str, list[Any]] = {"blocks": [], "one call": []}
    size = baseline.batch_size
    list(baseline.score_pair(subject, windows[:size]))  # warm-up
    try:
        for n, first in enumerate(range(0, len(windows), size)):
            batch = windows[first : first + size]
            for name in ("blocks", "one call") if n % 2 == 0 else ("one call", "blocks"):
                causal_rows.rows_per_call = per_call if name == "blocks" else (lambda vocab: None)
                start = time.perf_counter()
                pairs[name].extend(baseline.score_pair(subject, batch))
                walls[name] += time.perf_counter() - start
    finally:
        causal_rows.rows_per_call = per_call
    return {
        "scoring_windows": len(windows),
        "scoring_blocks_s": round(walls["blocks"], 2),
        "scoring_one_call_s": round(walls["one call"], 2),
        "scoring blocks/one call": round(walls["blocks"] / walls["one call"], 4),
        "scoring_same_evidence": pairs["blocks"] == pairs["one call"],
    }


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline, subject, windows = models_and_windows(DEFAULT_CONFIG, max(args.windows, args.scoring_windows))
    causal_rows = sys.modules["invarlock.adapters.causal_rows"]  # where the loaded runner put it
    head = causal_rows.split_head(baseline.module)
    with torch.inference_mode():
        hidden = [
            (baseline.causal_hidden(ids)[0][0, :-1].clone(), subject.causal_hidden(ids)[0][0, :-1].clone())
            for ids in (torch.tensor(w.tokens)[None] for w in windows[: args.windows])
        ]
        rows = hidden[0][0].shape[0]
        way = ways(causal_rows, head, rows)
        bits = all(same_bits(way, a, b, rows) for a, b in hidden)
        times: dict[str, list[float]] = {name: [] for name in way}
        for n in range(args.rounds):
            order = list(way) if n % 2 == 0 else list(reversed(way))
            for a, b in hidden:
                for name in order:
                    start = time.perf_counter()
                    way[name](a, b, id)
                    times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
    most = causal_rows.rows_per_call(head.weight.shape[0])
    scoring = (
        scoring_ab(causal_rows, baseline, subject, windows[: args.scoring_windows]) if args.scoring_windows else {}
    )
    emit(
        {
            "windows": len(hidden),
            "rows_per_window": rows,
            "vocab": head.weight.shape[0],
            "rows_per_call": most,
            **{f"{name}_ms": round(value, 2) for name, value in ms.items()},
            "stacked blocks/one call": round(ms["stacked_blocks"] / ms["stacked"], 3),
            "alone blocks/one call": round(ms["alone_blocks"] / ms["alone"], 3),
            "blocks_same_bits": bits,
            **scoring,
            "threads": torch.get_num_threads(),
            "machine": machine(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
