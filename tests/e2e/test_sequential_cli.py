"""`eval.sequential: true` with the real CLI and the demo model: `certify` of the demo's int8 edit (attention and FFN
weights, so the spectral, RMT and variance guards all measure changed matrices) gives the certificate the run holding
both models gives, number for number (evidence, guard records, gates, verdict), and `verify --events` passes it, with
its baseline work done in its baseline pass or copied from an earlier run (baseline reuse). Only the run id, clock,
guard timings and the provenance's recorded config (which states `sequential: true`) differ. The re-execution audit
holding one model at a time (`verify --sequential`, the default for a sequential certificate) finds what the audit
holding both finds. `--sequential` measures KL and top-1 agreement from the baseline's kept side of them, as the
run holding both does. The fake-model tests
(tests/unit/test_sequential_run.py) cover repairs, rollback and resume; tests/integration/test_sequential_release.py
that the baseline is freed first."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.cert_compare import comparable

from .conftest import DEMO, assert_one_line_error, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]

DATASET = {"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 3, "final_n": 4, "calibration_n": 8, "seed": 7}
INT8 = {"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}}


def _certify(root: Path, name: str, evaluation: dict[str, Any], *flags: str) -> Path:
    preset = write_config(root / f"{name}.yaml", dataset=DATASET, eval=evaluation)
    edit = write_config(root / f"{name}-edit.yaml", edit=INT8)
    out = root / name
    args = ("--preset", preset, "--edit-config", edit, "--cert-out", out, "--events", "ev.duckdb", "--quiet", *flags)
    result = invarlock("certify", "--baseline", DEMO, "--subject", DEMO, *args, cwd=root)
    assert result.code in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return out / "evaluation.cert.json"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    """Both models held; one at a time with nothing copied; one at a time copying the first run's baseline
    scores and guard measurements (reuse is on by default)."""
    root = tmp_path_factory.mktemp("sequential")
    both = _certify(root, "both", {"secondary": {"measure": False}, "reuse": False, "sequential": False})
    one = _certify(root, "one", {"secondary": {"measure": False}, "sequential": True, "reuse": False})
    copied = _certify(root, "copied", {"secondary": {"measure": False}, "sequential": True})
    return root, both, one, copied


@pytest.fixture(scope="module")
def kl_flagged(certs: tuple[Path, ...]) -> Path:
    """`--sequential --no-reuse` on a config without an eval section: KL and top-1 agreement measured one model at a
    time (the certificate the disk test's resumed run must give)."""
    return _certify(certs[0], "flagged", {}, "--sequential", "--no-reuse")


def test_the_sequential_flag_measures_kl_one_model_at_a_time_as_lockstep_does(
    certs: tuple[Path, ...], kl_flagged: Path
) -> None:
    """`--sequential --no-reuse` on a config without an eval section: KL and top-1 agreement measured from the
    baseline's kept final hidden states and head (its edited copy shares the head: one matmul for both), the
    certificate of the run holding both (`--no-sequential`) number for number, as is the default's (no flag: one at
    a time, recorded); verify --events passes it, and its audit (one model at a time, every guard re-measured and
    KL re-measured from the kept baseline) finds what the other's audit holding both finds, as does the audit of
    the certificate held both audited one model at a time (`verify --sequential`)."""
    root, flagged_path = certs[0], kl_flagged
    both_path = _certify(root, "kl-both", {"reuse": False}, "--no-sequential")
    flagged, both = read_cert(flagged_path), read_cert(both_path)
    assert flagged["provenance"]["config"]["eval"]["sequential"] is True
    assert both["provenance"]["config"]["eval"]["sequential"] is False
    assert flagged["evidence"]["final"]["comparisons"] is not None
    assert comparable(flagged) == comparable(both)
    unset = read_cert(_certify(root, "unset", {"reuse": False}))  # since 0.3.6: one at a time where it can, recorded
    assert unset["provenance"]["config"]["eval"]["sequential"] is True and comparable(unset) == comparable(both)
    result = invarlock("verify", flagged_path, "--events", root / "ev.duckdb", cwd=root)
    assert result.code == 0, result.stdout + result.stderr
    held_both = _audited(root, both_path)
    assert {"reexec:guard:spectral", "reexec:guard:rmt", "reexec:guard:variance", "reexec:scores:final"} <= {
        name for name, _, _ in held_both
    }
    assert all(ok for _, ok, _ in held_both), held_both
    assert _audited(root, flagged_path) == held_both  # audited one model at a time, KL from the kept baseline
    assert _audited(root, both_path, "--sequential") == held_both


def test_the_sequential_certificate_states_what_the_run_holding_both_states(certs: tuple[Path, ...]) -> None:
    _, both, one, copied = certs
    held_both, held_one = read_cert(both), read_cert(one)
    assert held_one["provenance"]["config"]["eval"]["sequential"] is True
    assert comparable(held_one) == comparable(held_both)
    # the copy's certificate states its source (provenance.baseline_scoring), a schema v2 section
    held_copied, reference = comparable(read_cert(copied)), comparable(held_both)
    assert (held_copied.pop("schema_version"), reference.pop("schema_version")) == ("v2", "v1")
    assert held_copied == reference
    # the variance guard's `changed` targets are found by digest: every FFN tap of the int8 edit
    assert held_one["guards"]["variance"]["summary"]["taps"] > 0
    assert held_one["guards"]["spectral"]["summary"]["matrices"] > 0


def test_a_sequential_run_copies_the_baseline_work_of_an_earlier_run(certs: tuple[Path, ...]) -> None:
    _, _, one, copied = certs
    provenance = read_cert(copied)["provenance"]
    source = read_cert(one)["run_id"]  # the newest identical scoring
    assert [(s["arm"], s["reused"], s["source_run_id"]) for s in provenance["baseline_scoring"]] == [
        ("preview", True, source),
        ("final", True, source),
    ]


@pytest.mark.parametrize("name", ["one", "copied"])
def test_verify_events_passes_the_sequential_certificates(certs: tuple[Path, ...], name: str) -> None:
    root = certs[0]
    result = invarlock("verify", root / name / "evaluation.cert.json", "--events", root / "ev.duckdb", cwd=root)
    assert result.code == 0, result.stdout + result.stderr


def _audited(root: Path, cert: Path, *extra: str) -> list[tuple[str, bool, str]]:
    args = ("--baseline", DEMO, "--sample", "2", "--sample-seed", "5", "--json")
    result = invarlock("verify", cert, *args, *extra, cwd=root)
    assert result.code == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)["checks"]
    return [(check["name"], check["ok"], check["detail"]) for check in checks if check["name"].startswith("reexec:")]


