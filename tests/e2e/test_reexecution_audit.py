"""The re-execution audit through the real CLI on the demo model: `verify CERT --baseline B --subject S`.

One `invarlock run` (int8 edit, local text corpus, exported subject) serves every test. A genuine certificate
passes; forged evidence that plain verify accepts (a resealed certificate, and the issuer's own event stream
rewritten, re-linked and replayed) fails the audit with exit 3 naming the windows; so do another subject
checkpoint (the int4 edit, by its weight digest) and a dataset file changed after issuing (by window digests).
Every command runs in-process through the console entry point (no torch import per command).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import arm_evidence, build_certificate
from invarlock.domain.metrics import PPL_CAUSAL
from invarlock.domain.run import replay

from tests.integration.event_forgery import Records, decoded, relink, rewrite, with_event

from .conftest import DEMO, Result, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]

FACTOR = 1.001
ARTICLES = 3


@dataclass(frozen=True)
class Issued:
    root: Path
    cert: Path
    events: Path
    subject: Path
    run_id: str


def _write_corpus(path: Path) -> None:
    from invarlock.adapters.corpus_demo import open_demo_wikipedia

    docs = list(open_demo_wikipedia("validation").texts())[:ARTICLES]
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    """`invarlock run` of the int8 edit on a local text file, with the certified subject exported (the guards
    repair nothing on int8, so the export is the fingerprinted subject)."""
    root = tmp_path_factory.mktemp("reexec")
    _write_corpus(root / "corpus.txt")
    config = write_config(
        root / "int8.yaml",
        dataset={
            "provider": "text",
            "path": "corpus.txt",
            "seq_len": 64,
            "preview_n": 4,
            "final_n": 8,
            "calibration_n": 8,
            "seed": 7,
        },
        edit={"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}},
    )  # fmt: skip  (the default guard chain: invariants, spectral, rmt, variance, invariants)
    result = invarlock(
        "run", "-c", config, "--cert-out", "out", "--events", "ev.duckdb", "--export", "subject", "--quiet", cwd=root
    )
    assert result.code == 0, result.stdout + result.stderr
    cert = root / "out" / "evaluation.cert.json"
    data = json.loads(cert.read_bytes())
    assert data["guards"]["variance"]["applied"] == {} and data["guard_overhead"] is None, "no repair to undo"
    run_id = data["run_id"]
    return Issued(root, cert, root / "ev.duckdb", root / "subject", run_id)


def _audit(run: Issued, cert: Path, *extra: str | Path, subject: Path | None = None, cwd: Path | None = None) -> Result:
    models = ("--baseline", DEMO, "--subject", subject or run.subject)
    return invarlock("verify", cert, *models, *extra, "--json", cwd=cwd or run.root)


def _checks(result: Result) -> dict[str, dict[str, Any]]:
    envelope = json.loads(result.stdout)
    assert envelope["exit_code"] == result.code
    return {check["name"]: check for check in envelope["checks"]}


def _failed(result: Result) -> dict[str, str]:
    return {name: check["detail"] for name, check in _checks(result).items() if not check["ok"]}


def _scaled(records: Records) -> Iterator[tuple[ev.RecordedEvent, ev.Event]]:
    """The run's events with every subject NLL times FACTOR and the preview assessment recomputed."""
    before: list[ev.Event] = []
    for rec in records:
        event = decoded(rec)
        if isinstance(event, ev.WindowsScored) and event.role == "subject":
            rows = [msgspec.structs.replace(r, nll_sum=r.nll_sum * FACTOR) for r in event.rows]
            event = msgspec.structs.replace(event, rows=rows)
        if isinstance(event, ev.PreviewAssessed):
            preview = arm_evidence(replay(before), "preview")
            assert preview is not None
            event = msgspec.structs.replace(event, ratio=PPL_CAUSAL.arm_statistic(preview).ratio)
        before.append(event)
        yield rec, event


def _forged_stream(records: Records) -> Records:
    """The issuer's rewrite: scaled NLLs, the chain re-linked, the issued digest set to the rebuilt one."""
    out: Records = []
    for rec, event in _scaled(records):
        if isinstance(event, ev.CertificateIssued):
            linked = relink(out)
            log = c.EventLogRef(run_id=rec.run_id, head_hash=linked[-1].hash, event_count=len(linked))
            state = replay(decoded(r) for r in linked)
            rebuilt = build_certificate(state, issued_at=event.issued_at, event_log=log)
            event = msgspec.structs.replace(event, certificate_digest=rebuilt.digest)
        out.append(with_event(rec, event))
    return out


