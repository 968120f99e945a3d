"""`invarlock report html` in a subprocess, rendered by headless Chromium (Debian `chromium`), no model needed.

Chromium's `--blink-settings=scriptEnabled=false` makes headless screenshots silently produce nothing, so the
"renders without JavaScript" proof is different: the page ships a Content-Security-Policy of `default-src
'none'`, and a copy with an injected <script> is shown, in the same browser, not to run it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from invarlock.domain import certificate as c

from tests.fakes.certificates import EVIL_REF, fake_certificate

from .conftest import assert_one_line_error, invarlock
from .png_pixels import colours, read_pixels

PASS_GREEN, FAIL_RED = (0x1A, 0x7F, 0x37), (0xCF, 0x22, 0x2E)
BROWSER_TIMEOUT_S = 120


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("INVARLOCK_ALLOW_SKIP_BROWSER") == "1":
            pytest.skip("chromium is not installed (INVARLOCK_ALLOW_SKIP_BROWSER=1)")
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (make test does this as root)")
    return found


def _browse(page: Path, profile: Path, *action: str) -> str:
    args = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1200,1600",
        *action,
        page.resolve().as_uri(),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _report(tmp_path: Path, cert: c.Certificate, name: str) -> Path:
    cert_path = tmp_path / f"{name}.cert.json"
    cert_path.write_bytes(c.to_bytes(cert))
    out = tmp_path / "reports" / f"{name}.html"
    result = invarlock("report", "html", cert_path, "-o", out, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == str(out)
    return out


def _keep_artifact(path: Path) -> None:
    folder = os.environ.get("INVARLOCK_TEST_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


@pytest.mark.parametrize(("quality", "verdict", "banner"), [(1.002, "PASS", PASS_GREEN), (3.0, "FAIL", FAIL_RED)])
def test_report_renders_in_headless_chromium_with_verdict_banner(tmp_path, quality, verdict, banner):
    page = _report(tmp_path, fake_certificate(quality=quality), verdict.lower())
    shot = tmp_path / f"report-{verdict.lower()}.png"
    _browse(page, tmp_path / "profile-shot", f"--screenshot={shot}")
    _keep_artifact(shot)
    width, height, rows = read_pixels(shot.read_bytes())
    seen = colours(rows)
    assert (width, height) == (1200, 1600)
    assert len(seen) > 50, "screenshot is (nearly) blank"
    assert banner in seen, f"the {verdict} banner colour is not on screen"
    dom = _browse(page, tmp_path / "profile-dom", "--dump-dom")
    assert f'id="verdict"><b>{verdict}</b>' in dom


def test_script_in_a_model_ref_stays_text_and_injected_script_does_not_run(tmp_path):
    page = _report(tmp_path, fake_certificate(EVIL_REF), "evil")
    html = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    injected = tmp_path / "injected.html"
    injected.write_text(html.replace("</body>", "<script>document.title='JS-RAN'</script></body>"), encoding="utf-8")
    dom = _browse(injected, tmp_path / "profile-js", "--dump-dom")
    assert "<title>JS-RAN</title>" not in dom, "the page's Content-Security-Policy let a script run"
    assert EVIL_REF in dom.replace("&lt;", "<").replace("&gt;", ">")  # shown as text, not executed


def test_a_file_that_is_not_a_certificate_is_a_one_line_e601_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json", encoding="utf-8")
    result = invarlock("report", "md", bad, "-o", tmp_path / "r.md", cwd=tmp_path)
    assert_one_line_error(result, "E601", 2)
    assert not (tmp_path / "r.md").exists()


def test_real_certificate_heat_maps_reach_the_browser_dom_with_exactly_the_flagged_matrices_outlined(tmp_path):
    """The store_v1 certificate (SmolLM2-135M, RTN int4, real guard measurements): Chromium parses the inline
    SVG heat maps, and the outlined cells it holds are the spectral and RMT violations, nothing else."""
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "run.cert.json"
    cert = c.from_bytes(fixture.read_bytes())
    page = _report(tmp_path, cert, "real")
    dom = _browse(page, tmp_path / "profile-real", "--dump-dom")
    spectral, rmt = cert.guards.spectral, cert.guards.rmt
    assert spectral is not None and rmt is not None
    flagged = [v.name for v in spectral.violations] + [v.name for v in rmt.violations]
    outlined = re.findall(r'class="cell flagged"[^>]*><title>([^:<]+):', dom)
    assert sorted(outlined) == sorted(flagged) and len(flagged) >= 3
    shot = tmp_path / "report-real.png"
    _browse(page, tmp_path / "profile-real-shot", f"--screenshot={shot}")
    _keep_artifact(shot)
    assert len(colours(read_pixels(shot.read_bytes())[2])) > 50, "screenshot is (nearly) blank"


def test_two_processes_write_the_same_report_bytes_for_the_same_certificate(tmp_path, monkeypatch):
    """Each subprocess gets its own string-hash seed: nothing in a report may depend on set or hash order."""
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "run.cert.json"
    for fmt in ("html", "md"):
        pages = []
        for seed in ("1", "2"):
            monkeypatch.setenv("PYTHONHASHSEED", seed)
            out = tmp_path / f"{seed}.{fmt}"
            assert invarlock("report", fmt, fixture, "-o", out, cwd=tmp_path).code == 0
            pages.append(out.read_bytes())
        assert pages[0] == pages[1]
