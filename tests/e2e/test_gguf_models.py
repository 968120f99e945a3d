"""GGUF models (`gguf:PATH`) through the real CLI: the packaged Q4_1 file against its converted checkpoint, and
a Q8_0 file written here with the `gguf` package against the float32 baseline. The text comes through
`provider: hf` from a `save_to_disk` folder of the demo news text, so the dataset section's fingerprint is
checked on the same runs."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from invarlock.domain import certificate as c

from tests.gguf_q8_0 import write_q8_0

from .conftest import DEMO, CompletedRun, read_cert, write_config
from .conftest import invarlock_in_process as invarlock

pytestmark = [pytest.mark.model, pytest.mark.slow]

# Few short windows and the invariants guard alone keep each certify near 30 s on 2 cores.
DATASET = {
    "provider": "hf",
    "split": "validation",
    "seq_len": 64,
    "preview_n": 4,
    "final_n": 8,
    "calibration_n": 0,
    "seed": 7,
}
GUARDS = {"order": ["invariants", "invariants"]}


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tensor_types(path: Path) -> dict[str, int]:
    import gguf

    return dict(Counter(t.tensor_type.name for t in gguf.GGUFReader(path).tensors))


@pytest.fixture(scope="module")
def news_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo news text as a `datasets` Dataset saved to disk (loaded back by `provider: hf`)."""
    import datasets
    from invarlock.adapters.corpus_demo import open_demo_news

    datasets.disable_progress_bars()
    folder = tmp_path_factory.mktemp("hf_news") / "news"
    datasets.Dataset.from_dict({"text": list(open_demo_news("validation").texts())}).save_to_disk(folder)
    return folder


def _certify(root: Path, subject: str, news: Path) -> CompletedRun:
    preset = write_config(root / "preset.yaml", dataset={**DATASET, "path": str(news)}, guards=GUARDS)
    result = invarlock(
        "certify", "--baseline", DEMO, "--subject", subject, "--preset", preset,
        "--cert-out", "out", "--events", "ev.duckdb", "--quiet", cwd=root,
    )  # fmt: skip
    return CompletedRun(root, root / "out" / "evaluation.cert.json", root / "ev.duckdb", result)


@pytest.fixture(scope="module")
def q4_1_run(tmp_path_factory: pytest.TempPathFactory, news_folder: Path) -> CompletedRun:
    from invarlock.adapters.hf_demo import gguf_path

    return _certify(tmp_path_factory.mktemp("gguf_q4_1"), f"gguf:{gguf_path()}", news_folder)


@pytest.fixture(scope="module")
def q8_0_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from invarlock.adapters.hf_demo import demo_model_dir, gguf_path

    return write_q8_0(demo_model_dir(), gguf_path(), tmp_path_factory.mktemp("q8_0") / "smollm2-q8_0.gguf")


def test_packaged_q4_1_gguf_scores_exactly_as_its_converted_checkpoint(q4_1_run: CompletedRun) -> None:
    from invarlock.adapters.hf_demo import gguf_path

    assert q4_1_run.result.code == 0, q4_1_run.result.stderr
    cert = read_cert(q4_1_run.cert)
    assert cert["primary_metric"]["ratio_vs_baseline"] == 1.0 and cert["primary_metric"]["display_ci"] == [1.0, 1.0]
    assert cert["baseline"]["weights_sha256"] == cert["subject"]["weights_sha256"]
    assert "gguf" not in cert["baseline"] and cert["schema_version"] == "v2"
    source = cert["subject"]["gguf"]
    assert source["file_sha256"] == _file_sha256(gguf_path())
    assert source["tensor_types"] == _tensor_types(gguf_path())
    assert set(source) == {"file_sha256", "tensor_types", "tensor_types_sha256", "metadata_sha256"}


def test_the_hf_dataset_fingerprint_is_recorded_and_the_certificate_replays_and_verifies(
    q4_1_run: CompletedRun, news_folder: Path
) -> None:
    import datasets

    dataset = read_cert(q4_1_run.cert)["dataset"]
    assert dataset["provider"] == "hf" and dataset["source"] == str(news_folder)
    assert dataset["fingerprint"] == datasets.load_from_disk(str(news_folder))._fingerprint
    assert "revision" not in dataset  # local data has no revision
    replayed = q4_1_run.root / "replayed.json"
    result = invarlock("replay", q4_1_run.run_id, "--events", q4_1_run.events, "-o", replayed, cwd=q4_1_run.root)
    assert result.code == 0, result.stderr
    assert replayed.read_bytes() == q4_1_run.cert.read_bytes()
    verified = invarlock("verify", q4_1_run.cert, "--events", q4_1_run.events, "--json", cwd=q4_1_run.root)
    assert verified.code == 0, verified.stdout + verified.stderr


