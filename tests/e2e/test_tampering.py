"""A certificate or event log altered after issue: `invarlock verify` exits 3 (2 for non-JSON) naming the check.

A forger of an unsigned certificate can recompute its sha256 digest, so most cases here re-seal the altered
certificate: the recomputation from evidence must still catch them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest
from invarlock.domain import certificate as c

from .conftest import CompletedRun, Result, assert_one_line_error
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _tampered(run: CompletedRun, name: str, change: Callable[[dict[str, Any]], None], *, reseal: bool) -> Path:
    data = json.loads(run.cert.read_bytes())
    change(data)
    out = run.root / f"tampered-{name}.json"
    if reseal:
        out.write_bytes(c.to_bytes(c.seal(msgspec.convert(data, c.Certificate))))
    else:
        out.write_text(json.dumps(data), encoding="utf-8")
    return out


def _failed_checks(result: Result) -> list[str]:
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["exit_code"] == result.code
    return [check["name"] for check in report["checks"] if not check["ok"]]


def _nudge(value: float) -> float:
    return value * (1 + 1e-9)


def _nudge_evidence(data: dict[str, Any]) -> None:
    nll = data["evidence"]["final"]["subject_nll"]
    nll[3] = _nudge(nll[3])


CHANGES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "evidence": (
        lambda d: d["evidence"]["final"]["subject_nll"].__setitem__(
            3, _nudge(d["evidence"]["final"]["subject_nll"][3])
        ),
        "primary_metric",
    ),
    "ratio": (lambda d: d["primary_metric"].__setitem__("ratio_vs_baseline", 0.999), "primary_metric"),
    "ci": (lambda d: d["primary_metric"].__setitem__("display_ci", [0.99, 1.001]), "primary_metric"),
    "flag": (lambda d: d["validation"].__setitem__("pairing_ok", False), "validation"),
    "policy": (lambda d: d["policy"]["resolved"]["gates"].__setitem__("ratio_limit", 1.5), "policy_digest"),
    "verdict": (lambda d: d["verdict"].__setitem__("status", "FAIL"), "verdict"),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_resealed_alteration_is_caught_by_recomputation(int8_run: CompletedRun, name: str) -> None:
    change, check = CHANGES[name]
    tampered = _tampered(int8_run, name, change, reseal=True)
    result = invarlock("verify", tampered, "--json", cwd=int8_run.root)
    assert result.code == 3, result.stdout + result.stderr
    failed = _failed_checks(result)
    assert check in failed and "digest" not in failed
    human = invarlock("verify", tampered, cwd=int8_run.root)
    assert human.code == 3 and f"FAIL  {check}" in human.stdout, human.stdout


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_an_alteration_without_resealing_breaks_the_digest(int8_run: CompletedRun, name: str) -> None:
    change, check = CHANGES[name]
    result = invarlock("verify", _tampered(int8_run, name, change, reseal=False), "--json", cwd=int8_run.root)
    assert result.code == 3 and {"digest", check} <= set(_failed_checks(result)), result.stdout


def test_one_changed_byte_of_the_file_breaks_the_digest(int8_run: CompletedRun) -> None:
    raw = bytearray(int8_run.cert.read_bytes())
    at = raw.index(b'"weights_sha256":"') + len(b'"weights_sha256":"')
    raw[at] = ord("0") if raw[at] != ord("0") else ord("1")
    tampered = int8_run.root / "tampered-byte.json"
    tampered.write_bytes(bytes(raw))
    result = invarlock("verify", tampered, "--json", cwd=int8_run.root)
    assert result.code == 3 and _failed_checks(result) == ["digest"]


def test_a_file_that_is_not_json_exits_2_naming_the_schema_check(int8_run: CompletedRun) -> None:
    raw = int8_run.cert.read_bytes()
    tampered = int8_run.root / "tampered-json.json"
    tampered.write_bytes(raw[: len(raw) // 2])
    line = assert_one_line_error(invarlock("verify", tampered, cwd=int8_run.root), "E601", 2)
    assert "schema check failed" in line and "not valid JSON" in line


def test_an_altered_event_payload_in_duckdb_fails_the_events_check(int8_run: CompletedRun) -> None:
    events = int8_run.root / "tampered-events.duckdb"
    shutil.copyfile(int8_run.events, events)
    with duckdb.connect(str(events)) as con:
        seq, payload = con.execute(
            "SELECT seq, payload FROM events WHERE type = 'windows_scored' ORDER BY seq LIMIT 1"
        ).fetchone()
        data = json.loads(payload)
        data["rows"][0]["nll_sum"] = _nudge(data["rows"][0]["nll_sum"])
        con.execute("UPDATE events SET payload = ? WHERE seq = ?", [json.dumps(data), seq])
    result = invarlock("verify", int8_run.cert, "--events", events, "--json", cwd=int8_run.root)
    assert result.code == 3 and _failed_checks(result) == ["events"], result.stdout
    human = invarlock("verify", int8_run.cert, "--events", events, cwd=int8_run.root).stdout
    assert f"event chain broken: run {int8_run.run_id} event seq {seq} (windows_scored)" in human
    untouched = invarlock("verify", int8_run.cert, "--events", int8_run.events, "--json", cwd=int8_run.root)
    assert untouched.code == 0, untouched.stdout
