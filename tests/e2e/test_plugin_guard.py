"""A third-party guard fails a certificate end to end: the real CLI, in a fresh process, runs the test plugin's
`max_abs_weight` guard (per-matrix max |w|, subject over baseline, against guards.max_abs_weight.max_ratio) on
the demo model scaled by 1.2 with the plugin's `scale_all`: every attention and FFN matrix fails it, and so does
the certificate (exit 1). verify re-decides it from the recorded measurements (exit 1, every check ok) and the
report shows the section and its violations. The passing scale, replay and verify without the plugin (E222) are
in tests/e2e/test_plugin_run.py (the same run as the plugin's edit, dataset and metric kind); recipient
policies, tampering and the re-execution audit are tested on the fakes (tests/unit/test_plugin_guard.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import DEMO, InstalledPlugin, read_cert
from tests.e2e.conftest import plugin_cli as _cli

pytestmark = [pytest.mark.model, pytest.mark.slow]
FLAG = "plugin_guard_max_abs_weight_pass"


def test_a_failing_plugin_guard_fails_the_certificate_and_verify_and_the_report_show_it(
    tmp_path: Path, installed_plugin: InstalledPlugin
) -> None:
    site = installed_plugin.site
    config = {
        "model": {"id": DEMO},
        "dataset": {"provider": "demo:wikipedia", "seq_len": 32, "preview_n": 2, "final_n": 2, "calibration_n": 0,
                    "seed": 7},
        "edit": {"name": "scale_all", "plan": {"factor": 1.2}},
        "guards": {"order": ["invariants", "max_abs_weight", "invariants"], "max_abs_weight": {"max_ratio": 1.05}},
        "profile": "dev",
    }  # fmt: skip
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = _cli(tmp_path, site, "run", "-c", "cfg.yaml", "--events", "ev.duckdb", "--cert-out", "out", "--json")
    assert done.returncode == 1, done.stderr
    cert = read_cert(tmp_path / "out" / "evaluation.cert.json")
    section = cert["guards"]["plugins"]["max_abs_weight"]
    assert f"{section['distribution']} {section['version']}" == f"{installed_plugin.name} {installed_plugin.version}"
    rows = section["measurements"]["matrices"]
    assert section["verdict"] == "fail" and [v["name"] for v in section["violations"]] == [r["name"] for r in rows]
    assert all(r["values"]["ratio"] == r["values"]["subject"] / r["values"]["baseline"] for r in rows)
    assert cert["validation"][FLAG] is False and FLAG in {f["flag"] for f in cert["verdict"]["failed"]}
    assert cert["policy"]["resolved"]["plugin_guards"]["max_abs_weight"]["settings"] == {"max_ratio": 1.05}
    verified = _cli(tmp_path, site, "verify", "out/evaluation.cert.json", "--events", "ev.duckdb", "--json")
    checks = {ch["name"]: ch for ch in json.loads(verified.stdout)["checks"]}
    assert verified.returncode == 1 and all(ch["ok"] for ch in checks.values()), checks
    assert "re-decided the recorded measurements" in checks["guard:max_abs_weight"]["detail"]
    report = _cli(tmp_path, site, "report", "md", "out/evaluation.cert.json", "-o", "report.md")
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert report.returncode == 0 and "Guard max\\_abs\\_weight" in text, report.stderr
    assert "max \\|w\\| ratio 1.200000 &gt; 1.05" in text, "the violations table"
