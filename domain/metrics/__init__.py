"""Primary metrics, looked up by kind: the pipeline, build_certificate, gates and verify name none of them.

A run selects its metric with `eval.metric.kind` in the config; the recorded config selects it again on
replay, and a certificate's `primary_metric.kind` selects it in verify. Kinds: `ppl_causal` (token-weighted
perplexity ratio of a causal LM), `ppl_mlm` (the same ratio over deterministically masked positions of a
masked LM) and `embedding_cosine` (mean cosine of an encoder's pooled embeddings, baseline vs subject).

How a new kind plugs in (e.g. `accuracy` with per-example 0/1, `embedding_cosine`, `ppl_masked`):

1. Write `domain/metrics/<kind>.py`: a class satisfying `Metric` (base.py) — its kind, unit, direction and
   gating basis; `arm_statistic` (per-window evidence → one arm's paired statistic); `assess` (both arms,
   plus the bootstrap interval of the gated arm, computed once with stats.bca_interval/bootstrap_key so
   verify recomputes it bit for bit); `scored_tokens` and `identity` (what verify checks the evidence and
   a stated arm statistic against); `flags` and `catastrophe` (its gates under the policy, with reasons);
   `overhead` (guarded vs bare subject).
2. Register one instance in `METRICS` below. `eval.metric.kind: <kind>` then selects it and config
   validation lists it among the known kinds; nothing in application/ changes. A third-party kind is not
   listed here: the composition root resolves it from the plugin that declares it (`use_plugin_kinds`).
3. If its per-window evidence is not a pair of NLL sums per window, add the columns to the scored-window
   event (a new event version with an upcaster) and to the certificate's evidence (a new schema version).
4. Thresholds of its own go in a policy section present only when that kind runs: adding fields to
   GatePolicy would change every existing policy digest. Secondary metrics (KL, top-1 agreement) give
   `Certificate.secondary_metrics` a Struct; it is typed `None` until a kind fills it.
"""

from __future__ import annotations

from collections.abc import Mapping

from invarlock.domain.metric_plugins import plugin_resolver, use_plugin_kinds

from ..errors import IntegrityError, UsageError
from .accuracy import ACCURACY
from .base import Assessment, Metric
from .embedding_cosine import EMBEDDING_COSINE
from .ppl_causal import PPL_CAUSAL
from .ppl_mlm import PPL_MLM

__all__ = [
    "ACCURACY",
    "BUILTIN_KINDS",
    "DEFAULT_KIND",
    "EMBEDDING_COSINE",
    "METRICS",
    "PPL_CAUSAL",
    "PPL_MLM",
    "SECONDARY_KINDS",
    "V1_KINDS",
    "Assessment",
    "Metric",
    "known_kind",
    "metric_for",
    "paired_fields",
    "pairs_measurable",
    "recorded_metric",
    "scores_nll",
    "token_floored",
    "use_plugin_kinds",
]

METRICS: dict[str, Metric] = {m.kind: m for m in (PPL_CAUSAL, PPL_MLM, EMBEDDING_COSINE, ACCURACY)}
BUILTIN_KINDS = tuple(METRICS)  # this release's own kinds (metric_for adds a plugin's to METRICS once resolved)
DEFAULT_KIND = PPL_CAUSAL.kind  # what a config without eval.metric.kind selects
V1_KINDS = (PPL_CAUSAL.kind,)  # kinds certificate schema v1 knows; any other makes a certificate v2
# built-in kinds whose evidence holds KL and top-1 agreement (secondary_metrics): next-token distributions compared
SECONDARY_KINDS = (PPL_CAUSAL.kind,)
_KL_FIELDS = frozenset({"kl_sum", "kl_max", "kl_histogram", "top1_agree", "top5_overlap"})
# The paired-measure fields (WindowComparison) each built-in kind's runs record: a row of another kind's fields
# (KL invented for an encoder) is evidence no run of the kind could hold, and plain verify refuses it.
_PAIRED_FIELDS = {
    PPL_CAUSAL.kind: _KL_FIELDS,
    PPL_MLM.kind: frozenset(),
    EMBEDDING_COSINE.kind: frozenset({"cosine"}),
    ACCURACY.kind: frozenset({"label", "baseline_pred", "subject_pred"}),
}


def paired_fields(kind: str) -> frozenset[str] | None:
    """The WindowComparison fields (besides window_id and positions) a run of built-in `kind` may record; None for
    a plugin's kind, whose adapter decides."""
    return _PAIRED_FIELDS.get(kind)


# The built-in kinds whose runs record both models' NLL sums per window; the others score no token likelihood (NLL
# sums in an accuracy or embedding certificate are made up).
_PERPLEXITY_KINDS = (PPL_CAUSAL.kind, PPL_MLM.kind)


def scores_nll(kind: str) -> bool | None:
    """Whether a run of built-in `kind` records baseline and subject NLL sums (True) or none (False); None for a
    plugin's kind, whose adapter decides."""
    return kind in _PERPLEXITY_KINDS if kind in BUILTIN_KINDS else None


def token_floored(kind: str) -> bool:
    """Whether a kind's gates hold the final-arm token floor (`token_floor_met`, ppl_gates.floors): the perplexity
    kinds, each counting the tokens its `scored_tokens` scores in a window."""
    return kind in _PERPLEXITY_KINDS


def pairs_measurable(kind: str) -> bool:
    """Whether a run of `kind` may record KL and top-1 agreement: a built-in kind of SECONDARY_KINDS, or a plugin's
    kind (its adapter's paired scores decide). A masked LM's evidence never holds them."""
    return kind in SECONDARY_KINDS or kind not in BUILTIN_KINDS


def metric_for(kind: str) -> Metric:
    """The registered metric of `kind`, else the plugin kind the composition root supplies (use_plugin_kinds).

    Raises:
        UsageError: E201 naming eval.metric.kind and the known kinds when neither has it.
    """
    metric = METRICS.get(kind)
    resolve = plugin_resolver()
    if metric is None and resolve is not None:
        metric = resolve(kind)
        if metric is not None:
            METRICS[kind] = metric
    if metric is None:
        raise UsageError(
            "E201", f"eval.metric.kind '{kind}' is not a known metric kind", f"known kinds: {', '.join(METRICS)}"
        )
    return metric


def known_kind(kind: str) -> bool:
    """Whether `kind` is registered or supplied by a plugin (metric_for would return a metric for it)."""
    try:
        metric_for(kind)
    except UsageError as exc:
        if exc.code != "E201":
            raise  # a plugin that provides the kind but fails to load says so (E220/E223)
        return False
    return True


def recorded_metric(config: Mapping[str, object]) -> Metric:
    """The metric a run's recorded config (RunStarted.config) selected with eval.metric.kind.

    Raises:
        IntegrityError: E604 when the recorded config names no kind (the stream was altered).
        UsageError: E201 when the kind is not one this release knows.
    """
    section = config.get("eval")
    metric = section.get("metric") if isinstance(section, dict) else None
    kind = metric.get("kind") if isinstance(metric, dict) else None
    if not isinstance(kind, str):
        raise IntegrityError("E604", "the run's recorded config names no eval.metric.kind", "the stream was altered")
    return metric_for(kind)
