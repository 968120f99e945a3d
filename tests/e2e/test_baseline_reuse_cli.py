"""Baseline score reuse with the real CLI, the demo model and one real DuckDB file: certify subject A, then
subject B against the same baseline (the baseline's scores and variance taps are copied, not computed), then B
with --no-reuse, and (only for the key test) B with another seq_len.

Asserted from the events, never from timing: the second run's baseline windows_scored events are byte copies
of the first run's and its variance record's baseline taps are the first run's; its evidence and guard
records equal the --no-reuse run's byte for byte; verify --events passes and fails with exit 3 once the source
stream is forged (re-linked, so the source chain is itself valid); a changed seq_len copies nothing. The other
changes of the scoring key (environment, tool version, subject loading) are covered on the fake models
(tests/unit/test_baseline_reuse.py): four real runs are this module's CI budget."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain import events as ev
from invarlock.domain.guards.results import VarianceResult
from invarlock.domain.model import ActivationStats

from tests.integration.event_forgery import Records, decoded, relink, rewrite, with_event

from .conftest import DEMO, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]

DATASET = {"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 3, "final_n": 4, "calibration_n": 8, "seed": 7}
# the variance guard on every FFN output (the attn-only edits change no FFN weight) over the 8 calibration
# windows (the tiers' minimum)
GUARDS = {"order": ["invariants", "variance", "invariants"], "variance": {"targets": "all_ffn"}}


@dataclass(frozen=True)
class ReuseRuns:
    root: Path
    db: Path
    certs: dict[str, Path]

    def run_id(self, name: str) -> str:
        return str(read_cert(self.certs[name])["run_id"])

    def events(self, name: str) -> list[ev.RecordedEvent]:
        return DuckDBEventStore(self.db, read_only=True).read(self.run_id(name))


def _certify(root: Path, name: str, edit: dict[str, Any], *extra: str, seq_len: int = 64) -> Path:
    preset = write_config(
        root / f"{name}.yaml",
        dataset={**DATASET, "seq_len": seq_len},
        guards=GUARDS,
        eval={"secondary": {"measure": False}},
    )
    edit_config = write_config(root / f"{name}-edit.yaml", edit=edit)
    out = root / name
    args = ("--preset", preset, "--edit-config", edit_config, "--cert-out", out, "--events", "ev.duckdb", "--quiet")
    result = invarlock("certify", "--baseline", DEMO, "--subject", DEMO, *args, *extra, cwd=root)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    return out / "evaluation.cert.json"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> ReuseRuns:
    root = tmp_path_factory.mktemp("reuse")
    int8_attn = {"name": "quant_rtn", "plan": {"bits": 8, "scope": "attn"}}
    int8_grouped = {"name": "quant_rtn", "plan": {"bits": 8, "scope": "attn", "group_size": 64}}
    certs = {
        "a": _certify(root, "a", int8_attn),
        "b": _certify(root, "b", int8_grouped),
        "b_fresh": _certify(root, "b_fresh", int8_grouped, "--no-reuse"),
    }
    return ReuseRuns(root, root / "ev.duckdb", certs)


def _baseline_scores(records: list[ev.RecordedEvent]) -> list[ev.RecordedEvent]:
    return [r for r in records if r.type == "windows_scored" and decoded(r).role == "baseline"]


def test_the_second_subject_copies_the_baseline_scores_of_the_first_run(runs: ReuseRuns) -> None:
    records = runs.events("b")
    links = [decoded(r) for r in records if r.type == "baseline_reused"]
    assert [(e.arm, e.source_run_id) for e in links] == [("preview", runs.run_id("a")), ("final", runs.run_id("a"))]
    source = {r.seq: r for r in runs.events("a")}
    named = [source[ref.seq] for e in links for ref in e.source_events]
    assert [r.hash for r in named] == [ref.hash for e in links for ref in e.source_events]
    assert [r.payload for r in _baseline_scores(records)] == [r.payload for r in named]
    assert "baseline_reused" not in {r.type for r in runs.events("b_fresh")}


def test_a_reused_certificate_has_the_evidence_of_a_fresh_one_byte_for_byte(runs: ReuseRuns) -> None:
    reused, fresh = read_cert(runs.certs["b"]), read_cert(runs.certs["b_fresh"])
    assert json.dumps(reused["evidence"]) == json.dumps(fresh["evidence"])
    assert reused["primary_metric"] == fresh["primary_metric"]
    assert [s["source_run_id"] for s in reused["provenance"]["baseline_scoring"]] == [runs.run_id("a")] * 2
    assert "baseline_scoring" not in fresh["provenance"]
    assert _baseline_scores(runs.events("b_fresh"))


def test_verify_events_checks_the_link_to_the_source_run(runs: ReuseRuns) -> None:
    result = invarlock("verify", runs.certs["b"], "--events", runs.db, "--json", cwd=runs.root)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert result.code == 0, result.stdout
    assert checks["baseline_source"]["ok"] and checks["events"]["ok"]
    assert checks["variance_baseline_source"]["ok"], checks["variance_baseline_source"]["detail"]


def _variance(records: list[ev.RecordedEvent]) -> tuple[bytes, list[ActivationStats]]:
    """The variance record's result (`seconds`, the clock's, left out) and its baseline taps."""
    [event] = [e for r in records if isinstance(e := decoded(r), ev.GuardEvaluated) and e.guard == "variance"]
    assert isinstance(event.result, VarianceResult) and event.result.measurements.taps, "no variance taps"
    return msgspec.json.encode(event.result), [t.baseline for t in event.result.measurements.taps]


def test_the_second_subject_reads_the_baseline_variance_taps_of_the_first_run(runs: ReuseRuns) -> None:
    records = runs.events("b")
    [link] = [e for r in records if isinstance(e := decoded(r), ev.VarianceBaselineReused)]
    assert link.source_run_id == runs.run_id("a")
    assert not [r for r in runs.events("b_fresh") if r.type == "variance_baseline_reused"]
    assert _variance(records) == _variance(runs.events("b_fresh"))
    assert _variance(records)[1] == _variance(runs.events("a"))[1]
    reused, fresh = read_cert(runs.certs["b"]), read_cert(runs.certs["b_fresh"])
    assert reused["provenance"]["variance_baseline"]["source_run_id"] == runs.run_id("a")
    assert "variance_baseline" not in fresh["provenance"]
    assert _untimed(reused["guards"]) == _untimed(fresh["guards"])


def _untimed(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _untimed(v) for k, v in data.items() if k != "seconds"}
    return [_untimed(v) for v in data] if isinstance(data, list) else data


def test_another_seq_len_reuses_neither_the_baseline_scores_nor_its_taps(runs: ReuseRuns) -> None:
    grouped = {"name": "quant_rtn", "plan": {"bits": 8, "scope": "attn", "group_size": 64}}
    cert = _certify(runs.root, "c", grouped, seq_len=32)
    records = DuckDBEventStore(runs.db, read_only=True).read(str(read_cert(cert)["run_id"]))
    types = {r.type for r in records}
    assert not types & {"baseline_reused", "baseline_rescored", "variance_baseline_reused"}, types
    assert {decoded(r).arm for r in _baseline_scores(records)} == {"preview", "final"}
    assert _variance(records)[1] != _variance(runs.events("b"))[1]


def _forge_first_baseline_score(records: Records) -> Records:
    at = next(i for i, r in enumerate(records) if r.type == "windows_scored" and decoded(r).role == "baseline")
    scored = decoded(records[at])
    assert isinstance(scored, ev.WindowsScored)
    row = msgspec.structs.replace(scored.rows[0], nll_sum=scored.rows[0].nll_sum * 0.99)
    records[at] = with_event(records[at], msgspec.structs.replace(scored, rows=[row, *scored.rows[1:]]))
    return relink(records)


def test_a_forged_source_stream_fails_verify_with_exit_3(runs: ReuseRuns) -> None:
    forged = runs.root / "forged.duckdb"
    shutil.copy(runs.db, forged)
    rewrite(forged, runs.run_id("a"), _forge_first_baseline_score, link=False)
    result = invarlock("verify", runs.certs["b"], "--events", forged, "--json", cwd=runs.root)
    failed = [c for c in json.loads(result.stdout)["checks"] if not c["ok"]]
    assert result.code == 3
    # the scores' link names the copied event; every link to the source also finds it fails replay's check
    assert [c["name"] for c in failed] == ["baseline_source", "variance_baseline_source"], failed
    assert "no longer has hash" in failed[0]["detail"]
