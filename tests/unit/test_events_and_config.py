"""Event codec and hash chain; the strict config schema."""

from __future__ import annotations

import datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from invarlock.adapters.memory_store import InMemoryEventStore
from invarlock.application.config import EvalConfig, MetricConfig, SecondaryConfig, parse_config
from invarlock.domain import events as ev
from invarlock.domain import run
from invarlock.domain.canonical import canonical_bytes
from invarlock.domain.errors import IntegrityError, UsageError
from invarlock.domain.model import CorpusInfo, EditDeltas, EditOutcome, ModelIdentity
from invarlock.domain.policy import policy_digest, resolve_policy
from invarlock.domain.windows import ARMS, PlannedWindow, WindowPlan

from tests.fakes.legacy_events import as_v1

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


IDENTITY = {
    "ref": "demo:m",
    "adapter": "hf_causal",
    "architecture": "LlamaForCausalLM",
    "weights_sha256": "w" * 64,
    "tokenizer_sha256": "t" * 64,
    "config_sha256": "c" * 64,
    "param_count": 135,
    "dtype": "float32",
    "device": "cpu",
}
CORPUS = {"provider": "demo:news", "split": "validation", "source": "/data/news.txt", "licence": "CC BY 4.0"}
PLAN_V1 = {
    "seq_len": 64,
    "stride": 64,
    "tokenizer_sha256": "t" * 64,
    "dataset_digest": "d" * 64,
    "plan_digest": "p" * 64,
    "window_ids": [7, 2, 9],
    "window_digests": ["a7", "a2", "a9"],
    "arms": ["preview", "final", "calibration"],
    "windows_available": 12,
    "duplicates_dropped": 1,
    "stream_tokens": 800,
    "approximate_counts": False,
}
DELTAS = {"params_changed": 16, "layers_modified": 1, "modules_changed": ["l0.q"], "bitwidth_map": {"l0.q": 8}}
EDIT_V1 = {"name": "quant_rtn", "plan": {"bits": 8, "scope": "all"}, "plan_digest": "e" * 64, **DELTAS}

MODEL_V2 = ev.ModelFingerprinted(role="subject", identity=ModelIdentity(**IDENTITY))
WINDOWS_V2 = ev.WindowsPlanned(
    corpus=CorpusInfo(**CORPUS),
    plan=WindowPlan(
        seq_len=64,
        stride=64,
        tokenizer_sha256="t" * 64,
        stream_tokens=800,
        dataset_digest="d" * 64,
        window_plan_digest="p" * 64,
        windows=(
            PlannedWindow(window_id=7, arm="preview", digest="a7"),
            PlannedWindow(window_id=2, arm="final", digest="a2"),
            PlannedWindow(window_id=9, arm="calibration", digest="a9"),
        ),
        windows_available=12,
        duplicates_dropped=1,
        approximate_counts=False,
    ),
)
EDIT_V2 = ev.EditApplied(
    outcome=EditOutcome(
        name="quant_rtn",
        plan={"bits": 8, "scope": "all"},
        plan_digest="e" * 64,
        deltas=EditDeltas(params_changed=16, layers_modified=1, modules_changed=("l0.q",), bitwidth_map={"l0.q": 8}),
    )
)
V1_PAYLOADS = {  # (type, version 1) -> (a payload as release 948972e wrote it, the v2 event it upcasts to)
    "model_fingerprinted": ({"role": "subject", **IDENTITY}, MODEL_V2),
    "windows_planned": ({**CORPUS, **PLAN_V1}, WINDOWS_V2),
    "edit_applied": (EDIT_V1, EDIT_V2),
}


def _v1(type_: str, fields: dict[str, object]) -> bytes:
    return canonical_bytes({"type": f"{type_}.v1", **fields})


@pytest.mark.parametrize("type_", sorted(V1_PAYLOADS))
def test_each_v1_payload_upcasts_to_the_v2_event(type_):
    fields, expected = V1_PAYLOADS[type_]
    assert ev.decode_event(type_, 1, _v1(type_, fields)) == expected


@pytest.mark.parametrize("event", [MODEL_V2, WINDOWS_V2, EDIT_V2], ids=lambda e: ev.event_tag(e)[0])
def test_a_v2_event_round_trips_through_the_codec(event):
    type_, version, payload = ev.encode_event(event)
    assert version == 2 == ev.CURRENT_VERSIONS[type_]
    assert ev.decode_event(type_, version, payload) == event


def test_run_started_records_the_policy_struct_on_the_unchanged_v1_wire():
    policy = resolve_policy("balanced", "ci", guard_order=["invariants", "spectral"])
    started = ev.RunStarted(
        run_id="r",
        command="certify",
        started_at="t",
        tool_version="0",
        config={"model": {"id": "m"}},
        policy=policy,
        policy_digest=policy_digest(policy),
        seeds={"dataset": 1},
        environment={},
    )
    type_, version, payload = ev.encode_event(started)
    assert (type_, version) == ("run_started", 1)
    as_v1_wrote_it = {
        **msgspec.structs.asdict(started),
        "policy": msgspec.to_builtins(policy),
        "type": "run_started.v1",
    }
    assert payload == canonical_bytes(as_v1_wrote_it)
    decoded = ev.decode_event(type_, version, payload)
    assert decoded == started and policy_digest(decoded.policy) == started.policy_digest


