"""An ONNX subject with a weight the weight map cannot name, certified through the real CLI against the HF demo
model: the identity lists it as unmapped, the weight guard records it as not_applicable with the reason, the
invariants leave its stored layout alone, and verify (with the events) re-derives the rows; a resealed
certificate without the row fails.

The subject is the fp32 export with one MatMul's weight routed through an Identity node, a pattern onnx_graph
does not recognise; the export's other files are copied as they are. The run keeps to the
variance guard: its `changed` targets are empty for these identical weights, so no matrix is measured (the
spectral and RMT rows come from the same computation, tested on the fakes in
tests/unit/test_guard_not_applicable.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.domain import certificate as c

from tests.onnx_demo import OnnxDemo, onnx_dirs  # noqa: F401  (session fixture)

from .conftest import DEMO, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]

HIDDEN = "model.layers.0.mlp.down_proj.weight"
DATASET = {"provider": "demo:wikipedia", "seq_len": 32, "preview_n": 4, "final_n": 4, "calibration_n": 8, "seed": 7}


def _hide_one_weight(export: Path, out: Path) -> Path:
    """A copy of `export` whose MatMul reads HIDDEN through an Identity node."""
    import onnx

    out.mkdir()
    for item in export.iterdir():
        if item.name != "model.onnx":
            shutil.copy2(item, out / item.name)  # onnx refuses external data through a symlink or hard link
    model = onnx.load(str(export / "model.onnx"), load_external_data=False)
    (matmul,) = [n for n in model.graph.node if n.op_type == "MatMul" and HIDDEN in n.input]
    index = list(matmul.input).index(HIDDEN)
    matmul.input[index] = "hidden_down_proj"
    identity = onnx.helper.make_node("Identity", [HIDDEN], ["hidden_down_proj"])
    model.graph.node.insert(list(model.graph.node).index(matmul), identity)
    onnx.save(model, str(out / "model.onnx"))
    return out


@pytest.fixture(scope="module")
def run(onnx_dirs: OnnxDemo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:  # noqa: F811
    root = tmp_path_factory.mktemp("onnx_unmapped")
    subject = _hide_one_weight(onnx_dirs.fp32, root / "subject")
    order = ["invariants", "variance", "invariants"]
    preset = write_config(root / "preset.yaml", dataset=DATASET, guards={"order": order})
    result = invarlock(
        "certify", "--baseline", DEMO, "--subject", subject, "--preset", preset,
        "--cert-out", "out", "--events", "ev.duckdb", "--quiet", cwd=root,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return root, read_cert(root / "out" / "evaluation.cert.json")


def test_a_weight_the_onnx_map_cannot_name_is_not_applicable_with_its_reason(run: tuple[Path, dict[str, Any]]) -> None:
    root, cert = run
    reason = f"initializer {HIDDEN}: no MatMul/Gemm/Gather pattern maps it to a model weight"
    assert cert["subject"]["unmapped"] == {HIDDEN: reason} and "unmapped" not in cert["baseline"]
    variance = cert["guards"]["variance"]
    assert variance["measurements"]["not_applicable"] == [{"name": HIDDEN, "reason": f"subject: {reason}"}]
    assert variance["verdict"] == "pass" and cert["guards"]["invariants"]["verdict"] == "pass"
    assert cert["schema_version"] == "v2"
    verified = invarlock("verify", "out/evaluation.cert.json", "--events", "ev.duckdb", "--json", cwd=root)
    assert verified.code == 0, verified.stdout + verified.stderr


def test_a_resealed_certificate_without_the_row_fails_verify(run: tuple[Path, dict[str, Any]]) -> None:
    root, cert = run
    cert["guards"]["variance"]["measurements"]["not_applicable"] = []
    forged = root / "forged.json"
    forged.write_bytes(c.to_bytes(c.seal(msgspec.convert(cert, c.Certificate))))
    result = invarlock("verify", forged, "--json", cwd=root)
    assert result.code == 3, result.stdout + result.stderr
    failed = {ch["name"]: ch["detail"] for ch in json.loads(result.stdout)["checks"] if not ch["ok"]}
    assert "not_applicable rows differ" in failed["guard:variance"]
