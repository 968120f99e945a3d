"""`invarlock audit --sql` within its limits: the read-only check's scan of comments stays linear, `--timeout`
bounds the query and the preparing of its rows, a bad timeout or undecodable query is one line, Ctrl-C is exit 130
(on the store of test_audit_sql.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
from invarlock.adapters.duckdb_audit import first_word

from tests.integration.test_audit_sql import audit, store_path

__all__ = ["store_path"]  # the module fixture, shared


def test_first_word_skips_blanks_parentheses_and_comments():
    assert first_word("  ( -- note\n /* c1 */ /**/ select 1") == "SELECT"
    assert first_word("/* SELECT */ DELETE FROM events") == "DELETE"
    assert first_word("-- only a comment") == ""
    assert first_word("/* unterminated SELECT") == ""


def _best_of(runs: int, fn, arg) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return min(times)


def _per_character_loop(text: str) -> int:
    """A reference that is linear by construction: one Python step per character."""
    return sum(1 for ch in text if ch)


@pytest.mark.parametrize("unit", ["/* ", "/**/", "-- x\n", " ( ", "/"])
def test_first_word_scan_is_linear_in_the_query_length(unit):
    """The scan of a 240 KB query costs at most a few one-step-per-character loops over the same text, measured
    in the same run (so machine load cancels out). The old regex took 14 s at 120 KB: thousands of such loops."""
    query = unit * (240_000 // len(unit))
    ratio = _best_of(5, first_word, query) / _best_of(5, _per_character_loop, query)
    assert ratio < 20.0, f"{unit!r}: the scan took {ratio:.1f}x a per-character loop over the same 240 KB"


def test_a_long_query_of_unterminated_comments_is_one_short_error_line(store_path):
    code, out, err = audit(store_path, "SELECT 1 " + "/* " * 40_000)
    assert code == 2 and out == "" and err.startswith("ERROR [INVARLOCK:E511]") and err.count("\n") == 1
    assert len(err) < 500


@pytest.mark.parametrize("timeout", ["0.5", "0.000001"])  # the second elapses before the query even starts
def test_a_query_past_its_timeout_is_interrupted_with_one_line(store_path, timeout):
    sql = "SELECT sum(range) AS s FROM range(100000000000000::BIGINT)"
    code, out, err = audit(store_path, sql, "--timeout", timeout)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"ERROR [INVARLOCK:E512] audit stopped after the {float(timeout):g} s timeout (in the query)")


@pytest.mark.parametrize("as_json", [False, True])
def test_the_timeout_also_bounds_preparing_a_huge_result(store_path, as_json):
    """Three million rows come back from DuckDB in about a second, then took 30 s to render past a 1 s timeout."""
    sql = "SELECT range AS i, 'row ' || range AS label FROM range(3000000)"
    code, out, err = audit(store_path, sql, "--timeout", "1", *(["--json"] if as_json else []))
    assert code == 2 and err.count("\n") == 1
    assert (json.loads(out)["error"]["code"] == "E512") if as_json else out == ""  # --json: the error envelope only
    assert err.startswith("ERROR [INVARLOCK:E512] audit stopped after the 1 s timeout (")
    assert "3000000 rows" in err or "(in the query)" in err


def test_a_result_within_the_timeout_is_rendered_whole():
    from invarlock.cli.tables import to_json, to_table
    from invarlock.domain.errors import UsageError
    from invarlock.ports.audit import Deadline, QueryResult

    result = QueryResult(columns=("i",), rows=tuple((i,) for i in range(10_000)))
    assert (
        to_table(result, Deadline(60)).endswith("(10000 rows)")
        and len(json.loads(to_json(result, Deadline(60)))) == 10_000
    )
    spent = Deadline(1e-9)
    for render in (to_table, to_json):
        with pytest.raises(UsageError) as err:
            render(result, spent)
        assert err.value.code == "E512" and err.value.message.endswith("(while rendering its 10000 rows)")


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "abc"])
def test_a_timeout_that_is_not_a_positive_number_is_a_usage_error(store_path, bad):
    code, _, err = audit(store_path, "SELECT 1 AS one", "--timeout", bad)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E200]")


def test_a_query_with_undecodable_bytes_is_refused_in_one_line(store_path):
    command = [sys.executable, "-m", "invarlock", "audit", "--events", str(store_path), "--sql"]
    done = subprocess.run([*command, b"SELECT '\xff'"], capture_output=True, check=False)
    # refused with every other non-UTF-8 argument, before the command runs (cli/main.py)
    assert done.returncode == 2 and done.stderr.startswith(b"ERROR [INVARLOCK:E200]") and b"UTF-8" in done.stderr
    assert done.stderr.count(b"\n") == 1


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_ctrl_c_exits_130_with_one_line(store_path, json_flag):
    """Ctrl-C is exit 130 and one line (documented): click turned it into exit 1 after a blank line, and DuckDB's
    interrupted query was an E999 (stop 38's CLI hunt)."""
    sql = "SELECT sum(range) AS s FROM range(100000000000000::BIGINT)"
    process = subprocess.Popen(
        [sys.executable, "-m", "invarlock", "audit", "--sql", sql, "--timeout", "600", *json_flag,
         "--events", str(store_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(3.0)  # past the imports, inside the query
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.count("\n") == 1, (process.returncode, err)
    assert err.startswith("ERROR [INVARLOCK:E000] interrupted — ")
    if json_flag:
        assert json.loads(out)["exit_code"] == 130


def test_a_json_value_nested_too_deep_to_decode_is_shown_as_its_text(store_path):
    # It ended in E999 (RecursionError) in the table and in --json alike.
    deep = "[" * 1200 + "]" * 1200
    sql = f"SELECT '{deep}'::JSON AS j, '[1,[2]]'::JSON AS k"
    code, out, err = audit(store_path, sql, "--json")
    assert code == 0 and err == "" and json.loads(out) == [{"j": deep, "k": [1, [2]]}]
    code, out, err = audit(store_path, sql)
    assert code == 0 and err == "" and deep in out


def test_json_refuses_columns_that_share_a_name_which_the_table_shows(store_path):
    # One JSON object holds one value per name: the first seq was dropped without a word.
    sql = "SELECT 1 AS seq, 2 AS seq, 3 AS other"
    code, out, err = audit(store_path, sql, "--json")
    error = json.loads(out)["error"]
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E511]") and err.count("\n") == 1
    assert error["message"] == "--json writes one value per column name and the query returns 2 columns named seq"
    assert "AS seq_2" in error["hint"]
    code, out, err = audit(store_path, sql)
    assert code == 0 and out.splitlines()[0].split() == ["seq", "seq", "other"]


def test_a_list_nested_too_deep_for_python_is_shown_as_text_below_64_levels(store_path):
    # A LIST (or STRUCT) 500 deep ran out of Python's recursion in rendering: E999 (the reports hunt).
    sql = f"SELECT {'[' * 500}1{']' * 500} AS l"
    for extra in (("--json",), ()):
        code, _, err = audit(store_path, sql, *extra)
        assert code == 0 and err == "", err
    value = json.loads(audit(store_path, sql, "--json")[1])[0]["l"]
    for _ in range(65):
        [value] = value
    assert value == "[" * 435 + "1" + "]" * 435


def test_a_result_past_the_row_cap_is_one_line_and_duckdb_has_a_memory_limit(store_path, monkeypatch):
    """The DoS hunt: `SELECT * FROM range(100000000)` took 7.5 GB of Python rows before its timeout stopped it,
    and `list(range)` over a billion rows 8.9 GB inside DuckDB, which had no memory limit."""
    from invarlock.adapters import duckdb_audit

    monkeypatch.setattr(duckdb_audit, "MAX_AUDIT_ROWS", 25_000)
    code, out, err = audit(store_path, "SELECT range AS i FROM range(25001)")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("ERROR [INVARLOCK:E511] audit SQL failed: the query returns more than 25,000 rows")
    code, out, _ = audit(store_path, "SELECT count(*) AS n FROM range(25000)")
    assert code == 0 and "25000" in out
    code, out, err = audit(store_path, "SELECT current_setting('memory_limit') AS m", "--json")
    assert code == 0 and json.loads(out)[0]["m"] in ("1.8 GiB", "2.0 GB", "1.9 GiB"), out
