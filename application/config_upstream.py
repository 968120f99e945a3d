"""InvarLock 0.3.7 run configs: their keys translated to ours before the strict decode, or refused by name.

A key of the original either means the same thing here (renamed: `edit.plan.bitwidth` → `bits`,
`dataset.provider: local_jsonl` → `jsonl`, `eval.loss.type` → `eval.metric.kind`, ...), states what this tool
always does (`per_channel: true`, `auto.enabled: true`, `output.save_report: true`: dropped), or has no
equivalent: then a UsageError E201 names the key and what to use instead. Translation is a no-op on a config
written for this tool, so a recorded config re-parses unchanged. Guard keys: config_upstream_guards.py.
The mapping is documented in docs/reference/upstream-configs.md.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import METRICS, PPL_CAUSAL, PPL_MLM

from .config_upstream_guards import translate_guards
from .config_upstream_rules import Section, drop_if, refuse, rename

_ADAPTERS = {"hf_auto": "auto", "auto_hf": "auto", "hf_causal_onnx": "onnx"}
_NO_ADAPTER = ("hf_seq2seq", "hf_gptq", "hf_awq", "hf_bnb")
_DTYPES = {"fp32": "float32", "float": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}
_PROVIDERS = {"local_jsonl": "jsonl", "hf_text": "hf"}
_NO_PROVIDER = {
    "synthetic": "provider: demo:wikipedia (real text that installs offline)",
    "local_jsonl_pairs": "a causal or masked LM metric: seq2seq is not supported",
    "seq2seq": "a causal or masked LM metric: seq2seq is not supported",
    "hf_seq2seq": "a causal or masked LM metric: seq2seq is not supported",
}
# Plan keys only a 0.3.7 config writes: a plan holding one is read with 0.3.7's defaults
_UPSTREAM_PLAN_KEYS = ("bitwidth", "per_channel", "seed")
_LOSS_KINDS = {"causal": PPL_CAUSAL.kind, "mlm": PPL_MLM.kind}
_LOSS_HINT = ", ".join(f"{kind}: {loss}" for loss, kind in _LOSS_KINDS.items())


def translate_upstream(data: dict[str, Any], source: str) -> dict[str, Any]:
    """A copy of `data` with InvarLock 0.3.7 keys translated. Raises UsageError E201 naming a key of the
    original that has no equivalent here, and the setting to use instead."""
    out = copy.deepcopy(data)
    for key, equivalent in (
        ("assurance", "auto.tier (assurance.* was already rejected by 0.3.7)"),
        ("defaults", "one self-contained file (merge the defaults into it)"),
        ("context", "the top-level `profile:` and auto.tier"),
        ("primary_metric", "auto.tier: the ratio limit and drift band come from the tier"),
    ):
        refuse(out, "", key, equivalent, source)
    for name, step in (
        ("model", _model),
        ("dataset", _dataset),
        ("edit", _edit),
        ("eval", _eval),
        ("auto", _auto),
        ("output", _output),
    ):
        section = out.get(name)
        if isinstance(section, dict):
            step(section, source)
    if isinstance(out.get("guards"), dict):
        translate_guards(out["guards"], source)
    if isinstance(out.get("edit"), dict) and out["edit"].get("name") == "noop":
        _refuse_noop_settings(out["edit"], source)
        del out["edit"]  # the original's "no edit": certify a model as given (run needs a real edit)
    return out


def _refuse_noop_settings(edit: Section, source: str) -> None:
    """`edit: {name: noop}` is no edit: a plan or another key beside it would be dropped without a word."""
    given = sorted(str(key) for key, value in edit.items() if key != "name" and value not in (None, {}))
    if given:
        raise UsageError(
            "E201",
            f"{source}: edit.{given[0]} is given with edit.name noop (InvarLock 0.3.7), which is no edit",
            "remove it, or name the edit to apply (quant_rtn)",
        )


def original_path(original: Mapping[str, object], translated: Mapping[str, object], path: str) -> str | None:
    """The dotted path of the key of `original` (the file as written) that translation renamed to `path`, or None
    when the file holds `path` itself (or the rename cannot be told: a section moved, several keys renamed alike)."""
    *parents, key = path.split(".")
    before: Any = original
    after: Any = translated
    for part in parents:
        before = before.get(part) if isinstance(before, dict) else None
        after = after.get(part) if isinstance(after, dict) else None
    if not isinstance(before, dict) or not isinstance(after, dict) or key in before or key not in after:
        return None
    gone = [k for k in before if k not in after]
    same = [k for k in gone if before[k] == after[key]] or gone  # a rename keeps a wrong value as it was
    return ".".join([*parents, str(same[0])]) if len(same) == 1 else None


def _model(m: Section, source: str) -> None:
    adapter = m.get("adapter")
    if adapter in _NO_ADAPTER:
        raise UsageError(
            "E201",
            f"{source}: model.adapter '{adapter}' (InvarLock 0.3.7) has no equivalent here",
            "load a dequantized checkpoint with adapter auto, hf_causal or hf_mlm",
        )
    if isinstance(adapter, str):
        m["adapter"] = _ADAPTERS.get(adapter, adapter)
    for key in ("torch_dtype", "dtype"):  # before the two are compared: fp16 and float16 are one dtype
        if isinstance(m.get(key), str):
            m[key] = _DTYPES.get(m[key], m[key])
    rename(m, "model", "torch_dtype", "dtype", source)
    if m.get("device") == "cuda:0":
        m["device"] = "cuda"
    drop_if(m, "model", "trust_remote_code", (False,), "loading remote code is not supported: use false", source)


def _dataset(d: Section, source: str) -> None:
    provider = d.get("provider")
    if isinstance(provider, str) and provider in _NO_PROVIDER:
        raise UsageError(
            "E201",
            f"{source}: dataset.provider '{provider}' (InvarLock 0.3.7) has no equivalent here",
            f"use {_NO_PROVIDER[provider]}",
        )
    if isinstance(provider, str):
        d["provider"] = _PROVIDERS.get(provider, provider)
    files = d.get("data_files")
    if isinstance(files, list) and len(files) == 1:
        files = files[0]
    if "data_files" in d:
        if (isinstance(files, list) and len(files) > 1) or (isinstance(files, str) and "*" in files):
            raise UsageError(
                "E201",
                f"{source}: dataset.data_files names several files",
                "concatenate them into one file and give dataset.path",
            )
        if not isinstance(files, str) or not files:
            raise UsageError(
                "E201",
                f"{source}: dataset.data_files (InvarLock 0.3.7) must name one file, not {type(files).__name__}",
                "give the file as dataset.path",
            )
        d["data_files"] = files
        rename(d, "dataset", "data_files", "path", source)  # both given and different: E201, not one dropped
    for key, equivalent in (
        ("max_samples", "dataset.path of a file holding the texts to use (the whole file is read)"),
        ("cache_dir", "the HF_DATASETS_CACHE environment variable"),
        ("device_hint", "model.device"),
    ):
        refuse(d, "dataset", key, equivalent, source)
    rename(d, "dataset", "dataset_name", "name", source)
    rename(d, "dataset", "config_name", "config", source)


def _edit(e: Section, source: str) -> None:
    plan = e.get("plan")
    if e.get("name") != "quant_rtn" or not isinstance(plan, dict):
        return
    if "scope" not in plan and any(key in plan for key in _UPSTREAM_PLAN_KEYS):
        plan["scope"] = "ffn"  # 0.3.7's default (its RTNQuantEdit scope="ffn"); a plan written for this tool: all
    rename(plan, "edit.plan", "bitwidth", "bits", source)
    drop_if(plan, "edit.plan", "per_channel", (True,), "quant_rtn always has one scale per output channel", source)
    if "seed" in plan:  # round-to-nearest draws nothing at random: the seed had no effect in 0.3.7 either
        seed = plan.pop("seed")
        if type(seed) is not int:  # 0.3.7 took an int: another value was an error there, not a seed ignored
            raise UsageError(
                "E201",
                f"{source}: edit.plan.seed (InvarLock 0.3.7) is {seed!r}, not an integer",
                "remove it: round-to-nearest draws nothing at random, so the seed changed nothing",
            )


def _eval(ev: Section, source: str) -> None:
    metric = ev.get("metric")
    if isinstance(metric, dict):
        if metric.get("kind") == "auto":
            raise UsageError(
                "E201",
                f"{source}: eval.metric.kind 'auto' (InvarLock 0.3.7) is not resolved here",
                f"name the kind: {', '.join(METRICS)}",
            )
        for key in ("reps", "ci_level"):
            refuse(metric, "eval.metric", key, "the profile's bootstrap replicates at a 95 % interval", source)
    loss = ev.pop("loss", None)
    if loss is not None:
        _loss(ev, loss, source)
    refuse(ev, "eval", "bootstrap", "--profile (ci: 1200 BCa replicates, release: 3200)", source)
    refuse(ev, "eval", "max_pm_ratio", "auto.tier (the catastrophe ratio is the tier's)", source)


def _loss(ev: Section, loss: object, source: str) -> None:
    if not isinstance(loss, dict) or set(loss) - {"type"}:
        raise UsageError(
            "E201",
            f"{source}: eval.loss {loss!r} (InvarLock 0.3.7) sets more than loss.type",
            "masked-LM masking "
            "is fixed here (15 %, 80/10/10; docs/reference/statistics.md): keep only eval.metric.kind",
        )
    loss_type = loss.get("type", "auto")
    if loss_type == "auto":
        return
    kind = _LOSS_KINDS.get(loss_type) if isinstance(loss_type, str) else None
    if kind is None:  # seq2seq: no such metric here (the message said it did not match "eval.metric.kind None")
        raise UsageError(
            "E201",
            f"{source}: eval.loss.type {loss_type!r} (InvarLock 0.3.7) has no metric kind here",
            f"drop eval.loss and choose eval.metric.kind ({_LOSS_HINT})",
        )
    metric = ev.setdefault("metric", {})
    stated = metric.get("kind") if isinstance(metric, dict) else metric
    if isinstance(metric, dict) and metric.get("kind", kind) != kind:
        raise UsageError(
            "E201",
            f"{source}: eval.loss.type {loss_type!r} does not match eval.metric.kind {stated!r}",
            f"drop eval.loss: the metric kind decides the loss ({_LOSS_HINT})",
        )
    if isinstance(metric, dict):
        metric["kind"] = kind


def _auto(a: Section, source: str) -> None:
    drop_if(a, "auto", "enabled", (True,), "the tier is always resolved: remove auto.enabled", source)
    drop_if(a, "auto", "probes", (0,), "probes were only recorded by 0.3.7: remove auto.probes", source)
    refuse(a, "auto", "target_pm_ratio", "auto.tier (the ratio limit is the tier's)", source)


def _output(o: Section, source: str) -> None:
    drop_if(o, "output", "save_model", (False,), "use --export DIR to write the certified subject", source)
    drop_if(o, "output", "save_report", (True,), "the certificate is always written", source)