def test_a_recorded_policy_value_its_struct_refuses_is_an_integrity_error_not_a_usage_error():
    policy = msgspec.to_builtins(resolve_policy("balanced", "ci"))
    policy["guards"]["spectral"]["z_floor"] = (
        0.0  # resolve_policy would refuse it (E202); a store holding it was altered
    )
    payload = canonical_bytes(
        {
            "type": "run_started.v1",
            "run_id": "r",
            "command": "certify",
            "started_at": "t",
            "tool_version": "0",
            "config": {},
            "policy": policy,
            "policy_digest": "d",
            "seeds": {},
            "environment": {},
        }
    )
    with pytest.raises(IntegrityError, match="z_floor") as err:
        ev.decode_event("run_started", 1, payload)
    assert err.value.code == "E604"


_digest = st.text(alphabet="0123456789abcdef", min_size=1, max_size=64)
_count = st.integers(0, 10**9)
_windows_planned = st.builds(
    ev.WindowsPlanned,
    corpus=st.builds(CorpusInfo, provider=_text, split=_text, source=_text, licence=_text),
    plan=st.builds(
        WindowPlan,
        seq_len=st.integers(2, 8192),
        stride=st.integers(2, 8192),
        tokenizer_sha256=_digest,
        stream_tokens=_count,
        dataset_digest=_digest,
        window_plan_digest=_digest,
        windows=st.lists(
            st.builds(PlannedWindow, window_id=_count, arm=st.sampled_from(ARMS), digest=_digest), max_size=6
        ).map(tuple),
        windows_available=_count,
        duplicates_dropped=_count,
        approximate_counts=st.booleans(),
    ),
)
_model_fingerprinted = st.builds(
    ev.ModelFingerprinted,
    role=st.sampled_from(["baseline", "subject"]),
    identity=st.builds(ModelIdentity, **{f: _text for f in IDENTITY if f != "param_count"}, param_count=_count),
)
_edit_applied = st.builds(
    ev.EditApplied,
    outcome=st.builds(
        EditOutcome,
        name=_text,
        plan=st.dictionaries(_text, st.integers(-(2**53), 2**53) | _text | st.booleans(), max_size=3),
        plan_digest=_digest,
        deltas=st.builds(
            EditDeltas,
            params_changed=_count,
            layers_modified=_count,
            modules_changed=st.lists(_text, max_size=4).map(tuple),
            bitwidth_map=st.dictionaries(_text, st.integers(1, 16), max_size=3),
        ),
    ),
)


@given(_windows_planned | _model_fingerprinted | _edit_applied)
def test_v2_events_round_trip_and_their_v1_form_upcasts_back_to_them(event):
    type_, version, payload = ev.encode_event(event)
    assert ev.decode_event(type_, version, payload) == event
    assert ev.decode_event(type_, 1, canonical_bytes(as_v1(event))) == event


@pytest.mark.parametrize("type_", sorted(V1_PAYLOADS))
def test_a_v1_payload_of_the_wrong_shape_is_an_integrity_error(type_):
    fields, expected = V1_PAYLOADS[type_]
    missing = {k: v for k, v in fields.items() if k != "name" and k != "ref" and k != "provider"}
    wrong_type = {**fields, next(iter(sorted(fields))): 3.5}
    v2_under_v1_row = ev.encode_event(expected)[2]
    shapes = [_v1(type_, missing), _v1(type_, wrong_type), v2_under_v1_row]
    if type_ == "windows_planned":
        shapes.append(_v1(type_, {**fields, "arms": ["preview", "final"]}))  # one arm short of the window ids
    for payload in shapes:
        with pytest.raises(IntegrityError) as err:
            ev.decode_event(type_, 1, payload)
        assert err.value.code == "E604"


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({1: 2}, "key 1 in the top level is a number to YAML, not a name"),
        ({"model": {None: "x"}}, "key null in section model is null to YAML, not a name"),
        ({"guards": {"spectral": {True: 1}}}, "key true in section guards.spectral is a boolean to YAML"),
        ({"dataset": {datetime.date(2024, 1, 1): 1}}, "key 2024-01-01 in section dataset is a date to YAML"),
    ],
)
def test_a_key_yaml_reads_as_a_value_is_named(data: dict[object, object], said: str) -> None:
    """`1:`, `null:`, `yes:` or a date as a key: msgspec's own wording ("Expected `str` - at `key`") named neither
    the key nor what to do."""
    with pytest.raises(UsageError) as err:
        parse_config(data, source="c.yaml")
    assert err.value.code == "E201" and err.value.message.startswith(f"c.yaml: {said}")
    assert "quote" in err.value.hint


