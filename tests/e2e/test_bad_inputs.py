"""Bad input: one line `ERROR [INVARLOCK:E###] what — fix`, no traceback, and nothing recorded but the failure.

Model mechanics here use tiny RANDOMLY INITIALISED GPT-2 checkpoints (their numbers mean nothing); the
failures must be caught before any window is scored, so no pretrained weights are needed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from ..integration.tiny_models import make_tiny_gpt2_dir
from .conftest import assert_one_line_error, invarlock, stream_types

pytestmark = [pytest.mark.slow, pytest.mark.hf]

DEV_DATA = {"provider": "demo:wikipedia", "seq_len": 64, "preview_n": 2, "final_n": 2, "seed": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny/ (baseline), tiny-other-vocab/ (another tokenizer), tiny-nan/ (one NaN weight), tiny-one-layer/ (its
    first block alone), and the other broken checkpoints of CASES."""
    import torch
    from safetensors.torch import load_file, save_file

    root = tmp_path_factory.mktemp("tiny")
    make_tiny_gpt2_dir(root / "tiny")
    make_tiny_gpt2_dir(root / "tiny-other-vocab", vocab_size=300)
    shutil.copytree(root / "tiny", root / "tiny-nan")
    weights = load_file(root / "tiny-nan" / "model.safetensors")
    weights["transformer.h.1.mlp.c_fc.weight"][3, 5] = torch.nan
    save_file(weights, root / "tiny-nan" / "model.safetensors", metadata={"format": "pt"})
    shutil.copytree(root / "tiny", root / "tiny-huge")  # finite, but its mean loss is far above 709 nats a token
    weights = load_file(root / "tiny-huge" / "model.safetensors")
    weights["transformer.wte.weight"] *= 1e4
    save_file(weights, root / "tiny-huge" / "model.safetensors", metadata={"format": "pt"})
    shutil.copytree(root / "tiny", root / "tiny-extra")  # a tensor no module of the model reads
    weights = load_file(root / "tiny-extra" / "model.safetensors")
    weights["transformer.h.0.extra.weight"] = torch.ones(4, 4)
    save_file(weights, root / "tiny-extra" / "model.safetensors", metadata={"format": "pt"})
    shutil.copytree(root / "tiny", root / "tiny-fewer")  # its config names fewer layers than its file holds
    config = json.loads((root / "tiny-fewer" / "config.json").read_text(encoding="utf-8"))
    (root / "tiny-fewer" / "config.json").write_text(json.dumps({**config, "n_layer": config["n_layer"] - 1}))
    shutil.copytree(root / "tiny", root / "tiny-one-layer")  # tiny's first block alone: n_layer as tiny-fewer's
    weights = load_file(root / "tiny-one-layer" / "model.safetensors")
    kept = {name: w for name, w in weights.items() if not name.startswith("transformer.h.1.")}
    save_file(kept, root / "tiny-one-layer" / "model.safetensors", metadata={"format": "pt"})
    (root / "tiny-one-layer" / "config.json").write_text(json.dumps({**config, "n_layer": config["n_layer"] - 1}))
    shutil.copytree(root / "tiny", root / "tiny-no-tokenizer", ignore=shutil.ignore_patterns("tokenizer*"))
    for name, key, value in (("tiny-arch", "architectures", "5"), ("tiny-deep", "nested", "[" * 10**5 + "]" * 10**5)):
        shutil.copytree(root / "tiny", root / name)
        config = json.loads((root / name / "config.json").read_text(encoding="utf-8"))
        config.pop(key, None)
        text = json.dumps(config)
        (root / name / "config.json").write_text(f'{{"{key}": {value}, {text[1:]}', encoding="utf-8")
    return root


def _preset(folder: Path, body: str) -> Path:
    path = folder / "preset.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def _dev_preset(folder: Path, dataset: dict[str, object] | None = None) -> Path:
    import yaml

    return _preset(folder, yaml.safe_dump({"dataset": dataset or DEV_DATA, "profile": "dev"}))


def _only_failure_recorded(db: Path) -> list[str]:
    """The one run in `db` ended in run_failed with no scores and no certificate; returns its event types."""
    [types] = stream_types(db).values()
    assert types[0] == "run_started" and types[-1] == "run_failed", types
    assert not {"windows_scored", "preview_assessed", "certificate_issued", "run_completed"} & set(types)
    return types


