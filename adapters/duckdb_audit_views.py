"""The audit views: one TEMP view per event type over the `events` table, payload fields as typed columns.

Every per-event view starts with `run_id, seq, recorded_at` (the event's stream, position and store time)
and has one row per event of its type, whatever its version: a type whose payload changed shape keeps its
columns, each read from where that version's payload holds it (`guard_evaluated` adds a `version` column).
`docs/audit.md` documents each column.
"""

from __future__ import annotations

from invarlock.domain.events import CURRENT_VERSIONS

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
}

_WINDOWS_SCORED = """
SELECT run_id, seq, recorded_at, payload->>'$.role' AS role, payload->>'$.arm' AS arm,
       unnest(from_json(payload->'$.rows',
              '[{"window_id": "BIGINT", "digest": "VARCHAR", "tokens_scored": "BIGINT", "nll_sum": "DOUBLE"}]'),
              recursive := true)
FROM events WHERE type = 'windows_scored' AND version = 1
"""

_COMPARISON = (
    '{"window_id": "BIGINT", "positions": "BIGINT", "kl_sum": "DOUBLE", "kl_max": "DOUBLE", '
    '"kl_histogram": "BIGINT[]", "top1_agree": "BIGINT", "top5_overlap": "BIGINT", "cosine": "DOUBLE", '
    '"label": "BIGINT", "baseline_pred": "BIGINT", "subject_pred": "BIGINT"}'
)
# Measures a runner does not take are absent from the payload and NULL here.
_WINDOWS_COMPARED = f"""
SELECT *, kl_sum / positions AS kl_mean, top1_agree / positions AS top1_rate
FROM (
    SELECT run_id, seq, recorded_at, payload->>'$.arm' AS arm,
           unnest(from_json(payload->'$.rows', '[{{"digest": "VARCHAR", "comparison": {_COMPARISON}}}]'),
                  recursive := true)
    FROM events WHERE type = 'windows_compared' AND version = 1
)
"""

_PLANNED_WINDOWS = """
SELECT run_id, seq, recorded_at,
       unnest(from_json(payload->'$.plan.windows', '[{"window_id": "BIGINT", "digest": "VARCHAR", "arm": "VARCHAR"}]'),
              recursive := true)
FROM events WHERE type = 'windows_planned' AND version = 2
UNION ALL
SELECT run_id, seq, recorded_at,
       unnest(from_json(payload->'$.window_ids', '["BIGINT"]')) AS window_id,
       unnest(from_json(payload->'$.window_digests', '["VARCHAR"]')) AS digest,
       unnest(from_json(payload->'$.arms', '["VARCHAR"]')) AS arm
FROM events WHERE type = 'windows_planned' AND version = 1
"""

# guard_evaluated.v1 kept guard, verdict, checks, measurements and outcome at the top of the payload;
# v2 holds them in `result`, tagged by guard. One view reads both, with v1's empty defaults for the others.
_GUARD_EVALUATED = """
SELECT run_id, seq, recorded_at, version,
       CASE version WHEN 1 THEN payload->>'$.guard' ELSE payload->>'$.result.guard' END AS guard,
       payload->>'$.phase' AS phase,
       payload->>'$.mode' AS mode,
       CASE version WHEN 1 THEN payload->>'$.verdict'
            ELSE coalesce(payload->>'$.result.outcome.verdict', payload->>'$.result.verdict') END AS verdict,
       TRY_CAST(payload->>'$.seconds' AS DOUBLE) AS seconds,
       CASE version WHEN 1 THEN payload->'$.checks' ELSE coalesce(payload->'$.result.checks', '[]'::JSON) END
           AS checks,
       CASE version WHEN 1 THEN payload->'$.measurements'
            ELSE coalesce(payload->'$.result.measurements', '{}'::JSON) END AS measurements,
       CASE version WHEN 1 THEN payload->'$.outcome' ELSE coalesce(payload->'$.result.outcome', '{}'::JSON) END
           AS outcome
FROM events WHERE type = 'guard_evaluated' AND version IN (1, 2)
"""

_RUNS = """
WITH fp AS (
    SELECT * FROM model_fingerprinted QUALIFY row_number() OVER (PARTITION BY run_id, role ORDER BY seq) = 1
), ends AS (
    SELECT run_id, any_value(status) AS status, any_value(verdict) AS verdict, any_value(finished_at) AS finished_at
    FROM run_completed GROUP BY run_id
), fails AS (
    SELECT run_id, any_value(failed_at) AS failed_at, any_value(code) AS error_code FROM run_failed GROUP BY run_id
), certs AS (
    SELECT run_id, arg_max(certificate_digest, seq) AS certificate_digest FROM certificate_issued GROUP BY run_id
), counts AS (
    SELECT run_id, count(*) AS events FROM events GROUP BY run_id
)
SELECT s.run_id, s.command,
       CASE WHEN f.run_id IS NOT NULL THEN 'failed' WHEN e.run_id IS NOT NULL THEN e.status ELSE 'incomplete' END
           AS status,
       e.verdict, s.tier, s.profile,
       coalesce(b.ref, s.baseline_id) AS baseline_ref, b.weights_sha256 AS baseline_weights_sha256,
       coalesce(sub.ref, s.subject_id) AS subject_ref, sub.weights_sha256 AS subject_weights_sha256,
       c.certificate_digest, f.error_code, s.started_at, coalesce(e.finished_at, f.failed_at) AS finished_at,
       epoch(coalesce(e.finished_at, f.failed_at)) - epoch(s.started_at) AS duration_s, n.events
FROM run_started s
LEFT JOIN fp b ON b.run_id = s.run_id AND b.role = 'baseline'
LEFT JOIN fp sub ON sub.run_id = s.run_id AND sub.role = 'subject'
LEFT JOIN ends e ON e.run_id = s.run_id
LEFT JOIN fails f ON f.run_id = s.run_id
LEFT JOIN certs c ON c.run_id = s.run_id
LEFT JOIN counts n ON n.run_id = s.run_id
"""


def _column_sql(name: str, path: str, type_: str) -> str:
    if type_ == "JSON":
        return f"payload->'{path}' AS {name}"
    if type_ == "VARCHAR":
        return f"payload->>'{path}' AS {name}"
    return f"TRY_CAST(payload->>'{path}' AS {type_}) AS {name}"


def _version_sql(event_type: str, version: int, columns: list[Column]) -> str:
    fields = ", ".join(_column_sql(*column) for column in columns)
    return f"SELECT run_id, seq, recorded_at, {fields} FROM events WHERE type = '{event_type}' AND version = {version}"


def _event_view_sql(event_type: str, columns: list[Column]) -> str:
    """The current version's rows, then each legacy version's with the same columns in the same order."""
    selects = [_version_sql(event_type, CURRENT_VERSIONS[event_type], columns)]
    for (legacy_type, version), paths in LEGACY_PATHS.items():
        if legacy_type == event_type:
            selects.append(_version_sql(event_type, version, [(n, paths[n], t) for n, _, t in columns]))
    return "\nUNION ALL\n".join(selects)


def view_statements() -> list[str]:
    """Every `CREATE TEMP VIEW` statement, in dependency order (`runs` last)."""
    views = {name: _event_view_sql(name, columns) for name, columns in EVENT_VIEWS.items()}
    views |= {
        "guard_evaluated": _GUARD_EVALUATED,
        "windows_scored": _WINDOWS_SCORED,
        "windows_compared": _WINDOWS_COMPARED,
        "planned_windows": _PLANNED_WINDOWS,
        "runs": _RUNS,
    }
    return [f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}" for name, sql in views.items()]
