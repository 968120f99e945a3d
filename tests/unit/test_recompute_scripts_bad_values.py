"""The recipient's scripts (docs/reference/recompute_*.py) on a certificate whose values are not of the form the
statistics need: one line on stderr naming the file and exit status 2, as docs/reference/cert_file.py promises;
and a certificate a script has nothing to recompute from is exit 2, not the mismatch status 1 (the stop-62
statistics hunt met KeyError, ZeroDivisionError, SystemError and numpy warnings, and exit 1 for a rollback)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.domain import certificate as c
from invarlock.domain.policy import VERIFY_MAX_BOOTSTRAP_CELLS, VERIFY_MAX_REPLICATES

from tests.unit.conftest import small_config
from tests.unit.test_docs_recipe import REFERENCE

Doc = dict


def _set(path: str, value: object) -> Callable[[Doc], None]:
    *parents, key = path.split(".")

    def change(doc: Doc) -> None:
        for part in parents:
            doc = doc[int(part)] if isinstance(doc, list) else doc[part]
        doc[int(key) if isinstance(doc, list) else key] = value

    return change


def _rolled_back_without_preview(doc: Doc) -> None:
    doc["status"] = "rollback"
    doc["evidence"]["final"] = None
    del doc["evidence"]["preview"]


DEEP = "@deep@"  # written as 100 000 nested arrays (json.dumps itself cannot nest so deep)


CASES = [
    ("recompute_ci", lambda d: d["bootstrap"].pop("seed"), "(KeyError: 'seed')"),
    ("recompute_ci", _set("bootstrap.replicates", -1), "("),
    ("recompute_ci", lambda d: d["evidence"]["final"].__setitem__("tokens_scored", [0] * 12), "(RuntimeWarning"),
    (
        "recompute_ci",
        lambda d: d["evidence"].__setitem__("final", None),
        "a certificate that did not roll back has no final arm",
    ),
    ("recompute_kl", _set("evidence.final.comparisons", None), "(TypeError"),
    ("recompute_kl", _set("evidence.final.comparisons.0.kl_histogram", [1, 2]), "("),
    ("recompute_kl", lambda d: d.__setitem__("secondary_metrics", None), "the certificate has no secondary metrics"),
    ("recompute_ci", lambda d: d.__setitem__("deep", DEEP), "its JSON nests deeper than"),
    # 10**12 replicates asked hashlib for terabytes: MemoryError, a traceback (the kinds hunt)
    ("recompute_ci", _set("bootstrap.replicates", 10**12), "bootstrap.replicates is 1000000000000, above the 10000"),
    ("recompute_kl", _set("policy.resolved.replicates", 10**12), "policy.resolved.replicates is 1000000000000, above"),
    ("recompute_ci", _set("evidence.final.window_ids", list(range(20_001))), "x 20001 windows exceeds the 10000000"),
    # the regression hunt: the bound read window_ids alone; a "rollback" holding a final arm skipped its interval;
    # a rollback without its preview arm was a KeyError traceback
    ("recompute_ci", _set("evidence.final.tokens_scored", [1] * 20_001), "x 20001 windows exceeds the 10000000"),
    ("recompute_ci", _set("status", "rollback"), "status is rollback, yet the evidence holds a final arm"),
    ("recompute_ci", _rolled_back_without_preview, "evidence.preview is missing"),
]


@pytest.fixture
def issued(services) -> Doc:  # type: ignore[no-untyped-def]
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    doc: Doc = json.loads(c.to_bytes(certify_edit(request, services).certificate))
    return doc


@pytest.mark.parametrize(("script", "change", "said"), CASES)
def test_a_value_of_the_wrong_form_is_one_line_and_exit_2(issued, tmp_path: Path, script, change, said) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(json.dumps(issued))
    change(doc)
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(doc).replace(f'"{DEEP}"', "[" * 100_000 + "]" * 100_000), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REFERENCE / f"{script}.py"), str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, (done.returncode, done.stderr)
    assert done.stderr.startswith(f"{path}: ") and said in done.stderr and "Traceback" not in done.stderr


def test_the_scripts_bound_the_bootstrap_where_verify_does() -> None:
    sys.path.insert(0, str(REFERENCE))
    try:
        import cert_file
    finally:
        sys.path.remove(str(REFERENCE))
    assert (cert_file.MAX_REPLICATES, cert_file.MAX_BOOTSTRAP_CELLS) == (
        VERIFY_MAX_REPLICATES,
        VERIFY_MAX_BOOTSTRAP_CELLS,
    )