RECOMPUTE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "recompute_gguf.py"


def test_the_stdlib_recompute_script_agrees_with_the_record_and_catches_another_file(
    q4_1_run: CompletedRun, q8_0_file: Path
) -> None:
    from invarlock.adapters.hf_demo import gguf_path

    def recompute(role: str, file: Path) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, RECOMPUTE, q4_1_run.cert, role, file]
        return subprocess.run(args, capture_output=True, text=True, timeout=120)

    same = recompute("subject", gguf_path())
    assert same.returncode == 0 and "gguf record: OK" in same.stdout, same.stdout + same.stderr
    other = recompute("subject", q8_0_file)
    assert other.returncode == 1 and "4 field(s) differ" in other.stdout, other.stdout + other.stderr
    assert recompute("baseline", gguf_path()).returncode == 2  # the baseline was no GGUF file: bad input


def _resealed(run: CompletedRun, name: str, change: Any) -> Path:
    data = json.loads(run.cert.read_bytes())
    change(data)
    out = run.root / f"tampered-{name}.json"
    out.write_bytes(c.to_bytes(c.seal(msgspec.convert(data, c.Certificate))))
    return out


def test_a_resealed_gguf_or_dataset_record_fails_verify(q4_1_run: CompletedRun) -> None:
    forged = {
        "gguf-sha": lambda d: d["subject"]["gguf"].__setitem__("file_sha256", "0" * 64),
        "gguf-types": lambda d: d["subject"]["gguf"]["tensor_types"].__setitem__("Q4_1", 1),
        "fingerprint": lambda d: d["dataset"].__setitem__("fingerprint", "feedfacecafebeef"),
    }
    for name, change in forged.items():
        tampered = _resealed(q4_1_run, name, change)
        result = invarlock("verify", tampered, "--events", q4_1_run.events, "--json", cwd=q4_1_run.root)
        assert result.code == 3, (name, result.stdout)
        assert "events" in [k["name"] for k in json.loads(result.stdout)["checks"] if not k["ok"]], name


def test_a_q8_0_gguf_written_with_the_gguf_package_certifies_against_the_fp32_baseline(
    tmp_path: Path, q8_0_file: Path, news_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from invarlock.adapters.hf_demo import demo_model_dir

    # The Q8_0 conversion (538 MB) goes to a cache of this test's own; the baseline's is linked in.
    models = tmp_path / "cache" / "models"
    models.mkdir(parents=True)
    (models / demo_model_dir().name).symlink_to(demo_model_dir())
    monkeypatch.setenv("INVARLOCK_CACHE_DIR", str(tmp_path / "cache"))
    run = _certify(tmp_path, f"gguf:{q8_0_file}", news_folder)
    assert [p.name for p in models.iterdir() if not p.is_symlink()] == [f"gguf-{_file_sha256(q8_0_file)[:16]}"]
    assert run.result.code == 0, run.result.stderr
    cert = read_cert(run.cert)
    assert cert["verdict"]["status"] == "PASS"
    assert cert["baseline"]["weights_sha256"] != cert["subject"]["weights_sha256"]
    ratio = cert["primary_metric"]["ratio_vs_baseline"]
    assert (
        ratio != 1.0 and cert["primary_metric"]["display_ci"][1] <= cert["policy"]["resolved"]["gates"]["ratio_limit"]
    )
    source = cert["subject"]["gguf"]
    assert source["file_sha256"] == _file_sha256(q8_0_file)
    assert source["tensor_types"] == _tensor_types(q8_0_file) and set(source["tensor_types"]) == {"F32", "Q8_0"}
    assert cert["secondary_metrics"]["kl_divergence"]["mean"] > 0.0
    verified = invarlock("verify", run.cert, "--events", run.events, "--json", cwd=tmp_path)
    assert verified.code == 0, verified.stdout + verified.stderr
