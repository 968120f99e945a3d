"""What YAML can say that a run's recorded config cannot (stop 63's configs hunt): a plugin edit ran with a date, bytes
and a set while the run recorded text, base64 and a list in hash order; a second merge key dropped the first."""

from __future__ import annotations

from pathlib import Path

import pytest
from invarlock.cli.config_file import read_yaml
from invarlock.domain.errors import UsageError


def _read(tmp_path: Path, text: str) -> object:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return read_yaml(str(path))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("2020-01-01", "date or time"),
        ("2020-01-01T10:00:00Z", "date or time"),
        ("!!binary aGVsbG8=", "binary value"),
        ("!!set {a, b}", "set"),
        ("!!omap [{a: 1}, {b: 2}]", "ordered pair list"),
    ],
)
def test_a_value_json_has_no_form_for_is_refused_naming_its_key(tmp_path: Path, value: str, kind: str) -> None:
    with pytest.raises(UsageError) as raised:
        _read(tmp_path, f"edit:\n  name: edit_any\n  plan:\n    when: [1, {value}]\n")
    assert raised.value.code == "E201"
    said = raised.value.message
    assert "c.yaml: edit.plan.when.1" in said
    assert said.endswith(f"is a YAML {kind}, which a run's recorded config cannot hold")
    assert _read(tmp_path, "edit:\n  plan:\n    when: '2020-01-01'\n") == {"edit": {"plan": {"when": "2020-01-01"}}}


def test_a_second_merge_key_in_one_mapping_is_a_key_given_twice(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        _read(tmp_path, "dataset:\n  <<: {seq_len: 128}\n  <<: {seq_len: 64}\n  provider: x\n")
    assert raised.value.message.endswith("c.yaml: key '<<' is given twice (at line 3, column 3)")
    merged = _read(tmp_path, "base: &b {seq_len: 128}\ndataset:\n  <<: *b\n  seq_len: 64\n")
    assert merged == {"base": {"seq_len": 128}, "dataset": {"seq_len": 64}}, "one merge, then an override"


def test_a_merge_list_of_mappings_that_share_no_key_is_read_whole(tmp_path: Path) -> None:
    loaded = _read(tmp_path, "a: &a {bits: 8}\nb: &b {scope: ffn}\nplan: {<<: [*a, *b], group_size: 64}\n")
    assert isinstance(loaded, dict) and loaded["plan"] == {"bits": 8, "scope": "ffn", "group_size": 64}


@pytest.mark.parametrize(
    "text",
    [
        "b: &b {seq_len: 64}\nd: {<<: [{<<: *b, preview_n: 2}, {final_n: 4}]}\n",  # a part with a merge of its own
        "b: &b {seq_len: 64}\nx: &x {<<: *b, k: 1}\ny: &y {<<: *b, j: 2}\nd: {<<: [*x, *y]}\n",  # one base, twice
    ],
)
def test_merge_lists_whose_parts_merge_themselves_are_read(tmp_path: Path, text: str) -> None:
    """The second regression hunt: a part's own `<<` was built as a key ('could not determine a constructor')."""
    loaded = _read(tmp_path, text)
    assert isinstance(loaded, dict) and loaded["d"]["seq_len"] == 64


def test_a_key_a_part_merges_in_and_another_part_gives_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        _read(tmp_path, "b: &b {seq_len: 64}\na: &a {<<: *b, x: 1}\nd: {<<: [*a, {seq_len: 128}]}\n")
    assert "key 'seq_len' is given twice (at line 3, column 15)" in refused.value.message


@pytest.mark.parametrize(
    ("text", "yaml_1_1"),
    [("1:05", 65), ("1:05.5", 65.5), ("12:30:00", 45000), ("017", 15), ("-017", -15), ("0b11", 3)],
)
def test_a_number_yaml_1_1_reads_otherwise_than_yaml_1_2_and_json_is_refused(
    tmp_path: Path, text: str, yaml_1_1: object
) -> None:
    """The policy hunt: `ratio_limit: 1:05` was read as 65 (base 60) and `min_windows_ci: 0200` as 128 (octal),
    silently; YAML 1.2, whose numbers the user guide promises, reads text or the decimal number."""
    with pytest.raises(UsageError) as raised:
        _read(tmp_path, f"overrides:\n  ratio_limit: {text}\n")
    assert raised.value.code == "E201" and raised.value.message == (
        f"{tmp_path / 'c.yaml'}: {text} (at line 2, column 16) is the number {yaml_1_1!r} to YAML 1.1 and not to"
        " YAML 1.2 or JSON"
    )
    assert raised.value.hint == f"write {yaml_1_1!r} in decimal, or quote it to give text"
    assert _read(tmp_path, f"a: '{text}'\n") == {"a": text}


@pytest.mark.parametrize(
    ("text", "read"), [("007", 7), ("00", 0), ("-0", 0), ("0x1F", 31), ("1e3", 1000.0), ("1_000", 1000)]
)
def test_numbers_both_yaml_versions_read_alike_are_read(tmp_path: Path, text: str, read: object) -> None:
    assert _read(tmp_path, f"a: {text}\n") == {"a": read}


def test_a_quoted_number_tagged_int_is_refused_without_telling_to_quote_it(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        _read(tmp_path, "a: !!int '017'\n")
    assert raised.value.code == "E201" and raised.value.hint == "write 15 in decimal"
