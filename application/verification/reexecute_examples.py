"""The audit's rebuild step for labelled examples (metric kind accuracy): the examples are planned again from
the certificate's dataset recipe and metric config through certify's own planner, and every certified
example's digest (its prompt ids and label), the plan and the dataset digest are compared."""

from __future__ import annotations

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError
from invarlock.domain.policy import Policy
from invarlock.ports.corpus import CorpusResolver
from invarlock.ports.model import ModelRunner

from ..certification.example_planning import plan_labelled
from ..config import MetricConfig
from .reexecute_inputs import SHOWN, RebuiltWindows, corpus_difference, dataset_recipe, plan_problems, recipe_source
from .reexecute_placement import recorded_section


def rebuild_examples(
    cert: c.Certificate, policy: Policy, corpora: CorpusResolver, baseline: ModelRunner
) -> RebuiltWindows:
    """The certified examples' windows planned again with the baseline's tokenizer, or a failed finding."""
    try:
        ds = dataset_recipe(cert)
        metric = msgspec.convert(recorded_section(cert, "eval").get("metric", {}), MetricConfig)
    except msgspec.ValidationError as exc:
        return RebuiltWindows({}, [("reexec:windows", False, f"the dataset recipe cannot be read: {exc}")])
    tok = baseline.tokenizer()
    with recipe_source(ds):
        labelled = corpora.open_labelled(
            ds.provider,
            path=ds.source_path,
            text_field=ds.text_field,
            label_field=ds.label_field,
            split=ds.split,
            **ds.hub,
        )
    corpus_said = corpus_difference(labelled.info(), cert.dataset.corpus)
    if corpus_said is not None:
        return RebuiltWindows({}, [("reexec:windows", False, corpus_said)])
    try:
        planned, windows = plan_labelled(labelled, tok, ds, metric, allow_fewer=not policy.enforce_floors)
    except InvarlockError as exc:
        return RebuiltWindows({}, [("reexec:windows", False, f"the examples cannot be planned again: {exc.message}")])
    digests = {w.window_id: w.digest for w in planned.plan.windows}
    mismatched = [e for e in cert.evidence.plan if digests.get(e.window_id) != e.digest]
    if mismatched:
        named = ", ".join(f"{e.arm} example {e.window_id}" for e in mismatched[:SHOWN])
        more = f" and {len(mismatched) - SHOWN} more" if len(mismatched) > SHOWN else ""
        total = len(cert.evidence.plan)
        detail = f"{len(mismatched)} of {total} example digests differ from the rebuilt examples: {named}{more}"
        return RebuiltWindows({}, [("reexec:windows", False, detail)])
    problems = plan_problems(cert, planned.plan, tok.digest())
    if problems:
        return RebuiltWindows({}, [("reexec:windows", False, "; ".join(problems))])
    rows = {e.window_id: windows[e.window_id] for e in cert.evidence.plan}
    stated = len(cert.evidence.plan)
    return RebuiltWindows(rows, [("reexec:windows", True, f"all {stated} planned examples rebuilt, digests equal")])
