"""`invarlock doctor` on the real demo model and real text: a clean config is ready and records nothing; a run
that certify stops before loading a model (too few windows, another tokenizer, other weight shapes) is the
doctor's first error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.cli import run_cli

from .conftest import DEMO, stream_types, write_config

pytestmark = [pytest.mark.model, pytest.mark.slow]

ENCODER = "demo:minilm-l6"  # an encoder with its own (WordPiece) tokenizer
NEWS = {"provider": "demo:news", "seq_len": 64, "preview_n": 4, "final_n": 8, "seed": 7}  # 9x fewer tokens than wiki
EDIT = {"name": "quant_rtn", "plan": {"bits": 8}}


def test_a_clean_config_is_ready_and_the_doctor_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "run.yaml", dataset=NEWS, edit=EDIT)
    code, out, err = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json")
    report = json.loads(out)
    assert code == 0 and report["resolution"]["ready"], out + err
    codes = {f["code"]: f["message"] for f in report["findings"]}
    assert report["summary"]["errors"] == 0 and {"D902", "D904", "D907", "D909"} <= set(codes)
    assert "planned preview 4, final 8" in codes["D904"]
    assert codes["D914"] == "windows of 64 tokens fit the baseline's context of 8192 positions"  # its config.json
    assert codes["D918"] == "the baseline's adapter hf_causal scores eval.metric.kind ppl_causal"
    assert not (tmp_path / "ev.duckdb").exists() and list(tmp_path.iterdir()) == [config]
    assert "D919" not in codes  # quant_rtn names no weight


def test_the_weight_a_diagnostic_edit_names_is_found_among_the_models(tmp_path: Path) -> None:
    edit = {"name": "scale_weight", "plan": {"weight": "lm_head.weight", "factor": 3}}  # the tied head's alias
    config = write_config(tmp_path / "run.yaml", dataset=NEWS, edit=edit)
    code, out, err = run_cli("doctor", "-c", config, "--events", str(tmp_path / "ev.duckdb"), "--json")
    codes = {f["code"]: f["message"] for f in json.loads(out)["findings"]}
    assert code == 0, out + err
    assert codes["D919"] == f"the scale_weight plan names 2-D parameters of the baseline {DEMO}"


def _too_small_corpus(folder: Path) -> list[str]:
    (folder / "small.txt").write_text("Only a handful of words here, far too few for 388 windows.\n", encoding="utf-8")
    dataset = {"provider": "text", "path": "small.txt", "seq_len": 64}
    return ["--baseline", DEMO, "--subject", DEMO, "--preset", str(write_config(folder / "p.yaml", dataset=dataset))]


def _other_tokenizer(folder: Path) -> list[str]:
    return ["--baseline", DEMO, "--subject", ENCODER, "--preset", str(write_config(folder / "p.yaml", dataset=NEWS))]


def _demo_but(folder: Path, name: str, replaced: str) -> tuple[Path, list[str]]:
    """A folder `name` of links to the demo's files but `replaced` (the caller writes it), and certify's arguments
    with it as the subject: the demo's tokenizer and weights, one file otherwise."""
    from invarlock.adapters.hf_loader import demo_model_dir

    target = folder / name
    target.mkdir()
    for item in demo_model_dir().iterdir():
        if item.name != replaced:
            (target / item.name).symlink_to(item)
    preset = write_config(folder / "p.yaml", dataset=NEWS)
    return target / replaced, ["--baseline", DEMO, "--subject", str(target), "--preset", str(preset)]


def _demo_config() -> dict[str, Any]:
    from invarlock.adapters.hf_loader import demo_model_dir

    config: dict[str, Any] = json.loads((demo_model_dir() / "config.json").read_text(encoding="utf-8"))
    return config


def _other_shapes(folder: Path) -> list[str]:
    """The demo without its last layer (config.json and weights): its tokenizer, other weight shapes."""
    from safetensors.torch import load_file, save_file

    args = _config_of_fewer_layers(folder)
    weights = folder / "fewer-layers" / "model.safetensors"
    last = f".layers.{_demo_config()['num_hidden_layers'] - 1}."
    kept = {name: tensor for name, tensor in load_file(weights).items() if last not in name}
    weights.unlink()
    save_file(kept, weights, metadata={"format": "pt"})
    return args


def _config_of_fewer_layers(folder: Path) -> list[str]:
    """The demo's files with a config.json of one layer fewer: the last layer's weights are in no module; one model
    at a time, the subject's load refused them after the baseline's whole pass (the export hunt, stop 71)."""
    config, args = _demo_but(folder, "fewer-layers", "config.json")
    fewer = _demo_config()
    fewer["num_hidden_layers"] -= 1
    config.write_text(json.dumps(fewer), encoding="utf-8")
    return args


