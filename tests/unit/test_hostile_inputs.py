"""Inputs that a hunt for unexpected errors found ending in E999: a config nested past the parser's stack, an
integer over Python's 4300-digit limit, a recursive alias, a lone surrogate (in a config, a JSONL corpus line or a
command-line argument). Each is now one line naming the file or argument, exit 2, and no run is recorded."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from invarlock.adapters.corpus_files import open_jsonl_file
from invarlock.adapters.corpus_labelled import open_labelled_jsonl
from invarlock.domain.errors import UsageError

from tests.fakes.cli import run_cli

CONFIGS = {
    "nested too deeply": "a: " + "[" * 500 + "]" * 500 + "\n",
    "Exceeds the limit (4300 digits)": "seed: " + "1" * 5000 + "\n",
    "edit.plan.self contains itself (a recursive alias)": "edit: {name: quant_rtn, plan: &p {bits: 8, self: *p}}\n",
    "output.dir is not UTF-8 text": 'output: {dir: "\\ud800"}\n',
    "dataset.'\\udcff' is not UTF-8 text": 'dataset: {"\\udcff": "\\udcff"}\n',
    "eval.loss.type ['causal'] (InvarLock 0.3.7) has no metric kind": "eval: {loss: {type: [causal]}}\n",
    "eval.loss.type 'bogus' (InvarLock 0.3.7) has no metric kind": "eval: {metric: ppl_causal, loss: {type: bogus}}\n",
    "key 'seed' is given twice (at line 3, column 1)": "seed: 1\noutput: {dir: out}\nseed: 2\n",
    "key 'bits' is given twice (at line 1, column 41)": "edit: {name: quant_rtn, plan: {bits: 8, bits: 4}}\n",
    # two mappings of one merge list: YAML gives the first priority, PyYAML ran the last (the edits hunt)
    "key 'bits' is given twice (at line 1, column 49)": "edit: {name: quant_rtn, plan: {<<: [{bits: 8}, {bits: 4}]}}\n",
    "edit.plan.bits is nan": "edit: {name: quant_rtn, plan: {bits: .nan}}\n",  # was E402 (exit 3) when recorded
    "edit.plan.group.scale is -inf": "edit: {name: quant_rtn, plan: {bits: 8, group: {scale: -.inf}}}\n",
    # the embedded default's whole run started in its place (the Python API hunt, stop 71)
    "holds no config (the file is empty, only comments or null)": "# a config yet to be written\n",
}


@pytest.mark.parametrize("named", sorted(CONFIGS))
def test_an_unrecordable_config_is_e201_naming_it_and_records_nothing(tmp_path: Path, named: str) -> None:
    config, events = tmp_path / "c.yaml", tmp_path / "events.duckdb"
    config.write_text(CONFIGS[named], encoding="utf-8")
    code, _, err = run_cli("run", "-c", config, "--events", events)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E201]") and named in err and err.count("\n") == 1, err
    assert not events.exists()


def test_a_list_for_the_variance_guards_sidedness_is_e202(tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="`run` resolves the guard settings after the model stack is importable")
    config = tmp_path / "c.yaml"
    config.write_text(
        "edit: {name: quant_rtn, plan: {bits: 8}}\nguards: {variance: {sided: [one]}}\n", encoding="utf-8"
    )
    code, _, err = run_cli("run", "-c", config, "--events", tmp_path / "events.duckdb")
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E202] {config}: guards.variance.sided = ['one']"), err


def _nested_aliases(levels: int, indent: str = "") -> list[str]:
    lines = [f"{indent}a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    return lines + [f"{indent}a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]


@pytest.mark.parametrize("where", ["top level", "edit.plan"])
def test_nested_aliases_are_sized_without_expanding_them(tmp_path: Path, where: str) -> None:
    # 9^9 strings if expanded. Under edit.plan they once reached validation, which expanded them (13 s at 10^7).
    if where == "top level":
        lines = _nested_aliases(9)
    else:
        lines = ["edit:", "  name: quant_rtn", "  plan:", "    bits: 8", *_nested_aliases(9, indent="    ")]
    config = tmp_path / "c.yaml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = run_cli("run", "-c", config, "--events", tmp_path / "events.duckdb")
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E201]"), err
    assert "holds more than 1,000,000 values (its aliases expanded, if any)" in err and err.count("\n") == 1, err
    assert not (tmp_path / "events.duckdb").exists()


def test_a_config_above_one_mib_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    # A 13 MB list of integers took PyYAML about 100 s to read before the value limit refused it.
    config = tmp_path / "c.yaml"
    config.write_text("seed: [" + "1, " * 400_000 + "1]\n", encoding="utf-8")
    code, _, err = run_cli("run", "-c", config, "--events", tmp_path / "events.duckdb")
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E201] config file '{config}' is "), err
    assert "above the 1048576-byte limit" in err and err.count("\n") == 1, err
    assert not (tmp_path / "events.duckdb").exists()


def test_aliases_that_expand_to_few_values_are_read_as_written(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("\n".join(_nested_aliases(3)) + "\n", encoding="utf-8")
    code, _, err = run_cli("run", "-c", config, "--events", tmp_path / "events.duckdb")
    assert code == 2 and "E201" in err and "unknown key 'a0'" in err, err  # read whole, then the key is unknown


def test_a_non_utf8_argument_is_refused_before_any_command_runs(tmp_path: Path) -> None:
    store = tmp_path / "events.duckdb"
    duckdb.connect(str(store)).close()
    code, out, err = run_cli("runs", "--events", str(tmp_path / "ev\udcff.duckdb"))
    assert code == 2 and out == "" and err.startswith("ERROR [INVARLOCK:E200]") and "\\udcff" in err, err
    assert err.count("\n") == 1


LINES = {
    "nested too deeply": '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "Exceeds the limit (4300 digits)": '{"text": "a", "n": ' + "9" * 5000 + "}",
    "lone surrogate": '{"text": "\\ud800 abc", "label": "1"}',
    "is not JSON": '{"text": ',
}


@pytest.mark.parametrize("named", sorted(LINES))
def test_an_unreadable_jsonl_line_is_e301_naming_the_line(tmp_path: Path, named: str) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "fine", "label": "0"}\n' + LINES[named] + "\n", encoding="utf-8")
    for read in (
        lambda: open_jsonl_file(str(data), "text", "test"),
        lambda: open_labelled_jsonl(str(data), "text", "label", "test"),
    ):
        with pytest.raises(UsageError) as caught:
            read()
        assert caught.value.code == "E301" and "line 2" in caught.value.message and named in caught.value.message


def test_escaped_text_that_is_utf8_still_reads(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text('{"text": "\\ud83d\\ude00 and \\u00e9"}\n', encoding="utf-8")  # a surrogate pair is one character
    assert list(open_jsonl_file(str(data), "text", "test").texts()) == ["\U0001f600 and \u00e9"]


CERT = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "run.cert.json"
POLICIES = {  # (code, what follows the file's name)
    "tier: balanced\nguards: {zz: {}}\n": ("E202", ": guards.zz is not a guard's settings"),
    "tier: balanced\nguards: {1: {}}\n": ("E202", ": guards.1 is not a guard's settings"),
    "tier: balanced\nguards: {spectral: {1: 2}}\n": ("E202", ": guards.spectral.1 cannot be set"),
    "tier: balanced\noverrides: {ratio_limit: .nan}\n": ("E202", ": policy override 'ratio_limit' must be finite"),
    "tier: balanced\noverrides: {alpha: .inf}\n": ("E202", ": policy override 'alpha' must be finite, got inf"),
    f"tier: balanced\noverrides: {{ratio_limit: {10**400}}}\n": (
        "E202",
        ": policy override 'ratio_limit' is an integer beyond any float (±1.8e308)",  # "give a whole number" hint
    ),
    "tier: balanced\noverrides: {ratio_limit: 1.5}\ntier: strict\n": ("E201", ""),  # a key given twice
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_recipient_policy_naming_no_guard_or_a_non_finite_gate_is_refused(tmp_path: Path, policy: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy, encoding="utf-8")
    code, _, err = run_cli("verify", CERT, "--policy", path)
    error, message = POLICIES[policy]
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:{error}] {path}{message}") and err.count("\n") == 1, err


def test_an_alpha_whose_upper_level_rounds_to_one_is_e203_when_the_policy_is_read(tmp_path: Path) -> None:
    """It was a recipient verdict FAIL (exit 1), as if the certificate had failed the recipient's gates."""
    path = tmp_path / "policy.yaml"
    path.write_text("tier: balanced\nprofile: dev\noverrides: {alpha: 1.0e-16}\n", encoding="utf-8")
    code, _, err = run_cli("verify", CERT, "--policy", path)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E203]") and "2^-53 < alpha < 1 (got 1200, 1e-16)" in err


