"""The audit views: one TEMP view per event type over the `events` table, payload fields as typed columns
(the columns of each: duckdb_audit_columns.py), and the views over several types or unnested rows."""

from __future__ import annotations

from invarlock.domain.events import CURRENT_VERSIONS

from .duckdb_audit_columns import EVENT_VIEWS, LEGACY_PATHS, Column

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