def test_a_genuine_certificate_passes_the_audit_and_is_recorded_as_its_own_stream(issued: Issued) -> None:
    events = issued.root / "audited.duckdb"
    shutil.copyfile(issued.events, events)
    result = _audit(issued, issued.cert, "--sample-seed", "1", "--events", events)  # default: 16 per arm
    assert result.code == 0, result.stdout + result.stderr
    checks = _checks(result)
    assert "bit for bit" in checks["reexec:build"]["detail"]
    for name in ("reexec:baseline_model", "reexec:subject_model", "reexec:windows", "reexec:scores:preview",
                 "reexec:scores:final", "reexec:guard:spectral", "reexec:guard:rmt",
                 "reexec:guard:variance"):  # fmt: skip
        assert checks[name]["ok"], checks[name]
    assert "all 20 planned windows rebuilt" in checks["reexec:windows"]["detail"]  # calibration arm included
    assert "4 of 4 windows re-scored" in checks["reexec:scores:preview"]["detail"]
    assert "211 matrices re-measured" in checks["reexec:guard:rmt"]["detail"]  # every row, whatever the sample
    assert "30 taps re-measured" in checks["reexec:guard:variance"]["detail"]  # the 30 FFN outputs int8 changed
    # 16 per arm holds all 4 + 8: it said "K = 4 windows per arm ... f = 1%: 3.9%" for a whole check
    assert checks["reexec:sample"]["detail"].endswith("re-scored (4 preview, 8 final): any altered window is found")
    sql = (
        "SELECT s.certificate_run_id, s.sample_seed, s.exact, f.ok, f.windows_rechecked FROM reexecution_started s "
        f"JOIN reexecution_finished f ON f.run_id = s.run_id WHERE s.certificate_run_id = '{issued.run_id}'"
    )
    rows = json.loads(invarlock("audit", "--events", events, "--sql", sql, "--json", cwd=issued.root).stdout)
    assert [list(r.values()) for r in rows] == [[issued.run_id, 1, True, True, 12]]
    runs = invarlock("runs", "--events", events, "--json", cwd=issued.root)
    assert runs.code == 0 and [r["run_id"] for r in json.loads(runs.stdout)] == [issued.run_id], "an audit is no run"


def test_a_resealed_certificate_with_subject_nlls_times_1_001_passes_plain_verify_but_not_the_audit(
    issued: Issued,
) -> None:
    genuine = c.from_bytes(issued.cert.read_bytes())
    events = [event for _, event in _scaled(DuckDBEventStore(issued.events, read_only=True).read(issued.run_id))]
    state = replay(e for e in events[: next(i for i, e in enumerate(events) if isinstance(e, ev.CertificateIssued))])
    forged = build_certificate(state, issued_at=genuine.issued_at, event_log=genuine.provenance.event_log)
    assert forged.primary_metric.ratio_vs_baseline > genuine.primary_metric.ratio_vs_baseline
    path = issued.root / "resealed.json"
    path.write_bytes(c.to_bytes(forged))
    plain = invarlock("verify", path, "--json", cwd=issued.root)
    assert plain.code == 0, plain.stdout
    result = _audit(issued, path, "--sample", "2")
    assert result.code == 3, result.stdout + result.stderr
    failed = _failed(result)
    assert set(failed) == {"reexec:scores:preview", "reexec:scores:final"}, failed
    assert "2 of 2 re-scored windows differ" in failed["reexec:scores:final"]
    assert "final window" in failed["reexec:scores:final"] and "subject NLL" in failed["reexec:scores:final"]


def test_the_issuer_rewriting_its_own_event_stream_passes_verify_and_events_but_not_the_audit(issued: Issued) -> None:
    db = issued.root / "forged.duckdb"
    shutil.copyfile(issued.events, db)
    rewrite(db, issued.run_id, _forged_stream, link=True)
    forged = issued.root / "forged.json"
    caught = invarlock("replay", issued.run_id, "--events", db, "-o", forged, cwd=issued.root)
    assert caught.code == 3 and "was rewritten after it was recorded" in caught.stderr, "the run index's head"
    head = DuckDBEventStore(db, read_only=True).read(issued.run_id)[-1].hash
    with duckdb.connect(str(db)) as con:  # the issuer owns the file: it rewrites the index row too
        con.execute("UPDATE run_index SET head_hash = ? WHERE run_id = ?", [head, issued.run_id])
    replayed = invarlock("replay", issued.run_id, "--events", db, "-o", forged, cwd=issued.root)
    assert replayed.code == 0, replayed.stderr
    genuine, fake = (json.loads(p.read_bytes())["primary_metric"] for p in (issued.cert, forged))
    assert fake["ratio_vs_baseline"] > genuine["ratio_vs_baseline"]
    for extra in ((), ("--events", db)):
        plain = invarlock("verify", forged, *extra, "--json", cwd=issued.root)
        assert plain.code == 0, plain.stdout
    result = _audit(issued, forged, "--sample", "2")
    assert result.code == 3, result.stdout + result.stderr
    assert {"reexec:scores:preview", "reexec:scores:final"} <= set(_failed(result))


