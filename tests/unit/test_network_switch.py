"""INVARLOCK_ALLOW_NETWORK is "1" (on), unset, empty or "0" (off), and nothing else."""

from __future__ import annotations

import pytest
from invarlock.adapters.network_switch import network_allowed
from invarlock.domain.errors import UsageError


@pytest.mark.parametrize(("value", "allowed"), [(None, False), ("", False), ("0", False), ("1", True)])
def test_the_switch_s_values(monkeypatch: pytest.MonkeyPatch, value: str | None, allowed: bool) -> None:
    if value is None:
        monkeypatch.delenv("INVARLOCK_ALLOW_NETWORK", raising=False)
    else:
        monkeypatch.setenv("INVARLOCK_ALLOW_NETWORK", value)
    assert network_allowed() is allowed


@pytest.mark.parametrize("value", ["yes", "true", "on", "01", "1 "])
def test_any_other_value_is_e200_naming_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("INVARLOCK_ALLOW_NETWORK", value)
    with pytest.raises(UsageError) as caught:
        network_allowed()
    assert caught.value.code == "E200" and caught.value.message.startswith(f"INVARLOCK_ALLOW_NETWORK={value!r}")
    assert "INVARLOCK_ALLOW_NETWORK=1" in caught.value.hint