def _quantized_subject(folder: Path) -> list[str]:
    """The demo's files with an AWQ quantization_config and no gptqmodel: one model at a time, it stopped only
    after the baseline's whole pass (E102), before the preflight asked transformers' quantizer."""
    import importlib.util

    if importlib.util.find_spec("gptqmodel") is not None:
        pytest.skip("gptqmodel is installed here")
    config, args = _demo_but(folder, "awq", "config.json")
    quantized = _demo_config()
    quantized["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"}
    config.write_text(json.dumps(quantized), encoding="utf-8")
    return args


def _truncated_subject(folder: Path) -> list[str]:
    """The demo's files with its weights cut after 1 MiB (an interrupted copy): one model at a time, the subject's
    load found it only after the baseline's whole pass."""
    from invarlock.adapters.hf_loader import demo_model_dir

    weights, args = _demo_but(folder, "cut", "model.safetensors")
    with (demo_model_dir() / "model.safetensors").open("rb") as whole:
        weights.write_bytes(whole.read(2**20))
    return args


def _config_not_its_weights(folder: Path) -> list[str]:
    """The demo's files with a config.json of one key/value head: the same layers (the `shapes` check passes), key
    and value weights of three heads. One model at a time, the subject's load refused it after the baseline's pass."""
    config, args = _demo_but(folder, "fewer-kv-heads", "config.json")
    fewer = _demo_config()
    fewer["num_key_value_heads"] = 1
    config.write_text(json.dumps(fewer), encoding="utf-8")
    return args


def _k_not_below_the_rank(folder: Path) -> list[str]:
    """remove_top_singular of all 576 components of a 576 × 576 weight: refused when the edit applied."""
    edit = {"name": "remove_top_singular", "plan": {"weight": "model.layers.15.self_attn.o_proj.weight", "k": 576}}
    (folder / "e.yaml").write_text(json.dumps({"edit": edit}), encoding="utf-8")
    preset = write_config(folder / "p.yaml", dataset=NEWS)
    return ["--baseline", DEMO, "--subject", DEMO, "--edit-config", str(folder / "e.yaml"), "--preset", str(preset)]


def _short_windows_held_alone(folder: Path) -> list[str]:
    """One model at a time with KL measured on windows of 16 tokens, too short to keep: refused after the baseline's
    load and fingerprint."""
    dataset = {**NEWS, "seq_len": 16, "stride": 16}
    preset = write_config(folder / "p.yaml", dataset=dataset, eval={"sequential": True})
    return ["--baseline", DEMO, "--subject", DEMO, "--preset", str(preset)]


def _unscored_kind(folder: Path) -> list[str]:
    """A masked-LM perplexity of the causal demo: it stopped once scored, blaming the adapter (E223), before the
    `kind` check."""
    preset = write_config(folder / "p.yaml", dataset=NEWS, eval={"metric": {"kind": "ppl_mlm"}})
    return ["--baseline", DEMO, "--subject", DEMO, "--preset", str(preset)]


def _misspelt_weight(folder: Path) -> list[str]:
    """scale_weight naming a weight the demo lacks: found when the edit applied, after the subject loaded."""
    edit = {"name": "scale_weight", "plan": {"weight": "model.layers.15.self_attn.o_prj.weight", "factor": 3}}
    (folder / "e.yaml").write_text(json.dumps({"edit": edit}), encoding="utf-8")
    preset = write_config(folder / "p.yaml", dataset=NEWS)
    return ["--baseline", DEMO, "--subject", DEMO, "--edit-config", str(folder / "e.yaml"), "--preset", str(preset)]


@pytest.mark.parametrize(
    ("make", "code", "exit_code"),
    [
        (_too_small_corpus, "E303", 3),
        (_other_tokenizer, "E002", 3),
        (_other_shapes, "E002", 3),
        (_unscored_kind, "E104", 2),
        (_quantized_subject, "E105", 2),
        (_truncated_subject, "E102", 2),
        (_misspelt_weight, "E204", 2),
        (_config_not_its_weights, "E102", 2),
        (_config_of_fewer_layers, "E102", 2),
        (_k_not_below_the_rank, "E204", 2),
        (_short_windows_held_alone, "E104", 2),
    ],
    ids=[
        "too few windows",
        "another tokenizer",
        "other weight shapes",
        "a kind the adapter does not score",
        "a quantization without its package",
        "truncated weights",
        "a weight the model lacks",
        "a config that is not its weights'",
        "a config of fewer layers than its weights",
        "k not below the weight's rank",
        "windows too short to keep held alone",
    ],
)
def test_what_certify_stops_with_before_loading_a_model_the_doctor_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make, code: str, exit_code: int
) -> None:
    monkeypatch.chdir(tmp_path)
    args = make(tmp_path)
    if code == "E303":
        args += ["--profile", "ci"]
    certified = run_cli("certify", *args, "--events", "ev.duckdb", "--quiet")
    doctored = run_cli("doctor", *args, "--events", "other.duckdb", "--json")
    report = json.loads(doctored[1])
    first = next(f for f in report["findings"] if f["severity"] == "error")
    assert certified[0] == doctored[0] == exit_code and certified[2].startswith(f"ERROR [INVARLOCK:{code}]")
    assert (first["code"], first["error_code"]) == ("D" + code[1:], code) and first["message"] in certified[2]
    [types] = stream_types(tmp_path / "ev.duckdb").values()
    assert types == ["run_started", "run_failed"]  # certify stopped before loading a model
    assert not (tmp_path / "other.duckdb").exists()
    if make is _other_shapes:
        assert "weight shapes differ: baseline demo:smollm2-135m and subject" in certified[2]
        assert "state num_hidden_layers 30 vs 29" in certified[2]
    if make is _misspelt_weight:
        assert "e.g. model.layers.15.self_attn.o_proj.weight" in certified[2]
    if make is _config_not_its_weights:
        assert "k_proj.weight is 192×576 in the checkpoint but 64×576 by its config.json (and 59 more)" in certified[2]
    if make is _config_of_fewer_layers:
        assert "fewer-layers holds weights its model does not use: model.layers.29." in certified[2]
    if make is _k_not_below_the_rank:
        assert "edit.plan.k = 576 is not below min(576, 576)" in certified[2]


