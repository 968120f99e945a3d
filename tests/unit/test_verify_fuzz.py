"""Fuzz `invarlock verify` (hypothesis, and a seeded byte fuzz with the crashes it once found pinned): no edit of
a certificate file is ever accepted, none exits 1 (the FAIL code) or E999, and none gives a traceback.

The certificate comes from the recorded-state fakes, signed with a real Ed25519 key; verify runs through the
CLI entry point in-process, exactly as a user's shell would call it.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invarlock.adapters.ed25519 import generate_keypair, load_signer, public_path
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain.errors import InvarlockError

from tests.fakes.cli import run_cli
from tests.fakes.models import FakeCorpora, FakeLoader, FakeModel, FakeScaleEdit, words
from tests.unit.conftest import small_config

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
GUARDED = ("evidence", "policy", "validation", "verdict")


def _services(signer: Any) -> Services:
    ticks = itertools.count()
    return Services(
        loader=FakeLoader(models={"base": FakeModel(ref="base"), "int8ish": FakeModel(ref="int8ish", quality=1.002)}),
        corpora=FakeCorpora(words(120)),
        store=InMemoryEventStore(),
        edits={"fake_scale": FakeScaleEdit()},
        clock=lambda: f"2026-01-01T00:00:{next(ticks):02d}.000000Z",
        new_run_id=lambda: "run-fuzz",
        environment=lambda: {"python": "test"},
        tool_version="0.0.test",
        signer=signer,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    generate_keypair(root / "key")
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    out = {"key": public_path(root / "key")}
    for name, signer in (("signed", load_signer(root / "key")), ("unsigned", None)):
        out[name] = root / f"{name}.json"
        out[name].write_bytes(c.to_bytes(certify_edit(request, _services(signer)).certificate))
    return out


def _verify(*args: str | Path) -> tuple[int, str]:
    """Exit code and stderr of `invarlock verify ARGS` through the console entry point."""
    code, _, err = run_cli("verify", *args)
    return code, err


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        for index, value in enumerate(node):
            yield from _leaves(value, (*path, index))
    else:
        yield path


def _mutated(value: Any, nudge: float) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + (1 if nudge >= 0 else -1)
    if isinstance(value, float):
        return value * (1 + nudge) if value else nudge
    if isinstance(value, str):
        return {"PASS": "FAIL", "FAIL": "PASS"}.get(value, value + "x")
    return 0 if value is None else None


def _edit(data: dict[str, Any], path: tuple[Any, ...], nudge: float) -> None:
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = _mutated(node[path[-1]], nudge)


def _decodes(raw: bytes) -> bool:
    try:
        c.from_bytes(raw)
    except InvarlockError:
        return False
    return True


nudges = st.floats(min_value=-0.5, max_value=0.5, allow_nan=False).filter(lambda x: abs(x) > 1e-12)


@FUZZ
@given(position=st.integers(min_value=0), replacement=st.integers(min_value=0, max_value=255))
def test_any_changed_byte_of_a_signed_certificate_is_refused(
    files: dict[str, Path], tmp_path: Path, position: int, replacement: int
) -> None:
    raw = bytearray(files["signed"].read_bytes())
    position %= len(raw)
    if raw[position] == replacement:
        replacement = (replacement + 1) % 256
    raw[position] = replacement
    target = tmp_path / "byte.json"
    target.write_bytes(bytes(raw))
    code, err = _verify(target, "--pubkey", files["key"])
    assert code == (3 if _decodes(bytes(raw)) else 2) and "Traceback" not in err, err


@FUZZ
@given(pick=st.integers(min_value=0), nudge=nudges)
def test_any_changed_field_of_a_signed_certificate_is_refused(
    files: dict[str, Path], tmp_path: Path, pick: int, nudge: float
) -> None:
    data = json.loads(files["signed"].read_bytes())
    paths = list(_leaves(data))
    _edit(data, paths[pick % len(paths)], nudge)
    target = tmp_path / "field.json"
    target.write_bytes(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    code, err = _verify(target, "--pubkey", files["key"])
    assert code in (2, 3) and "Traceback" not in err, err


@FUZZ
@given(pick=st.integers(min_value=0), nudge=nudges)
def test_any_change_to_evidence_policy_validation_or_verdict_of_an_unsigned_certificate_exits_3(
    files: dict[str, Path], tmp_path: Path, pick: int, nudge: float
) -> None:
    data = json.loads(files["unsigned"].read_bytes())
    paths = [p for p in _leaves(data) if p[0] in GUARDED]
    _edit(data, paths[pick % len(paths)], nudge)
    edited = json.dumps(data).encode()
    valid = _decodes(edited)
    target = tmp_path / "unsigned.json"
    target.write_bytes(c.to_bytes(c.from_bytes(edited)) if valid else edited)  # canonical: only the content differs
    code, err = _verify(target)
    assert code == (3 if valid else 2) and "Traceback" not in err, err


@pytest.mark.parametrize("recipient", [(), ("--tier", "balanced")])
def test_a_signed_certificate_whose_metric_kind_was_altered_is_an_integrity_failure(
    files: dict[str, Path], tmp_path: Path, recipient: tuple[str, ...]
) -> None:
    """Found by the byte fuzz above (one byte of "ppl_causal" made a space): the unknown kind was refused as a
    usage error (E201, exit 2) while the recipient policy was resolved, before the digest and signature checks that
    fail it; it is an altered certificate, exit 3, with or without the verifier's own tier."""
    raw = bytearray(files["signed"].read_bytes())
    at = raw.index(b'"kind":"ppl_causal"', raw.index(b'"primary_metric":{')) + len(b'"kind":"')
    raw[at] = ord(" ")
    target = tmp_path / "kind.json"
    target.write_bytes(bytes(raw))
    assert c.from_bytes(bytes(raw)).primary_metric.kind == " pl_causal"
    code, err = _verify(target, "--pubkey", files["key"], *recipient)
    assert code == 3 and "Traceback" not in err, err