CASES = {
    "missing model path": ("no/such/model", "tiny", "E101", 2),
    "directory that is not a model": ("not-a-model", "tiny", "E102", 2),
    "different tokenizers": ("tiny", "tiny-other-vocab", "E002", 3),
    "subject with a NaN weight": ("tiny", "tiny-nan", "E402", 3),
    # found by the stop-38 hunt, each an E999 before (and the run recorded as never ending)
    "the home folder of no such user": ("~nosuchuser/model", "tiny", "E101", 2),
    "a name longer than the file system allows": ("m" * 300, "tiny", "E102", 2),
    "architectures that is no list": ("tiny-arch", "tiny", "E102", 2),
    "a config nested past the recursion limit": ("tiny-deep", "tiny", "E102", 2),
    # they certified with the baseline's weights digest: the digest is over what the model loads
    "a subject with a weight its model does not use": ("tiny", "tiny-extra", "E102", 2),
    "a subject whose config names fewer layers than its file": ("tiny-one-layer", "tiny-fewer", "E102", 2),
    # the preflight's shapes check: found before either model loads (the spectral guard met it after both had)
    "a subject whose config states fewer layers than the baseline's": ("tiny", "tiny-one-layer", "E002", 3),
    # transformers builds an empty tokenizer for it (or fails in several lines): this was "tokenizers differ" (E002)
    "a subject without tokenizer files": ("tiny", "tiny-no-tokenizer", "E102", 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_models_fail_in_one_line_and_record_only_the_failure(models: Path, tmp_path: Path, case: str) -> None:
    baseline, subject, code, exit_code = CASES[case]
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "notes.txt").write_text("weights are elsewhere", encoding="utf-8")
    names = (
        "tiny",
        "tiny-other-vocab",
        "tiny-nan",
        "tiny-arch",
        "tiny-deep",
        "tiny-extra",
        "tiny-fewer",
        "tiny-one-layer",
    )
    for name in (*names, "tiny-no-tokenizer"):
        (tmp_path / name).symlink_to(models / name)
    result = invarlock(
        "certify", "--baseline", baseline, "--subject", subject, "--preset", _dev_preset(tmp_path),
        "--events", "ev.duckdb", "--quiet", "--cert-out", "out", cwd=tmp_path,
    )  # fmt: skip
    line = assert_one_line_error(result, code, exit_code)
    types = _only_failure_recorded(tmp_path / "ev.duckdb")
    assert not (tmp_path / "out").exists()
    if case == "subject with a NaN weight":
        assert "transformer.h.1.mlp.c_fc.weight" in line and "model_fingerprinted" in types
    if case.startswith(("missing", "directory", "the home", "a name")):
        assert baseline in line and types == ["run_started", "run_failed"]
    if case.startswith("a subject with a weight"):
        assert "holds weights its model does not use: transformer.h.0.extra.weight" in line
    if case.endswith("than the baseline's"):
        assert "weight shapes differ: baseline tiny and subject tiny-one-layer state n_layer 2 vs 1" in line
        assert types == ["run_started", "run_failed"], "no model was loaded"
    if case.endswith("without tokenizer files"):
        assert "tiny-no-tokenizer has no tokenizer files (none of tokenizer.json" in line


def test_a_subject_whose_perplexity_overflows_float64_is_e402_and_recorded_failed(models: Path, tmp_path: Path) -> None:
    result = invarlock(
        "certify", "--baseline", models / "tiny", "--subject", models / "tiny-huge", "--preset", _dev_preset(tmp_path),
        "--events", "ev.duckdb", "--quiet", "--cert-out", "out", cwd=tmp_path,
    )  # fmt: skip
    assert "subject perplexity overflows" in assert_one_line_error(result, "E402", 3)
    [types] = stream_types(tmp_path / "ev.duckdb").values()
    assert types[-1] == "run_failed" and "certificate_issued" not in types


@pytest.mark.parametrize(
    ("text", "profile", "code", "exit_code"),
    [("", "dev", "E304", 2), ("Only a handful of words here.\n", "ci", "E303", 3)],
    ids=["empty corpus", "too-small corpus"],
)
def test_empty_or_too_small_corpus_is_refused(
    models: Path, tmp_path: Path, text: str, profile: str, code: str, exit_code: int
) -> None:
    (tmp_path / "corpus.txt").write_text(text, encoding="utf-8")
    windows = {"dev": (2, 2), "ci": (180, 200)}[profile]
    dataset = {"provider": "text", "path": "corpus.txt", "seq_len": 64, "preview_n": windows[0], "final_n": windows[1]}
    preset = _preset(tmp_path, f"dataset: {dataset}\nprofile: {profile}\n")
    result = invarlock(
        "certify", "--baseline", models / "tiny", "--subject", models / "tiny", "--preset", preset,
        "--events", "ev.duckdb", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert "corpus" in assert_one_line_error(result, code, exit_code)
    assert "windows_planned" not in _only_failure_recorded(tmp_path / "ev.duckdb")


def test_malformed_yaml_names_the_file_and_line_and_records_nothing(tmp_path: Path) -> None:
    config = _preset(tmp_path, "model: {id: demo\n  dataset: [\n")
    line = assert_one_line_error(invarlock("run", "-c", config, "--events", "ev.duckdb", cwd=tmp_path), "E201", 2)
    assert "preset.yaml: malformed YAML at line 2" in line
    assert not (tmp_path / "ev.duckdb").exists()


def test_unknown_config_key_is_named(tmp_path: Path) -> None:
    config = _preset(
        tmp_path, "model: {id: demo:smollm2-135m, devcie: cpu}\nedit: {name: quant_rtn, plan: {bits: 8}}\n"
    )
    line = assert_one_line_error(invarlock("run", "-c", config, "--events", "ev.duckdb", cwd=tmp_path), "E201", 2)
    assert "devcie" in line and not (tmp_path / "ev.duckdb").exists()


def test_unknown_tier_lists_the_tiers_and_records_nothing(models: Path, tmp_path: Path) -> None:
    result = invarlock(
        "certify", "--baseline", models / "tiny", "--subject", models / "tiny", "--preset", _dev_preset(tmp_path),
        "--tier", "strictest", "--events", "ev.duckdb", cwd=tmp_path,
    )  # fmt: skip
    line = assert_one_line_error(result, "E202", 2)
    assert "strictest" in line and "balanced" in line and not (tmp_path / "ev.duckdb").exists()


def test_windows_longer_than_the_models_position_table_stop_before_the_guards(models: Path, tmp_path: Path) -> None:
    # GPT-2's n_positions (128 in the tiny config): a longer window failed in the first forward pass, after the
    # guards had run, with an E102 that blamed the checkpoint ("index out of range in self").
    preset = _dev_preset(tmp_path, {**DEV_DATA, "seq_len": 129})
    args = ("--baseline", models / "tiny", "--subject", models / "tiny", "--preset", preset)
    line = assert_one_line_error(invarlock("certify", *args, "--events", "ev.duckdb", cwd=tmp_path), "E201", 2)
    assert f"dataset.seq_len 129 is longer than the baseline {models / 'tiny'}'s context of 128 positions" in line
    assert _only_failure_recorded(tmp_path / "ev.duckdb") == ["run_started", "run_failed"]
    doctor = invarlock("doctor", *args, cwd=tmp_path)
    assert doctor.code == 2 and "seq_len 129 is longer" in doctor.stdout + doctor.stderr


def _foreign_duckdb(path: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE measurements(x INTEGER)")
        con.execute("INSERT INTO measurements VALUES (42)")


@pytest.mark.parametrize("kind", ["text file", "foreign duckdb", "read-only store"])
def test_an_event_file_that_is_not_ours_or_read_only_is_left_untouched(models: Path, tmp_path: Path, kind: str) -> None:
    db = tmp_path / "ev.duckdb"
    preset = _dev_preset(tmp_path)
    if kind == "text file":
        db.write_text("these are my notes, not a database\n", encoding="utf-8")
    elif kind == "foreign duckdb":
        _foreign_duckdb(db)
    else:
        first = invarlock("certify", "--baseline", models / "tiny", "--subject", models / "tiny-nan",
                          "--preset", preset, "--events", db, "--quiet", cwd=tmp_path)  # fmt: skip
        assert first.code == 3
        db.chmod(0o444)
    before = db.read_bytes()
    result = invarlock(
        "certify", "--baseline", models / "tiny", "--subject", models / "tiny", "--preset", preset,
        "--events", db, "--quiet", cwd=tmp_path,
    )  # fmt: skip
    code = "E502" if kind == "read-only store" else "E501"
    assert str(db.name) in assert_one_line_error(result, code, 2)
    assert db.read_bytes() == before
