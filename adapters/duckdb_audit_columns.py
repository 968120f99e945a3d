"""The columns of the per-event audit views (duckdb_audit_views.py): each payload field as a typed column.

Every per-event view starts with `run_id, seq, recorded_at` (the event's stream, position and store time)
and has one row per event of its type, whatever its version: a type whose payload changed shape keeps its
columns, each read from where that version's payload holds it (`guard_evaluated` adds a `version` column).
`docs/audit.md` documents each column.
"""

from __future__ import annotations

Column = tuple[str, str, str]  # (column name, JSON path in the payload, DuckDB type; JSON keeps it as JSON)

EVENT_VIEWS: dict[str, list[Column]] = {
    "run_started": [
        ("command", "$.command", "VARCHAR"),
        ("started_at", "$.started_at", "TIMESTAMPTZ"),
        ("tool_version", "$.tool_version", "VARCHAR"),
        ("policy_digest", "$.policy_digest", "VARCHAR"),
        ("tier", "$.policy.tier", "VARCHAR"),
        ("profile", "$.policy.profile", "VARCHAR"),
        ("baseline_id", "$.config.model.id", "VARCHAR"),
        ("subject_id", "$.config.subject.id", "VARCHAR"),
        ("edit_name", "$.config.edit.name", "VARCHAR"),
        ("dataset_provider", "$.config.dataset.provider", "VARCHAR"),
        ("config", "$.config", "JSON"),
        ("policy", "$.policy", "JSON"),
        ("seeds", "$.seeds", "JSON"),
        ("environment", "$.environment", "JSON"),
    ],
    "model_fingerprinted": [
        ("role", "$.role", "VARCHAR"),
        ("ref", "$.identity.ref", "VARCHAR"),
        ("adapter", "$.identity.adapter", "VARCHAR"),
        ("architecture", "$.identity.architecture", "VARCHAR"),
        ("weights_sha256", "$.identity.weights_sha256", "VARCHAR"),
        ("tokenizer_sha256", "$.identity.tokenizer_sha256", "VARCHAR"),
        ("config_sha256", "$.identity.config_sha256", "VARCHAR"),
        ("param_count", "$.identity.param_count", "BIGINT"),
        ("dtype", "$.identity.dtype", "VARCHAR"),
        ("device", "$.identity.device", "VARCHAR"),
    ],
    "windows_planned": [
        ("provider", "$.corpus.provider", "VARCHAR"),
        ("split", "$.corpus.split", "VARCHAR"),
        ("source", "$.corpus.source", "VARCHAR"),
        ("licence", "$.corpus.licence", "VARCHAR"),
        ("seq_len", "$.plan.seq_len", "INTEGER"),
        ("stride", "$.plan.stride", "INTEGER"),
        ("tokenizer_sha256", "$.plan.tokenizer_sha256", "VARCHAR"),
        ("dataset_digest", "$.plan.dataset_digest", "VARCHAR"),
        ("plan_digest", "$.plan.window_plan_digest", "VARCHAR"),
        ("windows_available", "$.plan.windows_available", "BIGINT"),
        ("duplicates_dropped", "$.plan.duplicates_dropped", "BIGINT"),
        ("stream_tokens", "$.plan.stream_tokens", "BIGINT"),
        ("approximate_counts", "$.plan.approximate_counts", "BOOLEAN"),
    ],
    "edit_applied": [
        ("name", "$.outcome.name", "VARCHAR"),
        ("plan_digest", "$.outcome.plan_digest", "VARCHAR"),
        ("params_changed", "$.outcome.deltas.params_changed", "BIGINT"),
        ("layers_modified", "$.outcome.deltas.layers_modified", "BIGINT"),
        ("plan", "$.outcome.plan", "JSON"),
        ("modules_changed", "$.outcome.deltas.modules_changed", "JSON"),
        ("bitwidth_map", "$.outcome.deltas.bitwidth_map", "JSON"),
    ],
    "preview_assessed": [
        ("ratio", "$.ratio", "DOUBLE"),
        ("catastrophe_ratio", "$.catastrophe_ratio", "DOUBLE"),
        ("catastrophe", "$.catastrophe", "BOOLEAN"),
    ],
    "preview_checked": [("catastrophe", "$.catastrophe", "BOOLEAN"), ("reason", "$.reason", "VARCHAR")],
    "rollback_performed": [("reason", "$.reason", "VARCHAR")],
    "baseline_reused": [
        ("arm", "$.arm", "VARCHAR"),
        ("source_run_id", "$.source_run_id", "VARCHAR"),
        ("scoring_key", "$.scoring_key", "VARCHAR"),
        ("source_events", "$.source_events", "JSON"),
    ],
    "baseline_rescored": [
        ("arm", "$.arm", "VARCHAR"),
        ("source_run_id", "$.source_run_id", "VARCHAR"),
        ("reason", "$.reason", "VARCHAR"),
    ],
    "guard_baseline_reused": [
        ("source_run_id", "$.source_run_id", "VARCHAR"),
        ("guard_key", "$.guard_key", "VARCHAR"),
        ("source_events", "$.source_events", "JSON"),
    ],
    "variance_baseline_reused": [
        ("source_run_id", "$.source_run_id", "VARCHAR"),
        ("scoring_key", "$.scoring_key", "VARCHAR"),
        ("source_events", "$.source_events", "JSON"),
    ],
    "certificate_issued": [
        ("issued_at", "$.issued_at", "TIMESTAMPTZ"),
        ("certificate_digest", "$.certificate_digest", "VARCHAR"),
        ("signature_key_fingerprint", "$.signature_key_fingerprint", "VARCHAR"),
        ("signature_value", "$.signature_value", "VARCHAR"),
    ],
    "run_completed": [
        ("finished_at", "$.finished_at", "TIMESTAMPTZ"),
        ("status", "$.status", "VARCHAR"),
        ("verdict", "$.verdict", "VARCHAR"),
    ],
    "run_failed": [
        ("failed_at", "$.failed_at", "TIMESTAMPTZ"),
        ("code", "$.code", "VARCHAR"),
        ("message", "$.message", "VARCHAR"),
    ],
    "chain_sealed": [
        ("head_seq", "$.head_seq", "BIGINT"),
        ("head_hash", "$.head_hash", "VARCHAR"),
        ("key_fingerprint", "$.key_fingerprint", "VARCHAR"),
        ("signature", "$.signature", "VARCHAR"),
    ],
    "reexecution_started": [
        ("certificate_run_id", "$.certificate_run_id", "VARCHAR"),
        ("certificate_digest", "$.certificate_digest", "VARCHAR"),
        ("baseline_ref", "$.baseline_ref", "VARCHAR"),
        ("subject_ref", "$.subject_ref", "VARCHAR"),
        ("sample", "$.sample", "BIGINT"),
        ("sample_seed", "$.sample_seed", "BIGINT"),
        ("started_at", "$.started_at", "TIMESTAMPTZ"),
        ("tool_version", "$.tool_version", "VARCHAR"),
        ("exact", "$.exact", "BOOLEAN"),
        ("rel_tol", "$.rel_tol", "DOUBLE"),
        ("build_differences", "$.build_differences", "JSON"),
        ("environment", "$.environment", "JSON"),
        ("sequential", "$.sequential", "BOOLEAN"),
    ],
    "window_rechecked": [
        ("arm", "$.arm", "VARCHAR"),
        ("window_id", "$.window_id", "BIGINT"),
        ("digest", "$.digest", "VARCHAR"),
        ("tokens_scored", "$.tokens_scored", "BIGINT"),
        ("baseline_nll", "$.baseline_nll", "DOUBLE"),
        ("baseline_nll_recomputed", "$.baseline_nll_recomputed", "DOUBLE"),
        ("subject_nll", "$.subject_nll", "DOUBLE"),
        ("subject_nll_recomputed", "$.subject_nll_recomputed", "DOUBLE"),
        ("max_rel_diff", "$.max_rel_diff", "DOUBLE"),
        ("ok", "$.ok", "BOOLEAN"),
    ],
    "comparison_rechecked": [
        ("arm", "$.arm", "VARCHAR"),
        ("window_id", "$.window_id", "BIGINT"),
        ("digest", "$.digest", "VARCHAR"),
        ("positions", "$.stated.positions", "BIGINT"),
        ("positions_recomputed", "$.recomputed.positions", "BIGINT"),
        ("kl_sum", "$.stated.kl_sum", "DOUBLE"),
        ("kl_sum_recomputed", "$.recomputed.kl_sum", "DOUBLE"),
        ("kl_max", "$.stated.kl_max", "DOUBLE"),
        ("kl_max_recomputed", "$.recomputed.kl_max", "DOUBLE"),
        ("top1_agree", "$.stated.top1_agree", "BIGINT"),
        ("top1_agree_recomputed", "$.recomputed.top1_agree", "BIGINT"),
        ("top5_overlap", "$.stated.top5_overlap", "BIGINT"),
        ("top5_overlap_recomputed", "$.recomputed.top5_overlap", "BIGINT"),
        ("cosine", "$.stated.cosine", "DOUBLE"),
        ("cosine_recomputed", "$.recomputed.cosine", "DOUBLE"),
        ("label", "$.stated.label", "BIGINT"),
        ("label_recomputed", "$.recomputed.label", "BIGINT"),
        ("baseline_pred", "$.stated.baseline_pred", "BIGINT"),
        ("baseline_pred_recomputed", "$.recomputed.baseline_pred", "BIGINT"),
        ("subject_pred", "$.stated.subject_pred", "BIGINT"),
        ("subject_pred_recomputed", "$.recomputed.subject_pred", "BIGINT"),
        ("max_rel_diff", "$.max_rel_diff", "DOUBLE"),
        ("ok", "$.ok", "BOOLEAN"),
        ("mismatches", "$.mismatches", "JSON"),
        ("stated", "$.stated", "JSON"),
        ("recomputed", "$.recomputed", "JSON"),
    ],
    "matrix_rechecked": [
        ("guard", "$.guard", "VARCHAR"),
        ("name", "$.name", "VARCHAR"),
        ("max_rel_diff", "$.max_rel_diff", "DOUBLE"),
        ("ok", "$.ok", "BOOLEAN"),
        ("mismatch", "$.mismatch", "VARCHAR"),
    ],
    "reexecution_finished": [
        ("finished_at", "$.finished_at", "TIMESTAMPTZ"),
        ("ok", "$.ok", "BOOLEAN"),
        ("windows_rechecked", "$.windows_rechecked", "BIGINT"),
        ("matrices_rechecked", "$.matrices_rechecked", "BIGINT"),
        ("max_rel_diff", "$.max_rel_diff", "DOUBLE"),
        ("failures", "$.failures", "JSON"),
        ("detection_power", "$.detection_power", "JSON"),
    ],
}


def _flat(event_type: str) -> dict[str, str]:
    return {name: f"$.{name}" for name, _, _ in EVENT_VIEWS[event_type]}


# Where each column sat in the payload of a version an earlier release wrote (domain/events_legacy.py).
LEGACY_PATHS: dict[tuple[str, int], dict[str, str]] = {
    ("model_fingerprinted", 1): _flat("model_fingerprinted"),
    ("windows_planned", 1): _flat("windows_planned"),
    ("edit_applied", 1): _flat("edit_applied"),
    ("reexecution_started", 1): _flat("reexecution_started"),  # `sequential` absent: NULL
}
