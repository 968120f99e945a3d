"""Plan labelled examples (metric kind accuracy): prompts tokenized with the baseline tokenizer, one window each."""

from __future__ import annotations

from invarlock.domain import events as ev
from invarlock.domain.arm_counts import ArmCounts
from invarlock.domain.errors import UsageError
from invarlock.domain.example_plan import example_window, plan_examples
from invarlock.domain.examples import Example, LabelledText, label_names, render_prompt
from invarlock.domain.windows import TokenWindow
from invarlock.ports.corpus import LabelledSource, Tokenizer

from ..config import DatasetConfig, MetricConfig


def candidates(metric: MetricConfig, names: tuple[str, ...], tokenizer: Tokenizer) -> tuple[tuple[int, ...], ...]:
    """Each label's continuation ids (`label_words` in label order); () for a classification head (no words).

    Raises UsageError E201 when the words are not one per label, or one tokenizes to nothing or twice the same.
    """
    if metric.label_words is None:
        return ()
    if len(metric.label_words) != len(names):
        raise UsageError(
            "E201",
            f"the dataset has {len(names)} labels ({', '.join(names)}) but eval.metric.label_words gives "
            f"{len(metric.label_words)} words",
            "give one word per label, in this label order",
        )
    ids = tuple(tuple(tokenizer.encode(word)) for word in metric.label_words)
    if any(not c for c in ids) or len(set(ids)) != len(ids):
        raise UsageError("E201", "eval.metric.label_words must tokenize to distinct, non-empty ids", "fix the words")
    return ids


def tokenized(texts: list[LabelledText], metric: MetricConfig, tokenizer: Tokenizer) -> list[Example]:
    """Every example's prompt ids (the template filled with its text, or the text alone) and label index."""
    names = label_names(t.label for t in texts)
    index = {name: i for i, name in enumerate(names)}
    template = metric.template or "{text}"
    return [
        Example(tokens=tuple(tokenizer.encode(render_prompt(template, t.text))), label=index[t.label]) for t in texts
    ]


def plan_labelled(
    labelled: LabelledSource, tokenizer: Tokenizer, ds: DatasetConfig, metric: MetricConfig, *, allow_fewer: bool
) -> tuple[ev.WindowsPlanned, dict[int, TokenWindow]]:
    """The WindowsPlanned event of the labelled set and the TokenWindow of every planned example."""
    texts = list(labelled.examples())
    names = label_names(t.label for t in texts)
    words = candidates(metric, names, tokenizer)
    info = labelled.info()
    plan, chosen = plan_examples(
        tokenized(texts, metric, tokenizer),
        max_tokens=ds.seq_len,
        counts=ArmCounts(preview=ds.preview_n, final=ds.final_n, calibration=ds.calibration_n),
        seed=ds.seed,
        provider=info.provider,
        split=info.split,
        tokenizer_sha256=tokenizer.digest(),
        allow_fewer=allow_fewer,
    )
    windows = {i: example_window(i, ex, words or None) for i, ex in chosen.items()}
    return ev.WindowsPlanned(corpus=info, plan=plan), windows
