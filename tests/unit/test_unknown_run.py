"""E404 (no such run) names the event store searched, and its hint lists that store's runs: `certify --resume`,
`replay` and `events` said "the event store" and listed the default store's runs, whichever store was searched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fakes.cli import run_cli

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store_v1" / "invarlock.duckdb"


@pytest.mark.parametrize(
    "command", [("certify", "--resume", "nosuch"), ("replay", "nosuch"), ("events", "nosuch")], ids=lambda c: c[0]
)
def test_an_unknown_run_names_the_store_searched_and_lists_its_runs(tmp_path: Path, command: tuple[str, ...]) -> None:
    store = shutil.copy(FIXTURE, tmp_path / "other store.duckdb")
    before = Path(store).read_bytes()
    code, _, err = run_cli(*command, "--events", store)
    assert code == 2 and err.splitlines() == [
        f"ERROR [INVARLOCK:E404] no run 'nosuch' in the event store {store} — "
        f"list its runs with `invarlock runs --events '{store}'`"
    ]
    assert Path(store).read_bytes() == before


def test_in_the_default_store_the_hint_needs_no_events_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    shutil.copy(FIXTURE, tmp_path / "runs" / "invarlock.duckdb")
    code, _, err = run_cli("replay", "nosuch")
    assert code == 2 and err.strip().endswith(
        "no run 'nosuch' in the event store runs/invarlock.duckdb — list its runs with `invarlock runs`"
    )
