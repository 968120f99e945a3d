"""Event codec and hash chain; the strict config schema."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.config import parse_config
from invarlock.domain import events as ev
from invarlock.domain.errors import UsageError

_text = st.text(min_size=0, max_size=20)
_finite = st.floats(allow_nan=False, allow_infinity=False)


@given(
    st.lists(
        st.builds(
            ev.ScoredRow,
            window_id=st.integers(0, 10**6),
            digest=_text,
            tokens_scored=st.integers(1, 10**4),
            nll_sum=_finite,
        ),
        max_size=5,
    ),
    _text,
)
def test_events_round_trip_through_the_codec(rows, role):
    event = ev.WindowsScored(role=role, arm="final", rows=rows)
    type_, version, payload = ev.encode_event(event)
    assert (type_, version) == ("windows_scored", 1)
    assert ev.decode_event(type_, version, payload) == event


def test_chain_problems_name_the_altered_event():
    store = InMemoryEventStore()
    store.append("r", 0, [ev.RunFailed(failed_at="t", code="E1", message="m"), ev.RollbackPerformed(reason="x")])
    recs = store.read("r")
    assert ev.chain_problems(recs) == []
    import msgspec

    forged = msgspec.structs.replace(recs[1], payload=recs[1].payload.replace(b"x", b"y"))
    problems = ev.chain_problems([recs[0], forged])
    assert len(problems) == 1 and "seq 1" in problems[0]


def test_a_payload_whose_tag_disagrees_with_its_row_is_rejected():
    _, _, payload = ev.encode_event(ev.RollbackPerformed(reason="x"))
    with pytest.raises(Exception, match="tag"):
        ev.decode_event("run_failed", 1, payload)


def test_unknown_config_key_is_named():
    with pytest.raises(UsageError, match=r"unknown key 'dataset.seqlen'"):
        parse_config({"dataset": {"seqlen": 12}}, source="c.yaml")
    with pytest.raises(UsageError, match=r"unknown key 'modle'"):
        parse_config({"modle": {}}, source="c.yaml")


def test_wrong_type_is_named_with_its_path():
    with pytest.raises(UsageError, match=r"dataset.seq_len"):
        parse_config({"dataset": {"seq_len": "long"}}, source="c.yaml")


def test_seed_schema_sections_are_accepted():
    cfg = parse_config(
        {
            "model": {"id": "demo:smollm2-135m", "adapter": "auto", "device": "cpu", "dtype": "float32"},
            "dataset": {
                "provider": "demo:wikipedia",
                "split": "validation",
                "seq_len": 128,
                "stride": 128,
                "preview_n": 4,
                "final_n": 4,
                "calibration_n": 0,
                "seed": 1,
            },
            "edit": {"name": "quant_rtn", "plan": {"bits": 8}},
            "eval": {"metric": {"kind": "ppl_causal"}},
            "guards": {"order": ["invariants", "spectral", "invariants"], "spectral": {"mode": "gate"}},
            "auto": {"tier": "balanced"},
            "output": {"dir": "out"},
        },
        source="c.yaml",
    )
    assert cfg.dataset.effective_stride == 128 and cfg.edit is not None
