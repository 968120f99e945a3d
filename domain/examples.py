"""Example planning for labelled data (metric kind `accuracy`): every example is one variable-length window.

An example's window is its prompt's token ids (the template filled with its text); its digest covers the ids
and the gold label, so the plan digest covers the labels. Examples are deduplicated by digest and assigned to
the arms exactly as stream windows are (windows.assign_arms, keyed by the dataset digest and the seed), so the
same floors and the same dev-profile shrinking apply to examples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import msgspec
import numpy as np

from .errors import AbortError, UsageError
from .windows import ArmCounts, TokenWindow, WindowPlan, assign_arms, plan_digest

# Examples are not cut from a stream: the plan states stride 0.
EXAMPLE_STRIDE = 0


class LabelledText(msgspec.Struct, frozen=True, kw_only=True):
    """One labelled document as a dataset gives it: its text and its label's name."""

    text: str
    label: str


class Example(msgspec.Struct, frozen=True, kw_only=True):
    """One tokenized example: the prompt's token ids and the index of its gold label in the label names."""

    tokens: tuple[int, ...]
    label: int


def label_names(labels: Iterable[str]) -> tuple[str, ...]:
    """The distinct label names in index order: numeric order when every name is an integer, else sorted text."""
    names = set(labels)
    if names and all(_is_int(n) for n in names):
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


def _is_int(name: str) -> bool:
    try:
        int(name)
    except ValueError:
        return False
    return True


def render_prompt(template: str, text: str) -> str:
    """The prompt of one example: `template` with `{text}` replaced by the example's text (UsageError E201 when
    the template has any other field or stray braces)."""
    try:
        return template.format(text=text)
    except (KeyError, IndexError, ValueError) as exc:
        raise UsageError(
            "E201", f"eval.metric.template {template!r} is not a template with one {{text}} field: {exc}", "fix it"
        ) from exc


def example_digest(tokens: Sequence[int], label: int) -> str:
    """blake2b-128 over the prompt's uint32 little-endian ids, then b"\\x00label\\x00" and the label's decimal."""
    h = hashlib.blake2b(np.asarray(tokens, dtype="<u4").tobytes(), digest_size=16)
    h.update(b"\x00label\x00" + str(label).encode())
    return h.hexdigest()


def examples_dataset_digest(digests: Sequence[str], provider: str, split: str, tokenizer_sha256: str) -> str:
    """sha256 over every example's digest in dataset order (one per line), then provider, split and tokenizer."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode() + b"\n")
    for part in (provider, split, tokenizer_sha256):
        h.update(b"\x00" + part.encode())
    return h.hexdigest()


def _check(examples: Sequence[Example], max_tokens: int) -> None:
    for i, ex in enumerate(examples):
        if not ex.tokens:
            raise AbortError("E304", f"example {i} has an empty prompt", "check the dataset and eval.metric.template")
        if len(ex.tokens) > max_tokens:
            raise AbortError(
                "E303",
                f"example {i}'s prompt has {len(ex.tokens)} tokens, more than dataset.seq_len {max_tokens}",
                "raise dataset.seq_len (the longest prompt an example may have)",
            )


def plan_examples(
    examples: Sequence[Example],
    *,
    max_tokens: int,
    counts: ArmCounts,
    seed: int,
    provider: str,
    split: str,
    tokenizer_sha256: str,
    allow_fewer: bool,
) -> tuple[WindowPlan, dict[int, Example]]:
    """Plan labelled examples as windows: window id = the example's index in the dataset.

    The plan states `seq_len` = `max_tokens` (the longest prompt allowed), stride 0, `stream_tokens` = the
    prompts' tokens summed. Exact duplicates (same ids and label) are dropped. Raises AbortError E304 for an
    empty prompt, E303 for a prompt longer than `max_tokens` or too few examples (see windows.fit_counts).
    Returns the plan and the planned examples by id.
    """
    _check(examples, max_tokens)
    all_digests = [example_digest(ex.tokens, ex.label) for ex in examples]
    dataset = examples_dataset_digest(all_digests, provider, split, tokenizer_sha256)
    seen: set[str] = set()
    unique: list[int] = []
    for i, d in enumerate(all_digests):
        if d not in seen:
            seen.add(d)
            unique.append(i)
    digests = {i: all_digests[i] for i in unique}
    planned, wanted = assign_arms(unique, digests, counts=counts, seed=seed, dataset=dataset, allow_fewer=allow_fewer)
    plan = WindowPlan(
        seq_len=max_tokens,
        stride=EXAMPLE_STRIDE,
        tokenizer_sha256=tokenizer_sha256,
        stream_tokens=sum(len(ex.tokens) for ex in examples),
        dataset_digest=dataset,
        window_plan_digest=plan_digest(planned),
        windows=tuple(planned),
        windows_available=len(unique),
        duplicates_dropped=len(examples) - len(unique),
        approximate_counts=wanted != counts,
    )
    return plan, {w.window_id: examples[w.window_id] for w in planned}


def example_window(window_id: int, example: Example, candidates: tuple[tuple[int, ...], ...] | None) -> TokenWindow:
    """The TokenWindow a ModelRunner scores for one example: prompt ids, gold label and label continuations."""
    return TokenWindow(window_id=window_id, tokens=example.tokens, label=example.label, candidates=candidates)
