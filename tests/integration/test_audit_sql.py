"""`invarlock audit --sql` on a real DuckDB file written by certify_edit on the unit-test fakes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from invarlock.adapters.duckdb_audit import DuckDBAuditQueries
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.application.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.services import Services
from invarlock.cli.main import cli
from invarlock.domain import events as ev
from invarlock.domain.errors import AbortError, UsageError

from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, words
from tests.unit.conftest import small_config

MODELS = {
    "base": FakeModel(ref="base"),
    "same": FakeModel(ref="same"),
    "broken": FakeModel(ref="broken", quality=3.0),
    "other_tok": FakeModel(ref="other_tok", tokenizer_flavour="bpe"),
}
RUNS = [  # (run id, subject, month): PASS in January, FAIL (rollback) in February and March, then a failure
    ("run-pass-jan", "same", "01"),
    ("run-fail-feb", "broken", "02"),
    ("run-fail-mar", "broken", "03"),
    ("run-error-feb", "other_tok", "02"),
]
MONTH_FAILS = "SELECT run_id FROM runs WHERE verdict = 'FAIL' AND date_trunc('month', started_at) = DATE '2026-02-01'"


def _services(store_path: Path, run_id: str, month: str) -> Services:
    ticks = itertools.count()

    def clock() -> str:
        return f"2026-{month}-01T00:{next(ticks):02d}:00.000000Z"

    return Services(
        loader=FakeLoader(models=MODELS),
        corpora=FakeCorpora(words(120)),
        store=DuckDBEventStore(store_path, clock=clock),
        edits={},
        clock=clock,
        new_run_id=lambda: run_id,
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
    )


def _certify(store_path: Path, run_id: str, subject: str, month: str) -> None:
    request = CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id=subject), tier="balanced", profile="dev"
    )
    certify_edit(request, _services(store_path, run_id, month))


def _incomplete(store_path: Path) -> None:
    """A stream that just stops after RunStarted, as a killed process leaves it."""
    store = DuckDBEventStore(store_path, clock=lambda: "2026-04-01T00:00:00.000000Z")
    started = store.read("run-pass-jan")[0]
    event = ev.decode_event(started.type, started.version, started.payload)
    assert isinstance(event, ev.RunStarted)
    killed = ev.RunStarted(**{**{f: getattr(event, f) for f in event.__struct_fields__}, "run_id": "run-killed"})
    store.append("run-killed", 0, [killed])


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audit") / "events.duckdb"
    for run_id, subject, month in RUNS:
        if subject == "other_tok":
            with pytest.raises(AbortError):
                _certify(path, run_id, subject, month)
        else:
            _certify(path, run_id, subject, month)
    _incomplete(path)
    return path


def _query(path: Path, sql: str) -> list[dict[str, object]]:
    return DuckDBAuditQueries(path).query(sql).as_dicts()


def test_every_fail_in_a_month_is_listed(store_path):
    assert _query(store_path, MONTH_FAILS) == [{"run_id": "run-fail-feb"}]


def test_every_certificate_of_one_baseline_weights_digest(store_path):
    digest = _query(store_path, "SELECT weights_sha256 FROM model_fingerprinted WHERE ref = 'base' LIMIT 1")[0]
    rows = _query(
        store_path,
        "SELECT c.run_id, c.certificate_digest FROM certificate_issued c JOIN model_fingerprinted m "
        f"USING (run_id) WHERE m.role = 'baseline' AND m.weights_sha256 = '{digest['weights_sha256']}' "
        "ORDER BY c.run_id",
    )
    assert [r["run_id"] for r in rows] == ["run-fail-feb", "run-fail-mar", "run-pass-jan"]
    assert all(len(str(r["certificate_digest"])) == 64 for r in rows)


def test_runs_that_never_completed_are_failed_or_incomplete(store_path):
    rows = _query(store_path, "SELECT run_id, status, error_code FROM runs WHERE status IN ('failed', 'incomplete')")
    assert sorted((r["run_id"], r["status"], r["error_code"]) for r in rows) == [
        ("run-error-feb", "failed", "E002"),
        ("run-killed", "incomplete", None),
    ]


def test_runs_view_has_one_row_per_run_with_models_and_times(store_path):
    rows = {r["run_id"]: r for r in _query(store_path, "SELECT * FROM runs")}
    assert set(rows) == {"run-pass-jan", "run-fail-feb", "run-fail-mar", "run-error-feb", "run-killed"}
    done = rows["run-pass-jan"]
    assert (done["status"], done["verdict"], done["baseline_ref"], done["subject_ref"]) == (
        "completed",
        "PASS",
        "base",
        "same",
    )
    assert done["finished_at"] is not None and float(done["duration_s"]) > 0
    assert rows["run-fail-feb"]["status"] == "rollback" and rows["run-killed"]["finished_at"] is None


def test_slowest_runs_come_first(store_path):
    rows = _query(store_path, "SELECT run_id FROM runs WHERE duration_s IS NOT NULL ORDER BY duration_s DESC")
    assert len(rows) == 4


def test_per_window_nll_matches_the_stored_events(store_path):
    rows = _query(
        store_path,
        "SELECT role, arm, window_id, tokens_scored, nll_sum FROM windows_scored "
        "WHERE run_id = 'run-pass-jan' ORDER BY role, arm, window_id",
    )
    stored = [
        (e.role, e.arm, row.window_id, row.tokens_scored, row.nll_sum)
        for r in DuckDBEventStore(store_path, read_only=True).read("run-pass-jan")
        if r.type == "windows_scored"
        for e in [ev.decode_event(r.type, r.version, r.payload)]
        if isinstance(e, ev.WindowsScored)
        for row in e.rows
    ]
    assert [tuple(r.values()) for r in rows] == sorted(stored)
    assert len(rows) == 2 * (8 + 12)


def test_every_event_view_parses_a_real_stream(store_path):
    counts = _query(store_path, "SELECT type, count(*) AS n FROM events WHERE type != 'windows_scored' GROUP BY type")
    assert len(counts) >= 8
    for row in counts:
        assert _query(store_path, f"SELECT count(*) AS n FROM {row['type']}") == [{"n": row["n"]}]


def test_views_work_on_an_empty_store(tmp_path):
    path = tmp_path / "empty.duckdb"
    DuckDBEventStore(path).append("r", 0, [])
    assert _query(path, "SELECT * FROM runs") == []
    assert _query(path, "SELECT count(*) AS n FROM windows_scored") == [{"n": 0}]


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("INSERT INTO events SELECT * FROM events", "INSERT"),
        ("UPDATE events SET type = 'x'", "UPDATE"),
        ("DELETE FROM events", "DELETE"),
        ("ATTACH 'other.duckdb' AS o", "ATTACH"),
        ("COPY events TO 'out.csv'", "COPY"),
        ("PRAGMA database_list", "PRAGMA"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("SELECT 1; DELETE FROM events", "2 statements"),
        ("DESCRIBE events", "DESCRIBE"),
    ],
)
def test_writes_and_non_queries_are_refused_and_leave_the_file_unchanged(store_path, sql, word):
    before = store_path.read_bytes()
    result = CliRunner().invoke(cli, ["audit", "--events", str(store_path), "--sql", sql])
    assert isinstance(result.exception, UsageError) and result.exception.code == "E510"
    assert result.exception.exit_code == 2
    line = result.exception.one_line()
    assert word in line and "\n" not in line
    assert store_path.read_bytes() == before


def test_external_file_access_is_disabled_even_inside_a_select(store_path, tmp_path):
    (tmp_path / "x.csv").write_text("a\n1\n")
    with pytest.raises(UsageError) as info:
        _query(store_path, f"SELECT * FROM read_csv('{tmp_path / 'x.csv'}')")
    assert info.value.code == "E511"


def test_sql_errors_are_one_line_e511(store_path):
    command = [sys.executable, "-m", "invarlock", "audit", "--events", str(store_path), "--sql"]
    done = subprocess.run([*command, "SELECT nope FROM runs"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ERROR [INVARLOCK:E511]") and done.stderr.count("\n") == 1
    refused = subprocess.run([*command, "DROP TABLE events"], capture_output=True, text=True, check=False)
    assert refused.returncode == 2 and refused.stderr.startswith("ERROR [INVARLOCK:E510]")


def test_cli_prints_an_aligned_table_and_json(store_path):
    args = ["audit", "--events", str(store_path), "--sql", MONTH_FAILS]
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert text.output.splitlines() == ["run_id", "------------", "run-fail-feb", "(1 row)"]
    as_json = CliRunner().invoke(cli, [*args, "--json"])
    assert json.loads(as_json.output) == [{"run_id": "run-fail-feb"}]


def test_missing_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(UsageError) as missing:
        DuckDBAuditQueries(tmp_path / "nope.duckdb")
    assert missing.value.code == "E506"
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    with pytest.raises(UsageError) as info:
        _query(foreign, "SELECT 1 AS one")
    assert info.value.code == "E501"


def test_runs_command_shows_start_and_finish_in_text_and_json(store_path):
    text = CliRunner().invoke(cli, ["runs", "--events", str(store_path)])
    line = next(x for x in text.output.splitlines() if x.startswith("run-pass-jan"))
    assert "2026-01-01T00:00:00" in line and "completed" in line and "PASS" in line
    [started, finished] = [w for w in line.split() if w.startswith("2026-")]
    assert finished > started
    killed = next(x for x in text.output.splitlines() if x.startswith("run-killed"))
    assert "incomplete" in killed
    rows = json.loads(CliRunner().invoke(cli, ["runs", "--events", str(store_path), "--json"]).output)
    done = next(r for r in rows if r["run_id"] == "run-pass-jan")
    assert done["finished_at"] == finished
