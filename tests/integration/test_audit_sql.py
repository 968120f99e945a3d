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
from invarlock.application.certification.certify import CertifyRequest, certify_edit
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


def query(path: Path, sql: str) -> list[dict[str, object]]:
    return DuckDBAuditQueries(path, timeout_s=30).query(sql).as_dicts()


def test_every_fail_in_a_month_is_listed(store_path):
    assert query(store_path, MONTH_FAILS) == [{"run_id": "run-fail-feb"}]


def test_every_certificate_of_one_baseline_weights_digest(store_path):
    digest = query(store_path, "SELECT weights_sha256 FROM model_fingerprinted WHERE ref = 'base' LIMIT 1")[0]
    rows = query(
        store_path,
        "SELECT c.run_id, c.certificate_digest FROM certificate_issued c JOIN model_fingerprinted m "
        f"USING (run_id) WHERE m.role = 'baseline' AND m.weights_sha256 = '{digest['weights_sha256']}' "
        "ORDER BY c.run_id",
    )
    assert [r["run_id"] for r in rows] == ["run-fail-feb", "run-fail-mar", "run-pass-jan"]
    assert all(len(str(r["certificate_digest"])) == 64 for r in rows)


def test_runs_that_never_completed_are_failed_or_incomplete(store_path):
    rows = query(store_path, "SELECT run_id, status, error_code FROM runs WHERE status IN ('failed', 'incomplete')")
    assert sorted((r["run_id"], r["status"], r["error_code"]) for r in rows) == [
        ("run-error-feb", "failed", "E002"),
        ("run-killed", "incomplete", None),
    ]


def test_runs_view_has_one_row_per_run_with_models_and_times(store_path):
    rows = {r["run_id"]: r for r in query(store_path, "SELECT * FROM runs")}
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
    rows = query(store_path, "SELECT run_id FROM runs WHERE duration_s IS NOT NULL ORDER BY duration_s DESC")
    assert len(rows) == 4


