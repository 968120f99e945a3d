"""Defaults the command options show; kept apart from bootstrap so that `--help` imports no application code."""

DEFAULT_EVENTS = "runs/invarlock.duckdb"
DEFAULT_AUDIT_TIMEOUT_S = 30.0  # `audit --sql --timeout`; docs/audit.md
# How long a run's append waits for another process holding the event store: longer than an audit query may
# hold it at the default --timeout, so that a query does not stop an hour-long certification with E505.
RUN_STORE_WAIT_S = DEFAULT_AUDIT_TIMEOUT_S + 30.0