def test_a_temporary_disk_too_small_stops_the_run_before_its_pass_and_the_run_resumes_once_there_is_room(
    certs: tuple[Path, ...], kl_flagged: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E608 from the room check of the baseline's kept hidden states (the disk's free space made too small): one line
    naming the sizes and the run to resume, the run left unfailed; `certify --resume` then gives the certificate an
    uninterrupted run gives, number for number, and verify --events passes it."""
    from invarlock.adapters import causal_reference

    root = certs[0]
    whole = read_cert(kl_flagged)  # the same config, never stopped
    free = os.fstatvfs
    monkeypatch.setattr(causal_reference.os, "fstatvfs", lambda fd: SimpleNamespace(f_bavail=1, f_frsize=4096))
    preset = write_config(root / "short.yaml", dataset=DATASET, eval={})
    edit = write_config(root / "short-edit.yaml", edit=INT8)
    args = ("--preset", preset, "--edit-config", edit, "--sequential", "--no-reuse", "--events", "short.duckdb")
    stopped = invarlock("certify", "--baseline", DEMO, "--subject", DEMO, *args, "--cert-out", "short", cwd=root)
    line = assert_one_line_error(stopped, "E608", 2)
    run_id = line.split("--resume ")[1].split(" ")[0]
    states = (DATASET["preview_n"] + DATASET["final_n"]) * DATASET["seq_len"] * 576 * 4  # the demo's hidden size
    assert f"they need {states / 2**20:.1f} MiB there and 256.0 MiB left beside them, 0.0 MiB is free" in line
    resume = f"`invarlock certify --resume {run_id} --events short.duckdb --cert-out short`"  # the outputs repeated
    assert line.endswith(f"goes on where it stopped with {resume}")
    listed = invarlock("runs", "--events", "short.duckdb", cwd=root)
    assert run_id in listed.stdout and "incomplete" in listed.stdout, listed.stdout
    monkeypatch.setattr(causal_reference.os, "fstatvfs", free)
    resumed = invarlock("certify", "--resume", run_id, "--events", "short.duckdb", "--cert-out", "short", cwd=root)
    assert resumed.code == 0, resumed.stderr
    assert comparable(read_cert(root / "short" / "evaluation.cert.json")) == comparable(whole)
    verified = invarlock("verify", root / "short" / "evaluation.cert.json", "--events", "short.duckdb", cwd=root)
    assert verified.code == 0, verified.stdout + verified.stderr
