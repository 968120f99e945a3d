"""What plain verify proves (the numbers it recomputes) and what it takes on trust, and how to check that."""

from __future__ import annotations

import msgspec

RECOMPUTED = (
    "every statistic of the primary metric's kind (perplexities, deltas and ratios; accuracies, their difference "
    "and agreement; mean and min cosine), its bootstrap interval, drift, pairing, and the secondary metrics (KL "
    "divergence and top-1 agreement with their intervals and quantiles)",
    "every gate flag and the verdict, under the certificate's policy and under yours (--tier/--policy)",
    "every digest: certificate, policy (and that the policy is its tier plus the listed overrides), window plan, "
    "edit plan",
    "every guard outcome, from the guard's recorded measurements and checks, whose rows must be whole (each weight "
    "once and in a known family, the same matrices in both weight guards, every invariants check of each phase)",
    "the window counts, token counts, status and seeds, against the evidence and the plan; the arms dealt again "
    "from the run config's sizes, the seed and the dataset digest (their window ids, within the shift dropped "
    "duplicates allow: which window's rows stand behind an id rests on the window content digests, a trusted "
    "input); the windows available plus those dropped against the windows the stream's tokens give",
    "the run id, times, seeds, seq_len, stride, metric and edit, against the event log reference and the run's config",
)
TRUSTED = (
    "per-window NLL sums (evidence baseline_nll/subject_nll, guard_overhead.bare_subject_nll)",
    "per-window paired measures (evidence comparisons: KL sums, maxima and histograms, top-1/top-5 counts; "
    "embedding cosines; gold labels and both models' predictions)",
    "guard measurements (per-matrix spectra, variance taps, invariants checks)",
    "weight, tokenizer and config digests of both models, and the window content digests (which tie each window id, "
    "and so each arm, to its text)",
)
TRUSTED_HOW = (
    "checkable only by re-executing the models: invarlock verify CERT --baseline B --subject S (every metric kind: "
    "NLL sums where the evidence has them, and every paired measure: KL/top-1, cosines, labels and predictions)"
)


STATED = (
    "the models' identities: ref, architecture, adapter, device, dtype, parameter count (baseline, subject)",
    "the corpus's provider, split, source, licence and token count (dataset)",
    "for labelled examples (accuracy): the duplicates dropped, which bound how far the arm check lets example ids "
    "shift, the config's stride (unused), the prompt template and label words",
    "the edit's summary of what it changed (edit.deltas)",
    "the run config's fields no recomputed number depends on: models, corpus names and fields, output, batch size "
    "(its geometry may change the evidence's last bits, a trusted input), the "
    "profile and tier asked for, and whether the run held one model at a time, could reuse an earlier run's "
    "baseline work or left paired measures out (provenance.config: each a key a run records, of its type)",
    "where reused baseline evidence came from: the source run, its scoring or guard key and its events "
    "(provenance.baseline_scoring, guard_baseline, variance_baseline), as far as they agree with the config, the "
    "arms and each other",
    "the run id and when it started and was issued, as far as they agree with the event log reference and each other",
    "the environment, the tool's name and version, the guards' timings and measurement methods",
    "the event log reference (provenance.event_log)",
)
STATED_HOW = (
    "checked by verify --events, which rebuilds the certificate's exact bytes from the run's events, and bound "
    "by a signature (--pubkey); the models, the corpus and the prompts also by the re-execution audit"
)

# Certificate paths (fnmatch patterns over dotted paths, list items by index) of the fields plain verify takes
# as the run recorded them: the trusted inputs and the stated facts above. Any other field is recomputed or
# checked against the rest; tests/unit/test_verify_every_field.py edits each field to hold verify to that.
TRUSTED_FIELDS = (
    "evidence.*.baseline_nll.*",
    "evidence.*.subject_nll.*",
    "guard_overhead.bare_subject_nll.*",
    "evidence.*.comparisons.*",
    "guards.*.measurements.*",
    "guards.invariants.phases.*.checks.*",
    "baseline.*_sha256",
    "subject.*_sha256",
    "evidence.*.window_digests.*",
    "evidence.plan.*.digest",
)
STATED_FIELDS = (
    "baseline.*", "subject.*",
    "dataset.provider", "dataset.split", "dataset.source", "dataset.licence", "dataset.stream_tokens",
    "dataset.fingerprint", "dataset.revision",
    "edit.deltas.*",
    "provenance.config.model.*", "provenance.config.subject.*", "provenance.config.output.*",
    "provenance.config.dataset.provider", "provenance.config.dataset.split", "provenance.config.dataset.file",
    "provenance.config.dataset.path", "provenance.config.dataset.text_field", "provenance.config.dataset.label_field",
    "provenance.config.eval.batch_size", "provenance.config.profile", "provenance.config.auto.tier",
    "provenance.config.eval.sequential", "provenance.config.eval.reuse", "provenance.config.eval.secondary.measure",
    "provenance.baseline_scoring.*", "provenance.guard_baseline.*", "provenance.variance_baseline.*",
    "run_id", "provenance.started_at", "issued_at",
    "provenance.environment.*", "provenance.event_log.*", "tool.*",
    "guards.*.seconds", "guards.invariants.phases.*.seconds",
)  # fmt: skip
# Stated only in a certificate of labelled examples (dataset.stride 0, kind accuracy): nothing recorded gives the
# set's size, so its duplicates dropped only bound how far the arm check lets ids shift; it plans no stride; its
# prompt template and label words shape what only the window digests cover. Checked for token streams.
LABELLED_STATED_FIELDS = (
    "dataset.duplicates_dropped", "provenance.config.dataset.stride",
    "provenance.config.eval.metric.template", "provenance.config.eval.metric.label_words.*",
)  # fmt: skip
NOT_RECOMPUTED_FIELDS = TRUSTED_FIELDS + STATED_FIELDS


def not_recomputed_fields(labelled: bool) -> tuple[str, ...]:
    """The patterns of the fields plain verify does not recompute in a certificate of labelled examples
    (`labelled`) or of windows cut from a token stream."""
    return NOT_RECOMPUTED_FIELDS + (LABELLED_STATED_FIELDS if labelled else ())


class Proves(msgspec.Struct, frozen=True, kw_only=True):
    """What plain verify recomputes, which inputs it takes on trust and which facts as stated, and how those
    are checked instead."""

    recomputed: tuple[str, ...]
    trusted_inputs: tuple[str, ...]
    trusted_inputs_check: str
    stated: tuple[str, ...]
    stated_check: str


def proves() -> Proves:
    """What plain verify recomputes and which inputs it takes on trust (for the human output and --json)."""
    return Proves(
        recomputed=RECOMPUTED,
        trusted_inputs=TRUSTED,
        trusted_inputs_check=TRUSTED_HOW,
        stated=STATED,
        stated_check=STATED_HOW,
    )
