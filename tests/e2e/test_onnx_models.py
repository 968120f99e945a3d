"""ONNX models through the real CLI: the demo model exported to ONNX (torch dynamo exporter) and quantized to
int8 by onnxruntime's quantize_dynamic, certified against the HF fp32 demo model on real Wikipedia text.

The fp32 export carries the same weights under another runtime: its ratio is 1 within 1e-4, every weight
guard sees identical matrices, and the certificate names both runtimes. The int8 model is a real edit: its
KL is measurably above the fp32 export's, and its certificate verifies from its evidence and its events.
"""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.domain import certificate as c

from tests.onnx_demo import OnnxDemo, onnx_dirs  # noqa: F401  (session fixture)

from .conftest import DEMO, Result, read_cert, stream_types, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]

DATASET = {"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 4, "final_n": 6, "seed": 7}
# Measuring all 211 matrices of both models is most of a run's time (over a minute of CI on 2 cores), the same
# for any adapter: these runs keep to the invariants guard. What the weight guards see of ONNX models (the HF
# matrices bit for bit, int8 ones dequantized) is tested in tests/integration/test_onnx_model.py, the variance
# guard's taps and scaling by the ModelRunner and WeightSource contract suites.
STRUCTURE_ONLY = ["invariants", "invariants"]


def _certify(root: Path, subject: Path, order: list[str]) -> tuple[Result, dict[str, Any]]:
    preset = write_config(root / "preset.yaml", dataset=DATASET, guards={"order": order})
    result = invarlock(
        "certify", "--baseline", DEMO, "--subject", subject, "--preset", preset,
        "--cert-out", "out", "--events", "ev.duckdb", "--quiet", cwd=root,
    )  # fmt: skip
    assert result.code in (0, 1), result.stderr
    return result, read_cert(root / "out" / "evaluation.cert.json")


@pytest.fixture(scope="module")
def fp32_cert(onnx_dirs: OnnxDemo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result, dict[str, Any]]:  # noqa: F811
    root = tmp_path_factory.mktemp("onnx_fp32")
    return root, *_certify(root, onnx_dirs.fp32, STRUCTURE_ONLY)


@pytest.fixture(scope="module")
def int8_cert(onnx_dirs: OnnxDemo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result, dict[str, Any]]:  # noqa: F811
    root = tmp_path_factory.mktemp("onnx_int8")
    return root, *_certify(root, onnx_dirs.int8, STRUCTURE_ONLY)


def test_the_fp32_export_gives_ratio_one_within_1e4_and_the_certificate_names_both_runtimes(
    fp32_cert: tuple[Path, Result, dict[str, Any]],
) -> None:
    root, result, cert = fp32_cert
    import onnxruntime

    assert result.code == 0, result.stderr
    assert abs(cert["primary_metric"]["ratio_vs_baseline"] - 1.0) < 1e-4
    assert cert["baseline"]["adapter"] == "hf_causal" and "runtime" not in cert["baseline"]
    assert cert["provenance"]["environment"]["torch"] == version("torch")
    assert cert["subject"]["adapter"] == "onnx"
    assert cert["subject"]["runtime"] == f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider"
    assert cert["provenance"]["environment"]["onnxruntime"] == onnxruntime.__version__
    assert cert["baseline"]["config_sha256"] == cert["subject"]["config_sha256"]
    checks = [c for phase in cert["guards"]["invariants"]["phases"].values() for c in phase["checks"]]
    assert checks and all(c["status"] == "pass" for c in checks)
    assert invarlock("verify", "out/evaluation.cert.json", "--events", "ev.duckdb", cwd=root).code == 0


def test_the_int8_onnx_subject_is_certified_and_verified_against_the_hf_baseline(
    int8_cert: tuple[Path, Result, dict[str, Any]],
    fp32_cert: tuple[Path, Result, dict[str, Any]],
) -> None:
    root, result, cert = int8_cert
    fp32 = fp32_cert[2]
    assert cert["subject"]["adapter"] == "onnx" and cert["subject"]["dtype"] == "float32+int8"
    assert cert["subject"]["weights_sha256"] != fp32["subject"]["weights_sha256"]
    assert "graph_sha256" not in cert["baseline"], "the HF adapter's code builds its graph"
    assert len({cert["subject"]["graph_sha256"], fp32["subject"]["graph_sha256"]}) == 2, "int8 ops are other ops"
    checks = {c["name"]: c for phase in cert["guards"]["invariants"]["phases"].values() for c in phase["checks"]}
    assert checks["same_parameter_names"]["status"] == checks["same_shapes"]["status"] == "pass"
    kl, kl_fp32 = (x["secondary_metrics"]["kl_divergence"]["mean"] for x in (cert, fp32))
    assert kl > 100 * max(kl_fp32, 1e-12)
    assert result.code == (0 if cert["verdict"]["status"] == "PASS" else 1)
    verified = invarlock("verify", "out/evaluation.cert.json", "--events", "ev.duckdb", "--json", cwd=root)
    assert verified.code == result.code, verified.stdout + verified.stderr
    assert all(check["ok"] for check in json.loads(verified.stdout)["checks"])


def test_a_resealed_certificate_claiming_another_runtime_fails_verify_against_its_events(
    int8_cert: tuple[Path, Result, dict[str, Any]],
) -> None:
    root, _, cert = int8_cert
    cert["subject"]["runtime"] = "onnxruntime 1.32.0 CUDAExecutionProvider"
    forged = root / "forged.json"
    forged.write_bytes(c.to_bytes(c.seal(msgspec.convert(cert, c.Certificate))))
    result = invarlock("verify", forged, "--events", "ev.duckdb", "--json", cwd=root)
    assert result.code == 3, result.stdout + result.stderr
    assert json.loads(result.stdout)["ok"] is False


def test_a_sample_of_the_int8_onnx_certificates_windows_is_re_executed_against_its_models(
    int8_cert: tuple[Path, Result, dict[str, Any]],
    onnx_dirs: OnnxDemo,  # noqa: F811
) -> None:
    """The audit asked the onnx loader for the identity's dtype, float32+int8 (E104 'use --dtype float32'), so no
    ONNX certificate could be audited. Then a dynamically quantized graph's scores depended on their batch, so a
    sample re-scored in batches of its own failed the honest certificate (exit 3, '306.69 stated vs 296.34
    re-scored'): such a graph now runs each window in a pass of its own."""
    root, result, _ = int8_cert
    models = ("--baseline", DEMO, "--subject", onnx_dirs.int8, "--sample", "3", "--sample-seed", "11")
    audited = invarlock("verify", "out/evaluation.cert.json", *models, "--json", cwd=root)
    assert audited.code == result.code, audited.stdout + audited.stderr
    checks = {check["name"]: check for check in json.loads(audited.stdout)["checks"]}
    assert checks["reexec:subject_model"]["ok"] and checks["reexec:scores:final"]["ok"], checks


def test_the_audit_of_the_int8_certificate_refuses_its_graph_rewritten_over_the_same_weights(
    int8_cert: tuple[Path, Result, dict[str, Any]],
    onnx_dirs: OnnxDemo,  # noqa: F811
) -> None:
    """The identity digested the initializers only: a copy with one Sigmoid made a Tanh kept every certified
    digest and passed `reexec:subject_model` (only the re-scored windows differed)."""
    import onnx

    root, _, cert = int8_cert
    rewritten = root / "rewritten"
    shutil.copytree(onnx_dirs.int8, rewritten)  # copies, never links: onnx refuses hard-linked data files
    proto = onnx.load(str(rewritten / "model.onnx"), load_external_data=False)
    next(node for node in proto.graph.node if node.op_type == "Sigmoid").op_type = "Tanh"
    onnx.save_model(proto, str(rewritten / "model.onnx"))  # the data file is untouched: the same initializers
    models = ("--baseline", DEMO, "--subject", rewritten, "--sample", "1", "--sample-seed", "3")
    audited = invarlock("verify", "out/evaluation.cert.json", *models, "--json", cwd=root)
    assert audited.code == 3, audited.stdout + audited.stderr
    checks = {check["name"]: check for check in json.loads(audited.stdout)["checks"]}
    detail = checks["reexec:subject_model"]["detail"]
    assert not checks["reexec:subject_model"]["ok"] and detail.startswith("subject: graph_sha256 "), detail
    assert detail.endswith(f"!= certified {cert['subject']['graph_sha256'][:12]}") and "weights" not in detail


@pytest.mark.parametrize("option", [["--dtype", "bfloat16"], ["--device-map", "auto"]], ids=["dtype", "device map"])
def test_what_the_onnx_runtime_cannot_take_stops_certify_before_any_load_as_the_doctor_says(
    onnx_dirs: OnnxDemo,  # noqa: F811
    tmp_path: Path,
    option: list[str],
) -> None:
    """The doctor said the run would start; certify loaded and fingerprinted the baseline, then stopped with E104
    (found by the real-checkpoint hunt)."""
    preset = write_config(tmp_path / "preset.yaml", dataset=DATASET, guards={"order": STRUCTURE_ONLY})
    args = ["--baseline", DEMO, "--subject", str(onnx_dirs.int8), "--preset", str(preset), *option]
    doctored = invarlock("doctor", *args, "--events", "other.duckdb", "--json", cwd=tmp_path)
    certified = invarlock("certify", *args, "--events", "ev.duckdb", "--quiet", cwd=tmp_path)
    first = next(f for f in json.loads(doctored.stdout)["findings"] if f["severity"] == "error")
    assert doctored.code == certified.code == 2 and certified.stderr.startswith("ERROR [INVARLOCK:E104]")
    assert first["error_code"] == "E104" and first["message"] in certified.stderr
    assert list(stream_types(tmp_path / "ev.duckdb").values()) == [["run_started", "run_failed"]]
