"""Example planning for labelled data: every example is one variable-length window.

Examples are deduplicated by digest and assigned to the arms exactly as stream windows are
(windows.assign_arms, keyed by the dataset digest and the seed), so the same floors and the same dev-profile
shrinking apply to examples.
"""

from __future__ import annotations

from collections.abc import Sequence

from .arm_counts import ArmCounts
from .errors import AbortError
from .examples import EXAMPLE_STRIDE, Example, example_digest, examples_dataset_digest
from .windows import TokenWindow, WindowPlan, assign_arms, plan_digest


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
    empty prompt, E303 for a prompt longer than `max_tokens` or too few examples (see arm_counts.fit_counts).
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