def _no_model(folder: Path) -> dict[str, object]:
    return {"model": {"id": str(folder / "no-such-model")}}


def _empty_folder(folder: Path) -> dict[str, object]:
    (folder / "not-a-model").mkdir()
    return {"model": {"id": str(folder / "not-a-model")}}


def _public_key_as_signing_key(folder: Path) -> list[str]:
    assert run_cli("keygen", "--out", folder / "key")[0] == 0
    return ["--sign-key", str(folder / "key.pub")]


def _text_as_signing_key(folder: Path) -> list[str]:
    (folder / "key.txt").write_text("not a key", encoding="utf-8")
    return ["--sign-key", str(folder / "key.txt")]


# The codes the recorded-state fakes cannot raise, each with the real adapters: (config sections, extra flags).
REAL_CASES = {
    "E101": (_no_model, lambda f: []),
    "E102": (_empty_folder, lambda f: []),
    "E103": (lambda f: {"model": {"id": "hf:invarlock-tests/not-in-any-cache"}}, lambda f: []),
    "E104": (lambda f: {"model": {"id": DEMO, "adapter": "hf_bogus"}}, lambda f: []),
    "E301": (lambda f: {"dataset": {"provider": "no-such-provider"}}, lambda f: []),
    "E701": (_no_model, _text_as_signing_key),  # the key is refused first; no tokenizer needs reading
    "E702": (_no_model, _public_key_as_signing_key),
}


@pytest.mark.parametrize("code", sorted(REAL_CASES))
def test_each_pre_load_error_of_the_real_adapters_is_the_doctor_s_first_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    monkeypatch.chdir(tmp_path)
    sections, flags = REAL_CASES[code]
    config = write_config(tmp_path / "run.yaml", **{"dataset": NEWS, "edit": EDIT, **sections(tmp_path)})
    args = ["-c", str(config), *flags(tmp_path)]
    ran = run_cli("run", *args, "--events", "ev.duckdb", "--quiet")
    doctored = run_cli("doctor", *args, "--events", "other.duckdb", "--json")
    first = next(f for f in json.loads(doctored[1])["findings"] if f["severity"] == "error")
    assert ran[2].startswith(f"ERROR [INVARLOCK:{code}]") and first["message"] in ran[2], ran[2]
    assert (first["code"], first["error_code"], doctored[0]) == ("D" + code[1:], code, ran[0])
    assert not (tmp_path / "other.duckdb").exists()


def test_one_model_at_a_time_the_doctor_sizes_the_kept_hidden_states_and_warns_where_they_do_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    from invarlock.adapters.system_probe import LocalSystemProbe

    monkeypatch.chdir(tmp_path)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # TMPDIR, as this process's temporary files see it
    config = write_config(tmp_path / "run.yaml", dataset=NEWS, edit=EDIT)
    code, out, err = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json")
    codes = {f["code"]: f["message"] for f in json.loads(out)["findings"]}
    kept = 12 * 64 * 576 * 4  # 4 + 8 windows of 64 tokens, the demo's hidden size 576, float32
    assert code == 0 and f"the baseline's kept hidden states take {kept / 2**20:,.0f} MiB in {scratch}" in codes["D916"]
    assert "D917" not in codes, out + err

    real = LocalSystemProbe.free_bytes

    def one_mib_in_scratch(probe: LocalSystemProbe, path: str) -> int:  # a full disk under TMPDIR, nothing else
        return 2**20 if path == str(scratch) else real(probe, path)

    monkeypatch.setattr(LocalSystemProbe, "free_bytes", one_mib_in_scratch)
    code, out, err = run_cli("doctor", "-c", config, "--events", "ev.duckdb", "--json")
    short = next(f for f in json.loads(out)["findings"] if f["code"] == "D917")
    assert code == 0 and short["severity"] == "warning" and "(1 MiB free)" in short["message"]
    assert "E608" in short["message"] and "TMPDIR" in short["hint"]
