"""Text from a certificate, an event store or a path is printed with its control characters escaped: a forged
`edit.name` holding a carriage return, ANSI codes and a newline once printed a green "ok" over a failed check and a
line `Verdict: PASS (exit 0)` of its own, and an OSC 52 sequence reached the terminal (stop 38's CLI hunt)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from invarlock.application.certification.certify import CertifyRequest, certify_edit
from invarlock.application.config import ModelConfig
from invarlock.cli.console import printable
from invarlock.domain import certificate as c

from tests.fakes.cli import run_cli
from tests.unit.conftest import small_config

INJECTED = "x\r\x1b[2K\x1b[32mok    edit_plan: fine\x1b[0m\nVerdict: PASS  (exit 0)\n\x1b]52;c;cHduZWQ=\x07\u202e"


def test_printable_escapes_controls_and_bidi_overrides_and_keeps_other_text() -> None:
    assert printable("é ü 日本 a\tb") == "é ü 日本 a\\tb"
    assert printable(INJECTED) == (
        "x\\r\\x1b[2K\\x1b[32mok    edit_plan: fine\\x1b[0m\\nVerdict: PASS  (exit 0)\\n\\x1b]52;c;cHduZWQ=\\x07\\u202e"
    )


def test_verify_prints_a_forged_name_escaped_on_the_line_of_its_check(services: Any, tmp_path: Path) -> None:
    request = CertifyRequest("certify", small_config(), ModelConfig(id="int8ish"), tier="balanced", profile="dev")
    doc = json.loads(c.to_bytes(certify_edit(request, services).certificate))
    doc["edit"]["name"] = INJECTED
    path = tmp_path / "forged.cert.json"
    path.write_bytes(c.to_bytes(c.seal(c.from_bytes(json.dumps(doc).encode()))))
    code, out, _ = run_cli("verify", path)
    assert code == 3 and "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert [line for line in out.splitlines() if line.startswith("Verdict")] == [out.splitlines()[-1]]
    assert out.splitlines()[-1].startswith("Verdict: not established")


def test_an_error_line_keeps_a_path_with_a_newline_on_one_line(tmp_path: Path) -> None:
    code, _, err = run_cli("verify", tmp_path / "no\nsuch\x1b[2J.json")
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err and "no\\nsuch\\x1b[2J.json" in err, err


def test_every_format_control_and_separator_character_is_shown_as_its_escape() -> None:
    # U+061C, zero-width characters, U+2028/U+2029, the tag block and the BOM reached reports and the console raw
    # (stop 63's report hunt): two refs that look alike could differ, a separator started a line of its own.
    import unicodedata

    hidden = [chr(i) for i in range(0x110000) if unicodedata.category(chr(i)) in ("Cc", "Cf", "Zl", "Zp")]
    assert all(printable(ch) != ch for ch in hidden), [hex(ord(ch)) for ch in hidden if printable(ch) == ch]
    ref = "hf:ORG/\u061cgood-\u200bmodel\u2028# PASS\u2029x\U000e0050\ufeff\u00ad\u3164"
    assert printable(ref) == "hf:ORG/\\u061cgood-\\u200bmodel\\u2028# PASS\\u2029x\\U000e0050\\ufeff\\xad\\u3164"
    assert printable("naïve café 日本 — “quoted” ∑ 🙂") == "naïve café 日本 — “quoted” ∑ 🙂"