def test_the_untouched_files_verify(files: dict[str, Path]) -> None:
    assert _verify(files["signed"], "--pubkey", files["key"])[0] == 0
    assert _verify(files["unsigned"])[0] == 0


# --- Seeded byte fuzz through the CLI entry point: no mutated certificate ever reaches exit 1 or E999. ---

OPS = ("delete", "replace", "insert", "duplicate")
STRUCTURAL = b'0123456789.,-+e[]{}":E'


def _mutate(raw: bytes, rng: random.Random) -> bytes:
    """One byte-level edit like those a fuzzer makes: delete, replace, insert or duplicate a run of bytes."""
    data = bytearray(raw)
    pos, op = rng.randrange(len(data)), rng.choice(OPS)
    if op == "delete":
        del data[pos : pos + rng.choice((1, 1, 1, 2, 8))]
    elif op == "replace":
        data[pos] = rng.choice(STRUCTURAL) if rng.random() < 0.7 else rng.randrange(256)
    elif op == "insert":
        data[pos:pos] = bytes([rng.choice(STRUCTURAL)])
    else:
        data[pos:pos] = data[pos : pos + rng.randrange(1, 40)]
    return bytes(data) if bytes(data) != raw else raw[:-1]


def _assert_refused(target: Path, *extra: str | Path) -> None:
    code, out, err = run_cli("verify", target, *extra)
    assert code in (2, 3), f"exit {code} for a mutated certificate: {err or out[-300:]}"
    assert "E999" not in err and "Traceback" not in err, err
    code, out, _ = run_cli("verify", target, *extra, "--json")
    assert code in (2, 3) and json.loads(out)["exit_code"] == code


@pytest.mark.parametrize(("kind", "cases", "seed"), [("unsigned", 400, 20261130), ("signed", 200, 7)])
def test_seeded_byte_mutations_never_exit_1_or_e999(
    files: dict[str, Path], tmp_path: Path, kind: str, cases: int, seed: int
) -> None:
    raw, rng = files[kind].read_bytes(), random.Random(seed)
    extra = ("--pubkey", files["key"]) if kind == "signed" else ()
    for case in range(cases):
        target = tmp_path / f"{kind}-{case}.json"
        target.write_bytes(_mutate(raw, rng))
        _assert_refused(target, *extra)
        target.unlink()


def _after(raw: bytes, key: bytes, find: bytes) -> int:
    """Index of the first `find` after the first occurrence of `key`."""
    return raw.index(find, raw.index(key) + len(key))


def _delete_at(raw: bytes, index: int) -> bytes:
    return raw[:index] + raw[index + 1 :]


def _merging_comma(raw: bytes, key: bytes) -> int:
    """The last comma of the array after `key`: deleting it merges two ids into one valid number."""
    start = raw.index(key) + len(key)
    return raw.rindex(b",", start, raw.index(b"]", start))


def _first_number(raw: bytes, key: bytes) -> tuple[int, int]:
    start = raw.index(key) + len(key)
    return start, min(raw.index(b",", start), raw.index(b"]", start))


def _nll_of(raw: bytes, value: bytes) -> bytes:
    start, end = _first_number(raw, b'"subject_nll":[')
    return raw[:start] + value + raw[end:]


def _deep(raw: bytes, depth: int) -> bytes:
    nested = b"[" * depth + b"]" * depth
    return raw.replace(b'"config":{', b'"config":{"aaa_deep":' + nested + b",", 1)


# The crashes the first byte fuzz found (OverflowError, a zip length error, RecursionError, an NLL near the
# float maximum), pinned: each must be refused with 2 or 3, both as the mutated bytes and resealed.
PINNED = {
    "deleted '.' in an NLL value": lambda raw: _delete_at(raw, _after(raw, b'"subject_nll":[', b".")),
    "deleted ',' in window_ids": lambda raw: _delete_at(raw, _merging_comma(raw, b'"window_ids":[')),
    "nesting depth 1000": lambda raw: _deep(raw, 1000),
    "nesting depth 100000": lambda raw: _deep(raw, 100_000),
    "an NLL of 1.7e308": lambda raw: _nll_of(raw, b"1.7e308"),
    "an NLL of -1.7e308": lambda raw: _nll_of(raw, b"-1.7e308"),
    "an NLL of 1e400 (inf)": lambda raw: _nll_of(raw, b"1e400"),
    "a window id of 2**70": lambda raw: raw.replace(b'"window_ids":[', b'"window_ids":[1180591620717411303424,', 1),
}


def _resealed(mutated: bytes) -> bytes | None:
    """The mutated certificate with its digest recomputed, when it still decodes (a forger's version)."""
    try:
        return c.to_bytes(c.seal(c.from_bytes(mutated)))
    except (InvarlockError, RecursionError, ValueError):
        return None


@pytest.mark.parametrize("case", sorted(PINNED))
def test_pinned_mutations_exit_2_or_3(files: dict[str, Path], tmp_path: Path, case: str) -> None:
    mutated = PINNED[case](files["unsigned"].read_bytes())
    target = tmp_path / "pinned.json"
    target.write_bytes(mutated)
    _assert_refused(target)
    resealed = _resealed(mutated)
    if resealed is not None:
        target.write_bytes(resealed)
        _assert_refused(target)
