"""The documented auditor recipe and the published JSON Schema agree with the code."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import types
from pathlib import Path
from types import ModuleType

import msgspec
import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
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


# A Struct docstring as Python 3.11/3.12 store it (source indentation kept) and as 3.13 stores it (dedented).
_DOC_311 = "First line of the doc, and\n    a continuation:\n\n        - an indented item\n    "
_DOC_313 = "First line of the doc, and\na continuation:\n\n    - an indented item\n"


def test_docstring_normalisation_is_the_same_for_both_compiler_shapes():
    normalise_doc = _script("generate_schema").normalise_doc
    expected = "First line of the doc, and\na continuation:\n\n    - an indented item"
    assert normalise_doc(_DOC_311) == normalise_doc(_DOC_313) == expected


def test_schema_bytes_do_not_depend_on_docstring_shape_or_union_order():
    generator = _script("generate_schema")
    structs = [
        types.new_class("Doc", (msgspec.Struct,), {}, lambda ns, d=doc: ns.update(__doc__=d))
        for doc in (_DOC_311, _DOC_313)
    ]
    schemas = [generator.canonical(msgspec.json.schema(s)) for s in structs]
    assert schemas[0] == schemas[1]
    assert schemas[0]["$defs"]["Doc"]["description"].endswith("\n    - an indented item")
    union = [{"type": "null"}, {"$ref": "#/$defs/Doc"}]
    assert generator.canonical({"anyOf": union}) == generator.canonical({"anyOf": union[::-1]})


ROOT = REFERENCE.parents[1]
DESIGN_DOC = re.compile(
    r"\b(?:STATISTICS|GUARDS|CERTIFICATE|ARCHITECTURE|MODELS_AND_DATA|UPSTREAM|STYLE)\.md\b|shared/design"
)


def _non_docstring_literals(source: Path) -> list[str]:
    """Every string literal of a module except docstrings: messages, hints, CLI help."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_user_facing_text_cites_only_documents_inside_the_project():
    texts = {"certificate.schema.json": (REFERENCE / "certificate.schema.json").read_text(encoding="utf-8")}
    texts |= {
        str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
        for p in [ROOT / "README.md", *ROOT.glob("docs/**/*.md")]
    }
    for layer in ("domain", "application", "adapters", "cli"):
        for source in (ROOT / layer).rglob("*.py"):
            texts[str(source.relative_to(ROOT))] = "\n".join(_non_docstring_literals(source))
    cited = {name: DESIGN_DOC.findall(text) for name, text in texts.items()}
    assert {name: found for name, found in cited.items() if found} == {}


def test_the_scripts_recompute_a_rollback_from_the_preview_arm_that_decided_it(services, loader) -> None:
    """They refused a rollback certificate ("no final arm"), so the numbers behind a rollback could not be
    recomputed independently (the kinds hunt)."""
    from invarlock.application.config import EditConfig

    from tests.fakes.encoders import FakeEncoder
    from tests.unit.test_embedding_cosine_use_case import _certify

    edit = EditConfig(name="fake_scale", plan={"factor": 40.0})
    request = CertifyRequest("run", small_config(edit), None, tier="balanced", profile="dev")
    causal = json.loads(c.to_bytes(certify_edit(request, services).certificate))
    loader.models.update({"enc": FakeEncoder(ref="enc"), "enc_broken": FakeEncoder(ref="enc_broken", quality=3.0)})
    encoder = json.loads(c.to_bytes(_certify(services, "enc_broken")))
    for cert, name in ((causal, "recompute_ci"), (encoder, "recompute_embedding")):
        assert cert["status"] == "rollback" and cert["evidence"]["final"] is None
        auditor = _script(name)
        assert auditor.recompute_rollback(cert) == auditor.stated_rollback(cert), name
        cert["bootstrap"]["key"] = "0" * 64  # a final-arm key, or any other, is not the rollback's
        assert auditor.recompute_rollback(cert) != auditor.stated_rollback(cert), name
