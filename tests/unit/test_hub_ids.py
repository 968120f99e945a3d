"""An `hf:` reference no hub repository can have (empty, a path, a space, three parts) is E101 saying so; it was
E103 "not available offline", with a hint to download what cannot exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.cli import run_cli


@pytest.mark.parametrize("ref", ["hf:", "hf:../../etc", "hf:org/name/extra", "hf:a b"])
def test_an_hf_reference_that_is_no_repo_id_is_e101_not_a_missing_download(tmp_path: Path, ref: str) -> None:
    pytest.importorskip("huggingface_hub", reason="hf: references need the Hugging Face extra")
    code, _, err = run_cli("certify", "--baseline", ref, "--subject", ref, "--events", tmp_path / "events.duckdb")
    assert code == 2 and err.startswith(f"ERROR [INVARLOCK:E101] {ref} is not a Hugging Face model id — write hf:"), err
    assert "offline" not in err and err.count("\n") == 1
