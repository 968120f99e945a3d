"""The documented auditor recipe and the published JSON Schema agree with the code."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from invarlock.application.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.domain import certificate as c

from tests.unit.conftest import small_config

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_reference_{name}", REFERENCE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("subject", "method"), [("int8ish", "bca"), ("same", "degenerate")])
def test_auditor_script_recomputes_ratio_and_ci_bit_for_bit(services, subject, method):
    request = CertifyRequest(
        command="certify", config=small_config(), subject=ModelConfig(id=subject), tier="balanced", profile="dev"
    )
    cert = json.loads(c.to_bytes(certify_edit(request, services).certificate))
    auditor = _script("recompute_ci")
    recomputed = auditor.recompute(cert)
    assert recomputed["method"] == method
    assert recomputed == auditor.stated(cert)


def test_published_certificate_schema_is_the_generated_one():
    committed = (REFERENCE / "certificate.schema.json").read_text(encoding="utf-8")
    assert committed == _script("generate_schema").render(), "run: python docs/reference/generate_schema.py"
