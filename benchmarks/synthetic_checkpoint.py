"""Write a randomly initialised causal LM of the demo model's family (Llama, the demo's tokenizer and vocabulary)
at a larger size, for measurements that depend on the size of a model and not on what it learned: the peak
resident memory of certify against its weights (benchmarks/peak_rss.py --model DIR). Its scores are those of
an untrained model: never a figure of quality.

Usage:
    python benchmarks/synthetic_checkpoint.py DIR                      # about 0.68 B parameters, 2.7 GB
    python benchmarks/synthetic_checkpoint.py DIR --hidden 1024 --layers 16 --intermediate 2816
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

DEMO = "demo:smollm2-135m"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def _demo_export(folder: Path) -> Path:
    """The demo model as the product loads it, saved to `folder` (its config and tokenizer are reused)."""
    from invarlock.cli.bootstrap import build_services
    from invarlock.domain.model import LoadOptions

    services = build_services(events=folder / "events.duckdb")
    return services.loader.load(DEMO, LoadOptions(device="cpu")).export(folder / "demo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (must not exist)")
    parser.add_argument("--hidden", type=int, default=1536)
    parser.add_argument("--intermediate", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in ("hidden", "intermediate", "layers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    with tempfile.TemporaryDirectory(prefix="invarlock-synthetic-") as tmp:
        _write(args, _demo_export(Path(tmp)))


def _write(args: argparse.Namespace, demo: Path) -> None:
    import torch  # imported once the arguments are checked: a bad one is refused in a moment
    from transformers import LlamaConfig, LlamaForCausalLM

    base = json.loads((demo / "config.json").read_text(encoding="utf-8"))
    heads, rest = divmod(args.hidden, base["head_dim"])
    if rest:
        raise SystemExit(f"error: --hidden {args.hidden} must be a multiple of the demo's head size {base['head_dim']}")
    config = LlamaConfig(
        **{k: base[k] for k in ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id", "head_dim")},
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=heads,
        # grouped, as the demo's
        num_key_value_heads=max(d for d in range(1, max(1, heads // 3) + 1) if heads % d == 0),
        tie_word_embeddings=True,
    )
    torch.manual_seed(args.seed)
    model = LlamaForCausalLM(config)
    args.out.mkdir(parents=True, exist_ok=False)
    model.save_pretrained(args.out)
    for name in _TOKENIZER_FILES:
        shutil.copy(demo / name, args.out / name)
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.out}: {params / 1e9:.3f} B parameters, {4 * params / 2**30:.2f} GiB in float32")


if __name__ == "__main__":
    main()
