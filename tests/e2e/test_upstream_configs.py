"""InvarLock 0.3.7 users' files through the real CLI: a full upstream-style preset and edit overlay certify a
bare hub id (`--adapter auto --baseline gpt2`) found in a real HF cache; the README's minimal config and the
wikitext2_512 preset run up to their network-only dataset, which stops with one line naming
INVARLOCK_ALLOW_NETWORK (before any weights load)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import assert_one_line_error, invarlock, read_cert
from tests.integration.hub_cache import cache_checkpoint

pytestmark = pytest.mark.model

ROOT = Path(__file__).parents[2]
UPSTREAM = ROOT / "tests" / "fixtures" / "upstream_0_3_7"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An HF hub cache holding the demo checkpoint as `gpt2` (the model the 0.3.7 presets name)."""
    from invarlock.adapters.hf_loader import demo_model_dir

    cache = tmp_path_factory.mktemp("hub")
    cache_checkpoint(cache, "gpt2", demo_model_dir())
    return cache


def write_corpus(path: Path, documents: int = 40) -> None:
    from invarlock.adapters.corpus_demo import open_demo_wikipedia

    texts = list(open_demo_wikipedia("validation").texts())[:documents]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")


def test_upstream_preset_and_edit_overlay_certify_a_bare_hub_id(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    for name in ("preset_local_jsonl.yaml", "quant_rtn_8bit_attn.yaml"):
        shutil.copy(UPSTREAM / name, tmp_path / name)
    write_corpus(tmp_path / "corpus.jsonl")
    args = ["--baseline", "gpt2", "--subject", "gpt2", "--adapter", "auto", "--profile", "dev"]
    edit = ["--preset", "preset_local_jsonl.yaml", "--edit-config", "quant_rtn_8bit_attn.yaml"]
    result = invarlock("certify", *args, *edit, "--events", "ev.duckdb", "--quiet", "--json", cwd=tmp_path)

    assert result.code in (0, 1) and "Traceback" not in result.stderr, result.stderr
    summary = json.loads(result.stdout)
    cert = read_cert(Path(tmp_path, summary["certificate"]))
    assert Path(summary["certificate"]).parent.parent == Path("runs")  # output.dir of the preset
    assert cert["baseline"]["ref"] == cert["subject"]["ref"] == "gpt2"
    assert cert["edit"]["plan"] == {
        "bits": 8,
        "scope": "attn",
        "group_size": 128,
        "clamp_percentile": 0.0,
        "clamp_ratio": 0.005,
        "max_modules": 12,
    }
    assert len(cert["edit"]["deltas"]["modules_changed"]) == 12
    config = cert["provenance"]["config"]
    assert config["dataset"]["provider"] == "jsonl" and config["dataset"]["file"] == "corpus.jsonl"
    pins = cert["policy"]["resolved"]["overrides"]["guards"]
    assert pins["variance"]["min_effect"] == cert["policy"]["resolved"]["guards"]["variance"]["min_effect"] == 9e-4
    verified = invarlock("verify", summary["certificate"], "--events", "ev.duckdb", cwd=tmp_path)
    assert verified.code == result.code, verified.stdout + verified.stderr


NETWORK_ONLY = {
    "0.3.7 README minimal config": ["run", "-c", str(UPSTREAM / "minimal.yaml")],
    "wikitext2_512 preset": [
        "certify",
        "--adapter",
        "auto",
        "--baseline",
        "gpt2",
        "--subject",
        "gpt2",
        "--preset",
        str(ROOT / "configs" / "presets" / "causal_lm" / "wikitext2_512.yaml"),
    ],
}


@pytest.mark.parametrize("command", NETWORK_ONLY.values(), ids=NETWORK_ONLY.keys())
def test_network_only_data_stops_offline_with_one_line_naming_invarlock_allow_network(
    command: list[str], hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    result = invarlock(*command, "--profile", "dev", "--events", "ev.duckdb", cwd=tmp_path)

    line = assert_one_line_error(result, "E301", 2)
    assert "WikiText-2" in line and "INVARLOCK_ALLOW_NETWORK=1" in line