def test_per_window_nll_matches_the_stored_events(store_path):
    rows = query(
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
    counts = query(
        store_path,
        "SELECT type, count(*) AS n FROM events WHERE type NOT IN ('windows_scored', 'windows_compared') GROUP BY type",
    )
    assert len(counts) >= 8
    for row in counts:
        assert query(store_path, f"SELECT count(*) AS n FROM {row['type']}") == [{"n": row["n"]}]


def test_views_work_on_an_empty_store(tmp_path):
    path = tmp_path / "empty.duckdb"
    DuckDBEventStore(path).append("r", 0, [])
    assert query(path, "SELECT * FROM runs") == []
    assert query(path, "SELECT count(*) AS n FROM windows_scored") == [{"n": 0}]


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
        ("WITH x AS (SELECT 1) INSERT INTO events SELECT * FROM events", "INSERT statements are not allowed"),
        (";SELECT 1", "does not begin with a keyword: begin it with SELECT or WITH"),  # read "SELECT ... not allowed"
        ("SELECT * FROM (PIVOT events ON type USING count(*))", "several statements (a PIVOT without IN)"),
        ("PIVOT events ON type USING count(*)", "inside a SELECT, SELECT * FROM (PIVOT"),
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
        query(store_path, f"SELECT * FROM read_csv('{tmp_path / 'x.csv'}')")
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
        DuckDBAuditQueries(tmp_path / "nope.duckdb", timeout_s=30)
    assert missing.value.code == "E506"
    foreign = tmp_path / "foreign.duckdb"
    duckdb.connect(str(foreign)).close()
    with pytest.raises(UsageError) as info:
        query(foreign, "SELECT 1 AS one")
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


def audit(store_path: Path, sql: str, *extra: str) -> tuple[int, str, str]:
    from tests.fakes.cli import run_cli

    return run_cli("audit", "--events", store_path, "--sql", sql, *extra)


def _strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict_json_with_non_finite_floats_as_strings(store_path):
    sql = (
        "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, ['-inf'::DOUBLE, 1.5] AS c, {'x': 'nan'::DOUBLE} AS d, "
        "1.25::DECIMAL(4, 2) AS e"
    )
    code, out, _ = audit(store_path, sql, "--json")
    assert code == 0
    assert _strict(out) == [{"a": "NaN", "b": "Infinity", "c": ["-Infinity", 1.5], "d": {"x": "NaN"}, "e": 1.25}]


def test_lists_of_timestamps_serialise_in_json_and_in_the_table(store_path):
    sql = "SELECT run_id, list(recorded_at ORDER BY seq) AS times FROM events WHERE run_id = 'run-pass-jan' GROUP BY 1"
    code, out, _ = audit(store_path, sql, "--json")
    assert code == 0
    [row] = _strict(out)
    assert row["run_id"] == "run-pass-jan" and row["times"][0].startswith("2026-01-01T")
    assert row["times"] == sorted(row["times"]) and len(row["times"]) > 5
    code, out, _ = audit(store_path, sql)
    assert code == 0 and json.loads(out.splitlines()[2].split(None, 1)[1]) == row["times"]


def test_replay_to_a_directory_is_one_line_e608_and_to_a_file_writes_it(store_path, tmp_path):
    from tests.fakes.cli import run_cli

    code, out, err = run_cli("replay", "run-pass-jan", "--events", store_path, "--out", tmp_path)
    assert code == 2 and out == "" and err.startswith("ERROR [INVARLOCK:E608] cannot write the certificate to")
    assert list(tmp_path.iterdir()) == []
    code, out, _ = run_cli("replay", "run-pass-jan", "--events", store_path, "--out", tmp_path / "c.json")
    assert code == 0 and (tmp_path / "c.json").read_bytes().startswith(b"{")


GUARD_COLUMNS = "guard, phase, mode, verdict, seconds, checks, measurements, outcome"


def test_the_guard_evaluated_view_reads_v2_events_into_the_v1_columns(store_path):
    rows = query(store_path, f"SELECT version, {GUARD_COLUMNS} FROM guard_evaluated WHERE run_id = 'run-pass-jan'")
    assert {r["version"] for r in rows} == {2}
    assert [(r["guard"], r["phase"]) for r in rows] == [
        ("invariants", "pre"),
        ("spectral", "compare"),
        ("rmt", "compare"),
        ("variance", "compare"),
        ("invariants", "post"),
    ]
    assert all(r["verdict"] == "pass" and r["mode"] in ("gate", "monitor") for r in rows)
    spectral = next(r for r in rows if r["guard"] == "spectral")
    assert spectral["outcome"]["verdict"] == "pass" and spectral["checks"] == []
    assert spectral["measurements"]["matrices"]
    pre = rows[0]
    assert pre["checks"] and pre["measurements"] == {} and pre["outcome"] == {}


def _documented_queries() -> list[str]:
    """The SQL of every `invarlock audit --sql "..."` example in docs/audit.md."""
    import re
    import shlex

    text = (Path(__file__).parents[2] / "docs" / "audit.md").read_text(encoding="utf-8")
    commands = [block.replace("\\\n", " ") for block in re.findall(r"```bash\n(.*?)```", text, re.S)]
    found = []
    for command in commands:
        args = shlex.split(command, comments=True)
        found += [
            args[i + 1] for i, arg in enumerate(args[:-1]) if args[:2] == ["invarlock", "audit"] and arg == "--sql"
        ]
    return found


def test_every_query_the_audit_guide_shows_runs_on_a_real_store(store_path):
    documented = _documented_queries()
    assert len(documented) >= 7, "the guide's examples were not found"
    for sql in documented:
        query(store_path, sql)  # an example that no longer runs is E511


def test_a_damaged_store_is_e501_as_runs_says_not_a_query_to_fix(tmp_path):
    """A store cut in half is E501 (here already as it is opened)."""
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "invarlock.duckdb"
    damaged = tmp_path / "half.duckdb"
    data = fixture.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(cli, ["audit", "--events", str(damaged), "--sql", "SELECT * FROM runs"])
    assert isinstance(result.exception, UsageError) and result.exception.code == "E501", result.exception


def test_an_io_error_of_the_query_is_the_stores_e501_and_a_bad_query_e511(tmp_path):
    """A store whose header reads but whose pages do not failed the query with "E511 IO Error … — fix the query"
    (a bad-input sweep's half-truncated 3 MB store)."""
    from invarlock.adapters.duckdb_audit import query_error

    path = tmp_path / "ev.duckdb"
    damaged = query_error(path, duckdb.IOException("IO Error: Could not read enough bytes from file"))
    assert damaged.code == "E501" and str(path) in damaged.message and "fix the query" not in damaged.hint
    assert query_error(path, duckdb.ParserException("Parser Error: syntax error at or near")).code == "E511"
