"""`--device-map auto` through the real CLI on the demo model (issue 13 §3): on this CPU-only machine the
whole model lands on cpu and the evidence equals the default load's; the certificate records the device
map (schema v2) and verify checks it against the event store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.domain import certificate as c

from .conftest import DEMO, CompletedRun, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = pytest.mark.model

FEW = {"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 3, "final_n": 3, "seed": 11}
NO_WEIGHT_GUARDS = {"order": ["invariants", "invariants"]}  # the guards read weights as tested elsewhere


def _certify(root: Path, *extra: str) -> CompletedRun:
    root.mkdir()
    preset = write_config(root / "preset.yaml", dataset=FEW, guards=NO_WEIGHT_GUARDS)
    args = ("certify", "--baseline", DEMO, "--subject", DEMO, "--preset", preset, "--profile", "dev", *extra)
    result = invarlock(*args, "--cert-out", "out", "--events", "ev.duckdb", "--quiet", cwd=root)
    assert result.code == 0, result.stderr
    return CompletedRun(root, root / "out" / "evaluation.cert.json", root / "ev.duckdb", result)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[CompletedRun, CompletedRun]:
    root = tmp_path_factory.mktemp("device_map")
    return _certify(root / "default"), _certify(root / "auto", "--device-map", "auto")


def test_device_map_auto_gives_the_default_loads_evidence_and_records_the_map(pair):
    default, spread = (read_cert(run.cert) for run in pair)
    assert spread["evidence"] == default["evidence"] and spread["primary_metric"] == default["primary_metric"]
    for role in ("baseline", "subject"):
        assert spread[role].pop("device_map") == {"": "cpu"}
        assert spread[role] == default[role] and "device_map" not in default[role]
    assert spread["provenance"]["config"]["model"]["device_map"] == "auto"
    assert "device_map" not in default["provenance"]["config"]["model"]
    assert spread["schema_version"] == "v2"


def test_verify_accepts_the_device_map_certificate_and_catches_a_resealed_map(pair):
    spread = pair[1]
    assert invarlock("verify", spread.cert, "--events", spread.events, cwd=spread.root).code == 0
    models = ("--baseline", DEMO, "--subject", DEMO, "--sample", "2", "--json")
    audited = invarlock("verify", spread.cert, *models, cwd=spread.root)  # loads with the recorded device map
    assert audited.code == 0, audited.stdout + audited.stderr
    checks = {check["name"]: check for check in json.loads(audited.stdout)["checks"]}
    assert "bit for bit" in checks["reexec:build"]["detail"], checks["reexec:build"]  # else: device_map -> None
    data: dict[str, Any] = json.loads(spread.cert.read_bytes())
    data["subject"]["device_map"] = {"": "cuda:0"}
    forged = spread.root / "forged.json"
    forged.write_bytes(c.to_bytes(c.seal(msgspec.convert(data, c.Certificate))))
    result = invarlock("verify", forged, "--events", spread.events, "--json", cwd=spread.root)
    assert result.code == 3, result.stdout
