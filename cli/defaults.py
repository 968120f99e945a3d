"""Defaults the command options show; kept apart from bootstrap so that `--help` imports no application code."""

DEFAULT_EVENTS = "runs/invarlock.duckdb"
DEFAULT_AUDIT_TIMEOUT_S = 30.0  # `audit --sql --timeout`; docs/audit.md
