"""A third-party guard end to end: the real CLI, in a fresh process, runs the test plugin's `max_abs_weight`
guard (per-matrix max |w|, subject over baseline, against guards.max_abs_weight.max_ratio) on the demo model
edited by the plugin's `scale_all`: a small scale passes it, a large one fails it and the certificate. verify
re-decides it from the recorded measurements, replay rebuilds the certificate byte for byte, the report shows its
section, and without the plugin verify and replay name the distribution to install (E222). Two small runs share
one event file; recipient policies, tampering and the re-execution audit are tested on the fakes
(tests/unit/test_plugin_guard.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import DEMO, read_cert
from tests.plugins.install import install_plugin

pytestmark = [pytest.mark.model, pytest.mark.slow]
FLAG = "plugin_guard_max_abs_weight_pass"


def _cli(cwd: Path, site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INVARLOCK_ALLOW_NETWORK": "0", "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env.pop("INVARLOCK_DEBUG", None)
    command = [sys.executable, "-m", "invarlock", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _config(path: Path, factor: float) -> Path:
    config = {
        "model": {"id": DEMO},
        "dataset": {"provider": "demo:wikipedia", "seq_len": 32, "preview_n": 2, "final_n": 2, "calibration_n": 0,
                    "seed": 7},
        "edit": {"name": "scale_all", "plan": {"factor": factor}},
        "guards": {"order": ["invariants", "max_abs_weight", "invariants"],
                   "max_abs_weight": {"max_ratio": 1.05}},
        "profile": "dev",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two runs into one event store: scale 1.01 (passes max_ratio 1.05) and scale 1.2 (fails it)."""
    root = tmp_path_factory.mktemp("plugin_guard")
    site = root / "site"
    plugin = install_plugin(site)
    done = {}
    for label, factor in (("pass", 1.01), ("fail", 1.2)):
        cfg = _config(root / f"{label}.yaml", factor)
        done[label] = _cli(root, site, "run", "-c", cfg.name, "--events", "ev.duckdb", "--cert-out", label, "--json")
    return {"root": root, "site": site, "origin": f"{plugin['name']} {plugin['version']}", "done": done}


def _cert(runs: dict[str, Any], label: str) -> dict[str, Any]:
    return read_cert(runs["root"] / label / "evaluation.cert.json")


def test_the_plugin_guard_runs_records_its_section_and_gates_the_certificate(runs: dict[str, Any]) -> None:
    passed, failed = _cert(runs, "pass"), _cert(runs, "fail")
    assert runs["done"]["pass"].returncode == 0, runs["done"]["pass"].stderr
    assert runs["done"]["fail"].returncode == 1, runs["done"]["fail"].stderr
    section = passed["guards"]["plugins"]["max_abs_weight"]
    assert section["distribution"] + " " + section["version"] == runs["origin"] and section["verdict"] == "pass"
    rows = section["measurements"]["matrices"]
    assert rows and all(r["values"]["ratio"] == r["values"]["subject"] / r["values"]["baseline"] for r in rows)
    assert passed["provenance"]["environment"]["plugin.guards.max_abs_weight"] == runs["origin"]
    assert passed["validation"][FLAG] is True and passed["verdict"]["status"] == "PASS"
    assert passed["provenance"]["config"]["guards"]["max_abs_weight"] == {"max_ratio": 1.05}
    assert passed["policy"]["resolved"]["plugin_guards"]["max_abs_weight"]["settings"] == {"max_ratio": 1.05}
    bad = failed["guards"]["plugins"]["max_abs_weight"]
    assert bad["verdict"] == "fail" and len(bad["violations"]) == len(bad["measurements"]["matrices"])
    assert failed["validation"][FLAG] is False and FLAG in {f["flag"] for f in failed["verdict"]["failed"]}


def test_verify_re_decides_the_plugin_guard_from_its_recorded_measurements(runs: dict[str, Any]) -> None:
    root, site = runs["root"], runs["site"]
    for label, code in (("pass", 0), ("fail", 1)):
        done = _cli(root, site, "verify", f"{label}/evaluation.cert.json", "--events", "ev.duckdb", "--json")
        checks = {ch["name"]: ch for ch in json.loads(done.stdout)["checks"]}
        assert done.returncode == code and checks["guard:max_abs_weight"]["ok"], done.stdout + done.stderr
        assert all(ch["ok"] for ch in checks.values()), checks


def test_replay_rebuilds_it_and_the_report_shows_the_plugin_section(runs: dict[str, Any]) -> None:
    root, site = runs["root"], runs["site"]
    run_id = _cert(runs, "pass")["run_id"]
    replayed = _cli(root, site, "replay", run_id, "--events", "ev.duckdb", "--out", "replayed.json")
    assert replayed.returncode == 0, replayed.stderr
    assert (root / "replayed.json").read_bytes() == (root / "pass" / "evaluation.cert.json").read_bytes()
    report = _cli(root, site, "report", "md", "fail/evaluation.cert.json", "-o", "report.md")
    text = (root / "report.md").read_text(encoding="utf-8")
    assert report.returncode == 0 and "Guard max\\_abs\\_weight" in text, report.stderr
    assert "max \\|w\\| ratio 1.200000 &gt; 1.05" in text, "the violations table"


def test_without_the_plugin_verify_and_replay_name_the_distribution_to_install(runs: dict[str, Any]) -> None:
    root, nowhere = runs["root"], runs["root"] / "no-plugins"
    run_id = _cert(runs, "pass")["run_id"]
    for args in (("verify", "pass/evaluation.cert.json"), ("replay", run_id, "--events", "ev.duckdb")):
        done = _cli(root, nowhere, *args)
        assert done.returncode == 2 and "[INVARLOCK:E222]" in done.stderr and runs["origin"] in done.stderr
        assert "guard 'max_abs_weight'" in done.stderr and "Traceback" not in done.stderr
