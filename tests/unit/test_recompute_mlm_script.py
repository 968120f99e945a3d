"""docs/reference/recompute_mlm.py, written from the statistics reference alone, masks as domain.masking does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from invarlock.domain.masking import mask_window, masked_count

from tests.unit.test_docs_recipe import REFERENCE, _script

_TOKENS = st.lists(st.integers(min_value=0, max_value=29_999), min_size=1, max_size=130)


@settings(max_examples=40, deadline=None)
@given(_TOKENS, st.integers(0, 2**31), st.integers(min_value=2, max_value=30_000))
def test_the_auditor_script_recomputes_the_mask_of_any_window(tokens, seed, vocab):
    auditor = _script("recompute_mlm")
    ours = mask_window(tuple(tokens), seed=seed, mask_id=1, vocab_size=vocab)
    ids, positions = auditor.mask(tokens, seed, 1, vocab)
    assert (tuple(ids), tuple(positions)) == (ours.input_ids, ours.positions)
    assert auditor.masked_count(len(tokens)) == masked_count(len(tokens))


def _cert(seq_len: int, counts: list[int]) -> dict:
    arm = {"window_ids": list(range(len(counts))), "tokens_scored": counts}
    return {"dataset": {"seq_len": seq_len}, "evidence": {"preview": arm, "final": None}}


@pytest.mark.parametrize(("counts", "problems"), [([20, 20, 20], 0), ([20, 19, 20], 1)])
def test_the_auditor_script_flags_a_window_whose_masked_count_is_not_the_rules(counts, problems):
    assert len(_script("recompute_mlm").bad_counts(_cert(128, counts))) == problems


def test_the_auditor_script_refuses_a_certificate_of_another_kind(tmp_path):
    path = tmp_path / "cert.json"
    sections = {"evidence": {}, "bootstrap": {}, "dataset": {}, "primary_metric": {"kind": "ppl_causal"}}
    path.write_text(json.dumps(sections), encoding="utf-8")
    done = subprocess.run([sys.executable, REFERENCE / "recompute_mlm.py", path], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"{path}: primary_metric.kind is 'ppl_causal'; this script recomputes ppl_mlm\n"


@pytest.mark.parametrize("content", [None, "", "{}", "[1]", "\xff"])
def test_every_auditor_script_refuses_bad_input_in_one_line(tmp_path, content):
    """A missing file, no argument, not JSON, not a certificate: one line naming the file, exit 2, no traceback."""
    path = tmp_path / "cert.json"
    if content is not None:
        path.write_bytes(content.encode("latin-1"))
    for name in ("recompute_ci", "recompute_kl", "recompute_embedding", "recompute_accuracy", "recompute_mlm"):
        args = [sys.executable, REFERENCE / f"{name}.py"] + ([path] if content != "" else [])
        done = subprocess.run(args, capture_output=True, text=True)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, name
