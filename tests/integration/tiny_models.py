"""Tiny RANDOMLY INITIALISED models for mechanics tests (no pretrained GPT-2 exists offline here).

Their numbers say nothing about quality; they only exercise code paths such as GPT-2's Conv1D layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

SENTENCES = (
    "The river freezes every winter, and the children skate from the mill to the old stone bridge.",
    "A committee of engineers argued for three days about the width of the new railway gauge.",
    "She planted tomatoes along the south wall because that was where the afternoon sun lingered.",
    "Most of the letters in the archive were written in pencil and have faded almost beyond reading.",
    "The orchestra rehearsed the second movement slowly, then played it twice as fast in the evening.",
    "When the harbour silted up, the merchants moved their warehouses further down the coast.",
    "He measured the temperature of the soil each morning and wrote the numbers in a green notebook.",
    "The museum closed for a year while the roof was replaced and the paintings were cleaned.",
)
EOS = "<|endoftext|>"


def make_tiny_tokenizer(vocab_size: int = 320, sentences: Sequence[str] = SENTENCES) -> Any:
    """A byte-level BPE trained on `sentences`, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(sentences), trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS, bos_token=EOS, unk_token=EOS)


def make_tiny_gpt2_dir(
    path: Path,
    *,
    seed: int = 0,
    vocab_size: int = 320,
    sentences: Sequence[str] = SENTENCES,
    tied: bool = True,
) -> Path:
    """Write a tiny random GPT-2 (2 blocks, width 32, wte/lm_head tied by default) and its tokenizer to `path`.

    Args:
        path: Directory to create (HF layout: config.json, model.safetensors, tokenizer files).
        seed: torch seed for the random weights.
        vocab_size: Target BPE vocabulary size (a different size gives a different tokenizer digest).
        sentences: Text the BPE is trained on.
        tied: Whether lm_head shares the token embedding (GPT-2's default).

    Returns:
        `path`, loadable with `HFModelLoader().load(str(path), ...)`.
    """
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = make_tiny_tokenizer(vocab_size, sentences)
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=tied,
    )
    return _write(path, GPT2LMHeadModel, config, tokenizer, seed)


BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def make_tiny_wordpiece_tokenizer(vocab_size: int = 200, sentences: Sequence[str] = SENTENCES) -> Any:
    """A lower-casing WordPiece tokenizer trained on `sentences`, with BERT's special tokens."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=list(BERT_SPECIALS), show_progress=False)
    backend.train_from_iterator(list(sentences), trainer)
    names = ("pad_token", "unk_token", "cls_token", "sep_token", "mask_token")
    return PreTrainedTokenizerFast(tokenizer_object=backend, **dict(zip(names, BERT_SPECIALS, strict=True)))


def make_tiny_bert_mlm_dir(path: Path, *, seed: int = 0, sentences: Sequence[str] = SENTENCES) -> Path:
    """Write a tiny RANDOMLY INITIALISED BertForMaskedLM (2 layers, width 32, decoder tied to the word
    embeddings) and its WordPiece tokenizer to `path`: masked-LM mechanics only, no quality meaning."""
    from transformers import BertConfig, BertForMaskedLM

    tokenizer = make_tiny_wordpiece_tokenizer(sentences=sentences)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=tokenizer.pad_token_id,
    )
    return _write(path, BertForMaskedLM, config, tokenizer, seed)


def make_tiny_llama_dir(path: Path, *, heads: int = 4, kv_heads: int = 2, seed: int = 0) -> Path:
    """Write a tiny RANDOMLY INITIALISED Llama (1 layer, width 32, `heads` query and `kv_heads` key/value heads)
    and the tiny BPE tokenizer to `path`. `kv_heads` that does not divide `heads` gives a checkpoint that loads
    (its weights match its config) but whose attention cannot run: mechanics of a broken model only."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = make_tiny_tokenizer()
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=32 // heads,
        max_position_embeddings=128,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    return _write(path, LlamaForCausalLM, config, tokenizer, seed)


def _write(path: Path, model_class: Any, config: Any, tokenizer: Any, seed: int) -> Path:
    """A `model_class(config)` randomly initialised under torch seed `seed`, saved with `tokenizer` to `path`."""
    import torch
    from transformers.utils import logging

    logging.disable_progress_bar()
    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    model_class(config).eval().save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
