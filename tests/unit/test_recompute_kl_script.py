"""docs/reference/recompute_kl.py (stdlib + numpy, no invarlock import) recomputes the secondary metrics of a
certificate from its evidence, and exits non-zero on a certificate whose measures were edited."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.domain import certificate as c

from tests.unit.conftest import small_config
from tests.unit.test_docs_recipe import REFERENCE, _script

SCRIPT = REFERENCE / "recompute_kl.py"


def _cert(services, subject: str) -> dict:  # type: ignore[no-untyped-def]
    request = CertifyRequest("certify", small_config(), ModelConfig(id=subject), tier="balanced", profile="dev")
    return json.loads(c.to_bytes(certify_edit(request, services).certificate))


def test_the_script_imports_only_the_standard_library_and_numpy() -> None:
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - set(sys.stdlib_module_names) == {"numpy", "cert_file"}  # cert_file: beside it, stdlib only


@pytest.mark.parametrize("subject", ["int8ish", "same", "broken"])
def test_the_script_recomputes_every_stated_value(services, subject: str) -> None:  # type: ignore[no-untyped-def]
    cert = _cert(services, subject)
    auditor = _script("recompute_kl")
    ours, theirs = auditor.recompute(cert), auditor.stated(cert)
    assert ours.keys() == theirs.keys()
    assert all(auditor.agrees(name, ours[name], theirs[name]) for name in ours), (ours, theirs)
    exact = {k: v for k, v in ours.items() if not k.endswith(".ci")}
    assert exact == {k: theirs[k] for k in exact}


def test_the_script_exits_zero_on_an_issued_certificate_and_one_on_an_edited_one(services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cert = _cert(services, "int8ish")
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "DIFF" not in done.stdout, done.stdout + done.stderr
    cert["evidence"]["final"]["comparisons"][0]["top1_agree"] -= 1
    path.write_text(json.dumps(cert), encoding="utf-8")
    done = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "DIFF  top1:" in done.stdout