@pytest.mark.parametrize("kind", ["accuracy", "embedding_cosine", "ppl_mlm"])
def test_gating_secondary_metrics_of_a_kind_that_has_none_is_e201(kind: str) -> None:
    # Every such run ended FAIL (kl_divergence_acceptable: "the policy gates secondary metrics but the certificate
    # has none"), and the doctor said it would start.
    metric: dict[str, object] = {"kind": kind}
    if kind == "accuracy":
        metric |= {"template": "{text}:", "label_words": [" no", " yes"]}
    data = {"eval": {"metric": metric, "secondary": {"gate": True}}, "dataset": {"calibration_n": 0}}
    with pytest.raises(UsageError) as err:
        parse_config(data, source="c.yaml")
    assert err.value.message.startswith(f"c.yaml: eval.secondary.gate: kind {kind} has no secondary metrics")
    assert parse_config({"eval": {"secondary": {"gate": True}}}, source="c.yaml").eval.secondary.gate  # ppl_causal


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


def _started_event() -> ev.RunStarted:
    policy = resolve_policy("balanced", "ci")
    return ev.RunStarted(
        run_id="r", command="certify", started_at="t", tool_version="0", config={"model": {"id": "m"}},
        policy=policy, policy_digest=policy_digest(policy), seeds={"dataset": 1}, environment={},
    )  # fmt: skip


def test_a_second_run_started_is_an_altered_stream():
    state = run.evolve(None, _started_event())
    with pytest.raises(IntegrityError) as caught:
        run.evolve(state, _started_event())
    assert (caught.value.code, caught.value.hint) == ("E604", "the event stream was altered")


def test_an_empty_stream_says_how_to_find_a_run():
    with pytest.raises(IntegrityError) as caught:
        run.replay([])
    assert caught.value.code == "E604" and "invarlock runs" in caught.value.hint


def test_one_hub_key_without_provider_hf_reads_in_the_singular():
    with pytest.raises(UsageError) as err:
        parse_config({"dataset": {"provider": "demo:wikipedia", "name": "x"}}, source="c.yaml")
    assert err.value.message == "c.yaml: dataset.name names a hub dataset: it needs provider: hf"


@pytest.mark.parametrize(
    ("data", "message", "hint"),
    [
        ({"eval": {"metric": {}}}, "eval.metric needs a `kind:` key", "add eval.metric.kind"),
        ({"dataset": {"seq_len": "long"}}, "dataset.seq_len must be an integer, not text", "fix dataset.seq_len"),
        ({"guards": {"order": "spectral"}}, "guards.order must be a list, not text", "fix guards.order"),
        (
            {"eval": {"batch_size": 1.5}},
            "eval.batch_size must be an integer or null, not a decimal number",
            "write eval.batch_size as a whole number without a decimal point or exponent (50, not 50.0 or 5e1)",
        ),
        (  # "must be an integer, not a number" (the docs hunt)
            {"dataset": {"seq_len": 50.0}},
            "dataset.seq_len must be an integer, not a decimal number",
            "write dataset.seq_len as a whole number without a decimal point or exponent (50, not 50.0 or 5e1)",
        ),
        (
            {"model": {"device_map": "auto", "max_memory": {"cpu": 3}}},
            "model.max_memory values must be text, not an integer",
            "fix model.max_memory values",
        ),
        # refused even where --profile/--tier override them: the config is recorded as written (the regression hunt)
        ({"profile": "quick"}, "profile 'quick' is not one a run takes", "use one of dev, ci, release"),
        (
            {"auto": {"tier": "lenient"}},
            "auto.tier 'lenient' is not one a run takes",
            "use one of conservative, balanced, aggressive",
        ),
    ],
)
def test_a_wrong_value_is_said_in_the_configs_terms(data: dict[str, object], message: str, hint: str) -> None:
    """msgspec's wording ("Object missing required field `kind` - at `$.eval.metric`") with the hint "fix the value
    named above", on a one-line error."""
    with pytest.raises(UsageError) as err:
        parse_config(data, source="c.yaml")
    assert (err.value.code, err.value.message, err.value.hint) == ("E201", f"c.yaml: {message}", hint)


@pytest.mark.parametrize(("kind", "measured"), [("ppl_causal", True), ("ppl_mlm", False), ("plugin_kind", True)])
def test_paired_measures_are_those_of_a_kind_whose_evidence_holds_them(kind: str, measured: bool) -> None:
    """A masked LM's run counted as measuring KL and top-1 agreement, which it never records: `--sequential` stopped
    with E104 after the baseline's load, and every run re-scored its baseline stating that KL needs both models'
    logits (found by the doctor hunt). A plugin's kind is left to its adapter."""
    cfg = EvalConfig(metric=MetricConfig(kind=kind))
    assert cfg.measures_pairs is measured
    assert not msgspec.structs.replace(cfg, secondary=SecondaryConfig(measure=False)).measures_pairs
