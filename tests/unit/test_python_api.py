"""The Python API at the top of the package: light to import, typed errors with the CLI's E-codes, and the same
verify outcome as `invarlock verify` (model-free: certificates from the fakes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import invarlock
import pytest
from click.testing import CliRunner, Result
from invarlock.cli.main import cli
from invarlock.domain import certificate as c
from invarlock.domain.policy import REEXECUTION_DEFAULT_SAMPLE

from tests.fakes.certificates import fake_certificate, resealed

HEAVY = ("torch", "transformers", "duckdb", "datasets", "safetensors")


def _cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_importing_invarlock_and_its_api_names_loads_no_heavy_runtime() -> None:
    code = (
        "import sys, invarlock\n"
        "names = [getattr(invarlock, n) for n in invarlock.__all__]\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_name_resolves_and_unknown_names_raise_attribute_error() -> None:
    assert all(getattr(invarlock, name) is not None for name in invarlock.__all__)
    assert invarlock.Certificate is c.Certificate and isinstance(invarlock.__version__, str)
    with pytest.raises(AttributeError):
        _ = invarlock.no_such_name  # type: ignore[attr-defined]


def test_verify_of_a_file_gives_the_report_the_cli_prints(tmp_path: Path) -> None:
    path = tmp_path / "cert.json"
    path.write_bytes(c.to_bytes(fake_certificate()))
    report = invarlock.verify(path)
    done = _cli("verify", str(path), "--json")
    envelope = json.loads(done.output)
    assert report.ok and report.verdict == envelope["verdict"] == "PASS" and report.exit_code == done.exit_code == 0
    assert [ch.name for ch in report.checks] == [ch["name"] for ch in envelope["checks"]]


def test_verify_under_a_stricter_recipient_tier_re_decides_the_verdict(tmp_path: Path) -> None:
    cert = fake_certificate(quality=1.025)  # PASS at balanced, FAIL at conservative's tighter ratio limit
    assert invarlock.verify(cert).verdict == "PASS"
    strict = invarlock.verify(cert, tier="conservative")
    assert strict.exit_code == 1 and "recipient_policy" in [ch.name for ch in strict.checks if not ch.ok]
    by_mapping = invarlock.verify(cert, policy={"tier": "conservative"})
    assert [(ch.name, ch.ok) for ch in by_mapping.checks] == [(ch.name, ch.ok) for ch in strict.checks]


def test_a_tampered_certificate_fails_integrity_in_the_report_not_as_an_exception() -> None:
    cert = fake_certificate()
    forged = resealed(cert, primary_metric=c.msgspec.structs.replace(cert.primary_metric, ratio_vs_baseline=0.5))
    report = invarlock.verify(forged)
    assert report.exit_code == 3 and not report.ok


@pytest.mark.parametrize(
    ("given", "option"),
    [({"sample": 4}, "--sample"), ({"sample": None}, "--sample"), ({"sample_seed": 0}, "--sample-seed"),
     ({"device": "cpu"}, "--device"), ({"exact": True}, "--exact"), ({"sequential": True}, "--sequential")],
)  # fmt: skip
def test_verify_refuses_audit_settings_without_models_to_audit(given: dict[str, object], option: str) -> None:
    with pytest.raises(invarlock.UsageError) as refused:
        invarlock.verify(fake_certificate(), **given)  # type: ignore[arg-type]
    assert refused.value.code == "E200" and refused.value.message.startswith(f"{option} applies to the re-execution")
    assert invarlock.verify(fake_certificate(), sample=REEXECUTION_DEFAULT_SAMPLE).ok  # as when not given


def test_errors_are_invarlock_errors_carrying_the_cli_code(tmp_path: Path) -> None:
    with pytest.raises(invarlock.UsageError) as missing:
        invarlock.load_certificate(tmp_path / "nope.json")
    assert missing.value.code == "E600" and missing.value.exit_code == 2 and missing.value.hint
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(invarlock.InvarlockError) as bad:
        invarlock.verify(tmp_path / "bad.json")
    assert bad.value.code == "E601"
    with pytest.raises(invarlock.UsageError) as clash:
        invarlock.verify(fake_certificate(), tier="conservative", policy={"tier": "aggressive"})
    assert clash.value.code == "E200"
    with pytest.raises(invarlock.UsageError) as config:
        invarlock.certify("a", "b", config={"dataset": {"seqlen": 3}}, events=tmp_path / "ev.duckdb")
    assert config.value.code == "E201" and "dataset.seqlen" in config.value.message
    assert not (tmp_path / "ev.duckdb").exists(), "a bad config is refused before the store is opened"


def test_replay_of_a_missing_event_store_is_an_error_with_its_code(tmp_path: Path) -> None:
    with pytest.raises(invarlock.InvarlockError) as caught:
        invarlock.replay("no-such-run", events=tmp_path / "ev.duckdb")
    assert caught.value.code == "E506" and not (tmp_path / "ev.duckdb").exists()


def test_render_report_returns_the_page_the_cli_writes(tmp_path: Path) -> None:
    path = tmp_path / "cert.json"
    path.write_bytes(c.to_bytes(fake_certificate()))
    page = invarlock.render_report(path, "md")
    assert _cli("report", "md", str(path), "-o", str(tmp_path / "r.md")).exit_code == 0
    assert page == (tmp_path / "r.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["HTML", "pdf", ""])
def test_render_report_refuses_a_format_it_does_not_write(tmp_path: Path, fmt: str) -> None:
    """Any format but exactly "html" gave the Markdown page (the docs hunt)."""
    path = tmp_path / "cert.json"
    path.write_bytes(c.to_bytes(fake_certificate()))
    with pytest.raises(invarlock.InvarlockError) as caught:
        invarlock.render_report(path, fmt)  # type: ignore[arg-type]
    assert caught.value.code == "E200" and f"report format {fmt!r} is not one of 'html', 'md'" in caught.value.message
