"""A third-party plugin end to end: the real CLI, in a fresh process, finds the `scale_all` edit, the
`jsonl_prompt` dataset, the `mean_delta_nll` metric kind and the `max_abs_weight` guard of an installed
distribution by entry point,
certifies the demo model edited by it on real text, records the plugin's distribution and version in the
certificate's provenance, and the certificate verifies and replays; without the plugin, verify names the
distribution to install (E222). The plugin's broken entries, installed alongside, break nothing. `--verbose`
logs each scoring step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from invarlock.adapters.corpus_demo import open_demo_wikipedia

from tests.e2e.conftest import DEMO, InstalledPlugin, read_cert
from tests.e2e.conftest import plugin_cli as _cli

pytestmark = [pytest.mark.model, pytest.mark.slow]


def _prompts(path: Path, n: int = 12) -> Path:
    """Real text as prompt/completion records: each demo Wikipedia document split after its first sentence."""
    docs = [d for d in open_demo_wikipedia("validation").texts() if ". " in d][:n]
    records = [dict(zip(("prompt", "completion"), d.split(". ", 1), strict=True)) for d in docs]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_a_plugin_edit_dataset_and_metric_kind_certify_and_the_certificate_names_the_plugin(
    tmp_path: Path, installed_plugin: InstalledPlugin
) -> None:
    site = installed_plugin.site
    config = {
        "model": {"id": DEMO},
        "dataset": {
            "provider": "jsonl_prompt", "path": str(_prompts(tmp_path / "prompts.jsonl")),
            "seq_len": 32, "preview_n": 2, "final_n": 4, "calibration_n": 0, "seed": 7,
        },
        "edit": {"name": "scale_all", "plan": {"factor": 1.01}},
        "guards": {"order": ["invariants", "max_abs_weight", "invariants"], "max_abs_weight": {"max_ratio": 1.05}},
        "eval": {"metric": {"kind": "mean_delta_nll"}},
        "profile": "dev",
    }  # fmt: skip
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run = ("run", "-c", "cfg.yaml", "--events", "ev.duckdb", "--cert-out", "out", "--json")
    done = _cli(tmp_path, site, "--verbose", *run)
    assert done.returncode in (0, 1), done.stderr
    steps = [line for line in done.stderr.splitlines() if " done in " in line]
    assert len(steps) >= 2, f"--verbose logs each scoring step: {done.stderr}"
    summary = json.loads(done.stdout)
    cert = read_cert(tmp_path / "out" / "evaluation.cert.json")
    origin = f"{installed_plugin.name} {installed_plugin.version}"
    environment = cert["provenance"]["environment"]
    assert environment["plugin.edits.scale_all"] == environment["plugin.datasets.jsonl_prompt"] == origin
    assert environment["plugin.metrics.mean_delta_nll"] == origin and cert["primary_metric"]["unit"] == "nats per token"
    assert not any(key.startswith("plugin.adapters") for key in environment), "built-ins are not listed"
    assert cert["edit"]["name"] == "scale_all" and cert["edit"]["plan"] == {"factor": 1.01}
    assert cert["dataset"]["provider"] == "jsonl_prompt" and cert["edit"]["deltas"]["params_changed"] > 0
    guard = cert["guards"]["plugins"]["max_abs_weight"]  # the plugin's guard: scale 1.01 passes max_ratio 1.05
    assert environment["plugin.guards.max_abs_weight"] == origin and guard["verdict"] == "pass"
    assert cert["validation"]["plugin_guard_max_abs_weight_pass"] is True and guard["measurements"]["matrices"]
    verified = _cli(tmp_path, site, "verify", "out/evaluation.cert.json", "--events", "ev.duckdb", "--json")
    envelope = json.loads(verified.stdout)
    assert all(ch["ok"] for ch in envelope["checks"]), envelope["checks"]
    assert verified.returncode == done.returncode and envelope["verdict"] == summary["verdict"]
    replayed = _cli(tmp_path, site, "replay", cert["run_id"], "--events", "ev.duckdb", "--out", "replayed.json")
    assert replayed.returncode == 0, replayed.stderr
    assert (tmp_path / "replayed.json").read_bytes() == (tmp_path / "out" / "evaluation.cert.json").read_bytes()
    without = _cli(tmp_path, tmp_path / "no-plugins", "verify", "out/evaluation.cert.json")
    assert without.returncode == 2 and "[INVARLOCK:E222]" in without.stderr and origin in without.stderr
    report = _cli(tmp_path, tmp_path / "no-plugins", "report", "md", "out/evaluation.cert.json", "-o", "r.md")
    assert report.returncode == 2 and "[INVARLOCK:E222]" in report.stderr and not (tmp_path / "r.md").exists()
