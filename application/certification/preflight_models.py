"""The preflight's checks of what the loaders tell of the two models without loading their weights: the same weight
shapes where a guard pairs their matrices, a context that takes the windows (and a zero-shot prompt with its label
words), and an adapter that scores the run's metric kind. Each found only after both loads otherwise."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from invarlock.domain import diagnostics as d
from invarlock.domain.errors import AbortError, UsageError
from invarlock.domain.metrics import BUILTIN_KINDS
from invarlock.domain.windows import Row, TokenWindow
from invarlock.ports.loader import ContextLimit, ScoredKinds, ShapeSettings

if TYPE_CHECKING:
    from .preflight import Preflight


# They always pair the models' matrices by name and shape (E002 otherwise); the variance guard does only for its
# `changed` targets, and not when it stops first (too small a calibration arm), so it is not counted.
PAIRING_GUARDS = ("spectral", "rmt")


def _pairing(pf: Preflight) -> list[str]:
    """The guards of the order that pair baseline and subject matrices: spectral and RMT, and variance when it
    targets the changed weights (it finds them by pairing; its `all_ffn` targets compare taps by name only)."""
    changed = pf.policy is not None and pf.policy.guards.variance.targets == "changed"
    return [g for g in pf.req.config.guards.order if g in PAIRING_GUARDS or (g == "variance" and changed)]


def check_shapes(pf: Preflight) -> None:
    """Baseline and subject state the same weight shapes (E002), when a guard of the order pairs their matrices
    (_pairing) and the loader tells each model's shape settings without loading weights (ShapeSettings): the guard would
    stop the run at the same E002 once both models (or, one at a time, the baseline's whole pass) were loaded."""
    req = pf.req
    pairing = _pairing(pf)
    if req.subject is None or not pairing or not isinstance(pf.loader, ShapeSettings):
        return
    base, subject = req.config.model, req.subject
    stated = [pf.loader.shape_settings(m.id, adapter=m.adapter) for m in (base, subject)]
    if stated[0] is None or stated[1] is None:
        return
    differ = [
        f"{k} {stated[0][k]} vs {stated[1][k]}" for k in stated[0] if k in stated[1] and stated[0][k] != stated[1][k]
    ]
    if differ:
        raise AbortError(
            "E002",
            f"weight shapes differ: baseline {base.id} and subject {subject.id} state {', '.join(differ)}",
            f"certify a subject with the baseline's architecture (the {pairing[0]} guard pairs their matrices)",
        )
    if stated[0]:
        shown = ", ".join(f"{k} {v}" for k, v in stated[0].items())
        pf.findings.append(d.note("shapes", d.D_SHAPES, f"baseline and subject state the same weight shapes ({shown})"))


MIN_CONTEXT = 2  # the shortest window: one token predicted from one before it


def check_context(pf: Preflight) -> None:
    """Each model's forward pass takes a window of `dataset.seq_len` tokens (E201), when its loader states the
    model's context (ContextLimit): a longer window failed only when scored, after the guards had run."""
    if not isinstance(pf.loader, ContextLimit):
        return
    seq_len = pf.req.config.dataset.seq_len
    stated = []
    for role, model in (("baseline", pf.req.config.model), ("subject", pf.req.subject)):
        if model is None:
            continue
        limit = pf.loader.context_length(model.id, adapter=model.adapter)
        if limit is not None and seq_len > limit:
            raise UsageError(
                "E201",
                f"dataset.seq_len {seq_len} is longer than the {role} {model.id}'s context of {limit} positions",
                f"set dataset.seq_len to {limit} or less"
                if limit >= MIN_CONTEXT
                else f"no window fits: check {model.id}'s config.json (max_position_embeddings)",
            )
        stated += [f"the {role}'s context of {limit} positions"] if limit is not None else []
    if stated:
        pf.findings.append(d.note("context", d.D_CONTEXT, f"windows of {seq_len} tokens fit {' and '.join(stated)}"))


def check_kind(pf: Preflight) -> None:
    """Each model's adapter scores the run's metric kind (E104), when its loader tells what the adapter scores
    (ScoredKinds): another kind failed only once the preview arm was scored, after both loads and the guards (as
    a fault of the adapter, E223, where it scored other tokens). A plugin's kind is its adapter's to check."""
    kind = pf.req.config.eval.metric.kind
    if kind not in BUILTIN_KINDS or not isinstance(pf.loader, ScoredKinds):
        return
    told = []
    models = [(role, m) for role, m in (("baseline", pf.req.config.model), ("subject", pf.req.subject)) if m]
    for role, model in models:
        found = pf.loader.scored_kinds(model.id, adapter=model.adapter)
        if found is None:
            continue
        adapter, kinds = found
        if kind not in kinds:
            raise UsageError(
                "E104",
                f"eval.metric.kind {kind}: the {role} {model.id} runs on adapter {adapter}, which scores "
                f"{' and '.join(kinds)}",
                f"set eval.metric.kind to {' or '.join(kinds)}, or give a model whose adapter scores {kind} "
                "(docs/user-guide.md, Models)",
            )
        told.append(f"the {role}'s adapter {adapter}")
    if told:
        verb = "scores" if len(told) == 1 else "score"
        pf.findings.append(d.note("kind", d.D_KINDS, f"{' and '.join(told)} {verb} eval.metric.kind {kind}"))


def check_examples(pf: Preflight) -> None:
    """A zero-shot prompt followed by its longest label continuation fits each model's context (E201): a label
    word of several tokens is fed after the prompt, which the context check bounds by `dataset.seq_len` alone. A
    classification head (`hf_seqcls`) reads the prompt only."""
    assert pf.planned is not None, "the windows check plans or raises"
    longest = _longest_fed(pf.planned[1].values())
    if longest is None or not isinstance(pf.loader, ContextLimit):
        return
    window_id, prompt, continuation = longest
    for role, model in (("baseline", pf.req.config.model), ("subject", pf.req.subject)):
        if model is None or model.adapter == "hf_seqcls":
            continue
        limit = pf.loader.context_length(model.id, adapter=model.adapter)
        if limit is not None and prompt + continuation > limit:
            raise UsageError(
                "E201",
                f"example {window_id}'s prompt of {prompt} tokens and a label word of {continuation} tokens after it "
                f"are longer than the {role} {model.id}'s context of {limit} positions",
                f"set dataset.seq_len to {max(limit - continuation, 1)} or less, or choose shorter label words",
            )


def _longest_fed(rows: Collection[Row]) -> tuple[int, int, int] | None:
    """(window id, prompt tokens, continuation tokens) of the longest sequence zero-shot scoring feeds after a
    prompt (hf_zero_shot: the prompt alone when every label word is one token); None when it feeds none."""
    fed = [
        (w.window_id, len(w.tokens), max(map(len, w.candidates)))
        for w in rows
        if isinstance(w, TokenWindow) and w.candidates and any(len(c) > 1 for c in w.candidates)
    ]
    return max(fed, key=lambda f: f[1] + f[2], default=None)
