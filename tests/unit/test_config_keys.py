"""A run config's keys and values that no run takes are one E201 naming the file and the key: an unknown or
misspelt key, a value of another type, a batch size no pass can take, and the internal field that holds plugin
guard sections."""

from __future__ import annotations

import pytest
from invarlock.application.config import parse_config
from invarlock.domain.errors import UsageError


@pytest.mark.parametrize("size", [0, 65_537, 10**30])
def test_a_batch_size_no_pass_can_take_is_e201_naming_the_key(size: int) -> None:
    """eval.batch_size 10**30 passed the config and ended the run in E999 (torch's OverflowError padding a
    batch), with the run recorded as started."""
    with pytest.raises(UsageError) as err:
        parse_config({"eval": {"batch_size": size}}, source="c.yaml")
    assert err.value.code == "E201" and err.value.message == "c.yaml: eval.batch_size must be between 1 and 65536"


def test_the_field_holding_plugin_guard_sections_is_no_config_key() -> None:
    """`guards: {plugins: {spectral: {mode: gate}}}` set the built-in guard unchecked and the unknown-key hint
    offered it (found by the docs hunt)."""
    with pytest.raises(UsageError) as err:
        parse_config({"guards": {"plugins": {"spectral": {"mode": "gate"}}}}, source="c.yaml")
    assert err.value.code == "E201" and err.value.message == "c.yaml: unknown key 'guards.plugins'"
    with pytest.raises(UsageError) as err:
        parse_config({"guards": {"max_abs": {"max_ratio": 1.05}}}, source="c.yaml")
    assert err.value.hint == "keys of guards: order, spectral, rmt, variance"


def test_unknown_config_key_is_named():
    with pytest.raises(UsageError, match=r"unknown key 'dataset.seqlen'"):
        parse_config({"dataset": {"seqlen": 12}}, source="c.yaml")
    with pytest.raises(UsageError, match=r"unknown key 'modle'"):
        parse_config({"modle": {}}, source="c.yaml")


def test_wrong_type_is_named_with_its_path():
    with pytest.raises(UsageError, match=r"dataset.seq_len"):
        parse_config({"dataset": {"seq_len": "long"}}, source="c.yaml")