def test_a_recipient_override_in_exponent_notation_is_read_as_the_number_it_spells(tmp_path: Path) -> None:
    """YAML 1.1 reads `1e-16` (no dot) as text; the policy reads it as the number, as InvarLock 0.3.7 keys are."""
    path = tmp_path / "policy.yaml"
    path.write_text("tier: balanced\nprofile: dev\noverrides: {alpha: 1e-16}\n", encoding="utf-8")
    code, _, err = run_cli("verify", CERT, "--policy", path)
    assert code == 2 and err.startswith("ERROR [INVARLOCK:E203]") and "2^-53 < alpha < 1 (got 1200, 1e-16)" in err


@pytest.mark.parametrize(
    ("override", "code", "named"),
    [("alpha: 1.5", "E203", "(got 1200, 1.5)"), ("replicates_ci: 0", "E203", "(got 0, 0.05)"),
     ("ratio_limit: -1", "E202", "gates.ratio_limit is -1"), ("drift_min: 2.0", "E202", "gates.drift_min is 2.0")],
)  # fmt: skip
def test_gate_values_out_of_range_are_refused_when_the_policy_is_read(
    tmp_path: Path, override: str, code: str, named: str
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(f"tier: balanced\nprofile: dev\noverrides: {{{override}}}\n", encoding="utf-8")
    exit_code, _, err = run_cli("verify", CERT, "--policy", path)
    assert exit_code == 2 and err.startswith(f"ERROR [INVARLOCK:{code}]") and named in err, err
