"""A failed `canonical` or `digest` check says what differs: the lines read "file bytes re-encoded" and
"sha256 over the canonical body" (the same words as when the check passed), so a certificate redirected with
an added newline or a resealed body failed with nothing to go on."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.cli import run_cli

CERT = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "certify.cert.json"


def _checks(path: Path) -> dict[str, dict[str, object]]:
    code, out, _ = run_cli("--quiet", "verify", path, "--json")
    assert code == 3, out
    return {check["name"]: check for check in json.loads(out)["checks"]}


def test_a_file_with_an_added_newline_says_where_it_differs(tmp_path: Path) -> None:
    raw = CERT.read_bytes()
    (tmp_path / "cert.json").write_bytes(raw + b"\n")
    check = _checks(tmp_path / "cert.json")["canonical"]
    assert not check["ok"]
    assert f"{len(raw) + 1} bytes, the canonical encoding {len(raw)}, first difference at byte {len(raw)}" in str(
        check["detail"]
    )


def test_a_wrong_digest_names_the_stated_and_the_computed_one(tmp_path: Path) -> None:
    doc = json.loads(CERT.read_bytes())
    stated = doc["digest"]
    doc["digest"] = "0" * 64
    (tmp_path / "cert.json").write_bytes(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
    check = _checks(tmp_path / "cert.json")["digest"]
    assert not check["ok"]
    assert f"stated {'0' * 16}…, the body hashes to {stated[:16]}…" in str(check["detail"]), check
