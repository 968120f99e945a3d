"""bfloat16 scoring through the real CLI: the certificate states the dtype, an identical subject still gives
exactly 1.0, and a recipient policy demanding float32 evidence fails it (exit 1) and passes a float32 one."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from invarlock.domain import certificate as c

from .conftest import DEMO, CompletedRun, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def bf16_identical(tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    """The demo model certified against itself in bfloat16: few short windows, the invariants guard only."""
    root = tmp_path_factory.mktemp("bf16")
    preset = write_config(
        root / "bf16.yaml",
        dataset={"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 2, "final_n": 4, "calibration_n": 0},
        guards={"order": ["invariants", "invariants"]},
    )
    args = ("--quiet", "certify", "--baseline", DEMO, "--subject", DEMO, "--preset", preset, "--dtype", "bfloat16")
    result = invarlock(*args, "--events", "ev.duckdb", "--cert-out", "out", cwd=root)
    assert result.code == 0, result.stderr
    return CompletedRun(root, root / "out" / "evaluation.cert.json", root / "ev.duckdb", result)


def _float32_policy(root: Path) -> Path:
    path = root / "float32-evidence.yaml"
    path.write_text("tier: balanced\nprofile: dev\nevidence: {require_dtype: float32}\n", encoding="utf-8")
    return path


def _verify(run: CompletedRun, *extra: str | Path) -> tuple[int, dict[str, bool], dict[str, str]]:
    result = invarlock("verify", run.cert, "--json", *extra, cwd=run.root)
    report = json.loads(result.stdout)
    return (
        result.code,
        {ch["name"]: ch["ok"] for ch in report["checks"]},
        {ch["name"]: ch["detail"] for ch in report["checks"]},
    )


def test_a_bf16_identical_subject_states_its_dtype_and_gives_exactly_one(bf16_identical: CompletedRun) -> None:
    cert = read_cert(bf16_identical.cert)
    assert cert["baseline"]["dtype"] == cert["subject"]["dtype"] == "bfloat16"
    base, subj = cert["evidence"]["final"]["baseline_nll"], cert["evidence"]["final"]["subject_nll"]
    assert base == subj  # same weights, same windows, same batch geometry: bit-identical sums
    pm = cert["primary_metric"]
    assert pm["ratio_vs_baseline"] == 1.0 and pm["display_ci"] == [1.0, 1.0] and pm["ci"] == [0.0, 0.0]  # ci: log


def test_a_float32_evidence_policy_fails_the_bf16_certificate_with_exit_1(bf16_identical: CompletedRun) -> None:
    code, checks, _ = _verify(bf16_identical, "--events", bf16_identical.events)
    assert code == 0 and all(checks.values())
    code, checks, detail = _verify(bf16_identical, "--policy", _float32_policy(bf16_identical.root))
    assert code == 1 and [name for name, ok in checks.items() if not ok] == ["recipient_policy"]
    expected = "evidence_dtype_ok (scored in baseline bfloat16, subject bfloat16; the policy requires float32 evidence)"
    assert expected in detail["recipient_policy"]
    text = invarlock(
        "verify", bf16_identical.cert, "--policy", _float32_policy(bf16_identical.root), cwd=bf16_identical.root
    )
    assert text.code == 1 and "Traceback" not in text.stdout + text.stderr and expected in text.stdout


def test_a_float32_evidence_policy_passes_a_float32_certificate(int8_run: CompletedRun) -> None:
    assert read_cert(int8_run.cert)["subject"]["dtype"] == "float32"
    code, checks, _ = _verify(int8_run, "--policy", _float32_policy(int8_run.root))
    assert code == 0 and all(checks.values())


def test_a_bf16_certificate_relabelled_float32_and_resealed_is_caught_by_the_event_chain(
    bf16_identical: CompletedRun,
) -> None:
    data = json.loads(bf16_identical.cert.read_bytes())
    for role in ("baseline", "subject"):
        data[role]["dtype"] = "float32"
    forged = bf16_identical.root / "relabelled.json"
    forged.write_bytes(c.to_bytes(c.seal(msgspec.convert(data, c.Certificate))))
    policy = _float32_policy(bf16_identical.root)
    result = invarlock("verify", forged, "--json", "--policy", policy, cwd=bf16_identical.root)
    assert result.code == 0  # plain verify trusts the identity: the dtype is an input, not a recomputed number
    result = invarlock("verify", forged, "--json", "--policy", policy, "--events", "ev.duckdb", cwd=bf16_identical.root)
    failed = [ch["name"] for ch in json.loads(result.stdout)["checks"] if not ch["ok"]]
    assert result.code == 3 and failed, result.stdout
