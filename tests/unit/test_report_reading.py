"""What a report's reader sees (stop 63's report hunt): an altered certificate asks for nothing, a CI bound that
misses the limit never reads as the limit, each NOT VERIFIED line is its own paragraph, `$...$` stays text."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import msgspec
import pytest
from invarlock.adapters.report.cells import beside
from invarlock.adapters.report.md import md_escape
from invarlock.application import report
from invarlock.cli.bootstrap import report_renderer
from invarlock.domain import certificate as c
from invarlock.domain import signature as sig

from tests.fakes.certificates import fake_certificate
from tests.fakes.cli import run_cli

PLUGIN = "plugin.guards.evil"


@pytest.fixture(scope="module")
def passing() -> c.Certificate:
    return fake_certificate()


def _naming_a_plugin(cert: c.Certificate, path: Path, *, seal: bool) -> Path:
    doc = json.loads(c.to_bytes(cert))
    doc["provenance"]["environment"][PLUGIN] = "invarlock-guard-evil 1.0.0"
    order = doc["provenance"]["config"]["guards"]["order"]  # a guard the run's order names (none other is asked for)
    order.insert(len(order) - 1, "evil")
    named = c.from_bytes(json.dumps(doc).encode())
    path.write_bytes(c.to_bytes(c.seal(named) if seal else named))
    return path


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_an_altered_certificate_naming_a_plugin_is_reported_not_verified_and_asks_for_nothing(passing, tmp_path, fmt):
    # A forged plugin name read "install it (pip install invarlock-guard-evil==1.0.0)" before any integrity check.
    altered = _naming_a_plugin(passing, tmp_path / "altered.cert.json", seal=False)
    code, _, err = run_cli("report", fmt, altered, "-o", tmp_path / f"r.{fmt}")
    page = (tmp_path / f"r.{fmt}").read_text(encoding="utf-8")
    assert code == 0 and "E222" not in err + page and "pip install" not in err + page, err
    assert "NOT VERIFIED: digest" in page
    intact = _naming_a_plugin(passing, tmp_path / "intact.cert.json", seal=True)
    code, _, err = run_cli("report", fmt, intact, "-o", tmp_path / f"s.{fmt}")
    assert code == 2 and "[INVARLOCK:E222]" in err and not (tmp_path / f"s.{fmt}").exists()


def test_a_bound_that_rounds_to_the_limit_shows_the_digits_that_tell_them_apart() -> None:
    assert beside(1.1000049, 1.1) == "1.100005" and beside(1.0999999999, 1.1) == "1.0999999999"
    assert beside(1.1, 1.1) == "1.1" and beside(1.0421234, 1.1) == "1.0421" and beside(0.98999999, 0.99) == "0.98999999"
    assert beside(1.1000049, None) == "1.1"


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_the_headline_never_shows_a_failing_ci_bound_as_the_limit(passing, fmt):
    pm = passing.primary_metric
    near = msgspec.structs.replace(passing, primary_metric=msgspec.structs.replace(pm, display_ci=(1.05, 1.1000049)))
    page = report.render_report(c.seal(near), report_renderer(fmt))
    assert "1.100005" in page and "[1.05, 1.1]" not in page and "[1.05, 1.1\\]" not in page


def test_each_not_verified_line_is_a_paragraph_of_its_own(passing):
    forged = msgspec.structs.replace(passing, run_id="other", tool=msgspec.structs.replace(passing.tool, version="x"))
    md = report.render_report(forged, report_renderer("md"))
    quoted = [i for i, line in enumerate(md.splitlines()) if line.startswith("> **NOT VERIFIED")]
    assert len(quoted) >= 2 and all(md.splitlines()[i + 1] == "" for i in quoted), md[:600]


def test_math_in_a_certificate_string_stays_text_and_the_signature_hint_is_not_escaped(passing):
    assert md_escape("$\\color{green}{PASS}$") == "\\$\\\\color{green}{PASS}\\$"
    value = base64.b64encode(bytes(64)).decode("ascii")
    signed = sig.attach(passing, "ab" * 8, value)
    md = report.render_report(signed, report_renderer("md"))
    assert "not verified by this report: invarlock verify CERT --pubkey KEY.pub checks it" in md


def test_the_path_written_is_printed_with_its_control_characters_escaped(passing, tmp_path):
    cert = tmp_path / "a.cert.json"
    cert.write_bytes(c.to_bytes(passing))
    out = tmp_path / "t\x1b]0;PWNED\x07\x1b[2J.md"
    code, printed, err = run_cli("report", "md", cert, "-o", out)
    assert code == 0 and out.exists() and "\x1b" not in printed and "\\x1b]0;PWNED\\x07\\x1b[2J.md" in printed, err


def test_a_cosine_or_accuracy_bound_is_shown_apart_from_its_limit_too() -> None:
    from invarlock.adapters.report.cells import fixed, points
    from invarlock.adapters.report.metrics import _apart

    assert str(_apart(lambda v: fixed(v, 5), 0.99)(0.98999999)) == "0.98999999"
    assert str(_apart(points, -1.0)(-1.000001)) == "-1.000001 pp" and str(_apart(points, -1.0)(-1.0)) == "-1.00 pp"


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_verified_says_what_it_does_not_cover_and_stated_tables_say_whose_word_they_are(passing, fmt):
    # A resealed certificate whose edit.deltas claimed 1 module at 8 bits read "Verified" above an Edit table.
    page = report.render_report(passing, report_renderer(fmt))
    assert "Not recomputed: the evidence itself" in page and "NOT VERIFIED" not in page
    for title in ("deltas as the issuer states them", "Provenance (as the issuer states it", "Environment (as the"):
        assert title in page.replace("\\", ""), title


def test_dash_writes_the_page_to_stdout_and_no_file_named_dash(passing, tmp_path, monkeypatch):
    cert = tmp_path / "a.cert.json"
    cert.write_bytes(c.to_bytes(passing))
    monkeypatch.chdir(tmp_path)
    code, printed, err = run_cli("report", "md", cert, "-o", "-")
    assert code == 0 and not (tmp_path / "-").exists(), err
    assert printed == report.render_report(passing, report_renderer("md"), c.to_bytes(passing))


def test_a_bound_is_shown_on_its_own_side_of_a_limit_stated_with_more_digits(passing) -> None:
    # A ratio_limit override of 1.0999996 was printed 1.1 beside a failing bound 1.10004 printed 1.1 (regression hunt).
    assert beside(1.0999990, 1.0999996) == "1.099999" and beside(1.10004, 1.0999996) == "1.1"
    resolved = {**passing.policy.resolved, "gates": {**passing.policy.resolved["gates"], "ratio_limit": 1.0999996}}
    pm = passing.primary_metric
    near = msgspec.structs.replace(
        passing,
        policy=msgspec.structs.replace(passing.policy, resolved=resolved),
        primary_metric=msgspec.structs.replace(pm, display_ci=(1.002, 1.10004)),
    )
    md = report.render_report(c.seal(near), report_renderer("md"))
    assert "- CI: [1.002, 1.1]" in md and "- tier limit: 1.0999996" in md
    assert "limit 1.0999996" in report.render_report(c.seal(near), report_renderer("html"))
