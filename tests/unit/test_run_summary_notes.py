"""What the run summary adds under the headline interval (the statistics hunt: a 2-window dev run and an identical
subject printed only a confident `Verdict: PASS ... CI [...]`, the certificate alone saying the interval was
approximate or a single value)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from invarlock.cli import run_summary
from invarlock.domain import certificate as c

CERT = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "run.cert.json"


def _said(cert: c.Certificate, monkeypatch: pytest.MonkeyPatch, as_json: bool = False) -> list[str]:
    said: list[str] = []
    monkeypatch.setattr(run_summary.console, "say", said.append)
    monkeypatch.setattr(run_summary.console, "out", said.append)
    run_summary._report(cert, Path("c.json"), {"as_json": as_json, "export_dir": None, "events": "ev.duckdb"})
    return said


def _with(cert: c.Certificate, *, approximate: bool, method: str, profile: str = "dev") -> c.Certificate:
    resolved = {**cert.policy.resolved, "profile": profile}
    return msgspec.structs.replace(
        cert,
        primary_metric=msgspec.structs.replace(cert.primary_metric, ci_approximate=approximate),
        bootstrap=msgspec.structs.replace(cert.bootstrap, method=method),
        policy=msgspec.structs.replace(cert.policy, resolved=resolved),
    )


def test_an_approximate_interval_of_a_dev_run_is_said_to_be_ungated(monkeypatch: pytest.MonkeyPatch) -> None:
    said = _said(_with(c.from_bytes(CERT.read_bytes()), approximate=True, method="bca"), monkeypatch)
    note = "  NOTE: the interval is approximate: 6 final windows < 180; the dev profile does not gate it, ci and"
    assert [s for s in said if s.startswith("  NOTE")] == [note + " release do"]


def test_under_ci_the_note_names_the_floor_and_the_failed_gate_says_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = _said(_with(c.from_bytes(CERT.read_bytes()), approximate=True, method="bca", profile="ci"), monkeypatch)
    assert "  NOTE: the interval is approximate: 6 final windows < 180" in said


def test_a_degenerate_interval_is_said_to_be_one_value(monkeypatch: pytest.MonkeyPatch) -> None:
    said = _said(_with(c.from_bytes(CERT.read_bytes()), approximate=False, method="degenerate"), monkeypatch)
    assert [s for s in said if s.startswith("  NOTE")] == [
        "  NOTE: every final window's difference is the same: the interval is that one value (degenerate)"
    ]


def test_an_exact_interval_gets_no_note_and_json_states_the_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    cert = _with(c.from_bytes(CERT.read_bytes()), approximate=False, method="bca")
    assert not [s for s in _said(cert, monkeypatch) if "NOTE" in s]
    [line] = _said(cert, monkeypatch, as_json=True)
    assert msgspec.json.decode(line)["ci_approximate"] is False


@pytest.mark.parametrize("as_json", [False, True])
def test_an_export_a_rollback_skipped_is_said(monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    """`run --export DIR` of a run that rolled back wrote nothing and said nothing (the export hunt, stop 71)."""
    from tests.fakes.certificates import fake_certificate

    said: list[str] = []
    monkeypatch.setattr(run_summary.console, "say", said.append)
    monkeypatch.setattr(run_summary.console, "out", said.append)
    for cert in (fake_certificate(quality=3.0), fake_certificate()):
        run_summary._report(cert, Path("c.json"), {"as_json": as_json, "export_dir": "subj", "events": "ev.duckdb"})
    rolled_back, completed = (json.loads(s)["exported"] for s in said) if as_json else (None, None)
    if as_json:
        assert (rolled_back, completed) == (None, "subj")
    else:
        assert "Subject not exported to subj: the run rolled back" in said
        assert any(s.startswith("Subject exported: subj") for s in said)