def test_the_right_certificate_with_the_int4_subject_fails_on_the_weight_digest(issued: Issued) -> None:
    from invarlock.adapters.hf_loader import HFModelLoader
    from invarlock.adapters.quant_rtn import QuantRTNEdit
    from invarlock.domain.model import LoadOptions

    int4 = issued.root / "int4"
    model = HFModelLoader().load(DEMO, LoadOptions(device="cpu"))
    QuantRTNEdit().apply(model, {"bits": 4, "scope": "all"})
    model.export(int4)
    del model
    result = _audit(issued, issued.cert, subject=int4)
    assert result.code == 3, result.stdout + result.stderr
    failed = _failed(result)
    assert list(failed) == ["reexec:subject_model"], failed
    assert failed["reexec:subject_model"].startswith("subject: weights_sha256")


def test_a_dataset_file_changed_after_issuing_fails_on_the_window_digests(issued: Issued) -> None:
    elsewhere = issued.root / "changed"
    elsewhere.mkdir()
    text = (issued.root / "corpus.txt").read_text(encoding="utf-8")
    (elsewhere / "corpus.txt").write_text("An added opening sentence. " + text, encoding="utf-8")
    result = _audit(issued, issued.cert.resolve(), cwd=elsewhere)  # the recipe names corpus.txt, relative
    assert result.code == 3, result.stdout + result.stderr
    failed = _failed(result)
    assert list(failed) == ["reexec:windows"], failed
    assert "window digests differ from the rebuilt windows" in failed["reexec:windows"]


def test_without_a_subject_the_recorded_int8_edit_rebuilds_the_certified_subject(issued: Issued) -> None:
    result = invarlock("verify", issued.cert, "--baseline", DEMO, "--sample", "3", "--json", cwd=issued.root)
    assert result.code == 0, result.stdout + result.stderr
    checks = _checks(result)
    assert (
        checks["reexec:subject_model"]["ok"] and "3 of 8 windows re-scored" in checks["reexec:scores:final"]["detail"]
    )


def test_a_run_whose_variance_guard_repaired_the_subject_audits_bit_for_bit_with_sample_all(issued: Issued) -> None:
    """The scale_weight edit that VE repairs: the audit re-applies the recorded edit and the recorded repair,
    re-measures all 211 matrices and re-scores every window, repaired and bare."""
    root = issued.root / "repaired"
    root.mkdir()
    shutil.copyfile(issued.root / "corpus.txt", root / "corpus.txt")
    down = "model.layers.29.mlp.down_proj.weight"
    config = write_config(
        root / "down.yaml",
        dataset={"provider": "text", "path": "corpus.txt", "seq_len": 64, "preview_n": 4, "final_n": 8, "seed": 7},
        edit={"name": "scale_weight", "plan": {"weight": down, "factor": 0.9}},
    )
    run = invarlock("run", "-c", config, "--cert-out", "out", "--events", "ev.duckdb", "--quiet", cwd=root)
    assert run.code == 0, run.stdout + run.stderr
    cert = root / "out" / "evaluation.cert.json"
    assert list(json.loads(cert.read_bytes())["guards"]["variance"]["applied"]) == [down]
    result = invarlock("verify", cert, "--baseline", DEMO, "--sample", "all", "--json", cwd=root)
    assert result.code == 0, result.stdout + result.stderr
    checks = _checks(result)
    assert "211 matrices re-measured, largest relative difference 0" in checks["reexec:guard:rmt"]["detail"]
    assert checks["reexec:scores:bare"]["detail"] == "8 final windows re-scored without the guard repairs, agree"
    assert (
        "8 of 8 windows re-scored by both models, NLL sums and paired measures agree bit for bit"
        in checks["reexec:scores:final"]["detail"]
    )
