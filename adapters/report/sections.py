"""The facts of a certificate as plain tables, shared by the HTML and Markdown reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from invarlock.domain import certificate as c
from invarlock.domain.model import EditDeltas, GGUFSource
from invarlock.ports.report import CheckFailure

from .cells import Cell, cell, kv_rows
from .figures import Table


def kv_table(title: str, pairs: list[tuple[str, Any]]) -> Table:
    """A key/value table; nested values become one row per leaf under dotted keys."""
    return Table(title, [], kv_rows(pairs))


def validation_table(cert: c.Certificate) -> Table:
    """Every validation flag and its value (true, false or not_applicable)."""
    return kv_table("Validation flags", sorted(cert.validation.items()))


def rows_table(title: str, rows: Any) -> Table:
    """A table of a list of dicts (columns: the union of their keys, sorted)."""
    items = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
    headers = sorted({key for row in items for key in row})
    return Table(title, headers, [[cell(row.get(h)) for h in headers] for row in items])


def _model_rows(cert: c.Certificate) -> list[list[Cell]]:
    """The models' stated identities; the runtime, device map and unmapped weights where either model states them."""
    fields = ("ref", "adapter", "architecture", "param_count", "dtype", "device")
    rows = [[f, cell(getattr(cert.baseline, f)), cell(getattr(cert.subject, f))] for f in fields]
    b, s = cert.baseline, cert.subject
    if b.runtime is not None or s.runtime is not None:
        rows.append(["runtime", cell(b.runtime or "torch"), cell(s.runtime or "torch")])
    if b.device_map is not None or s.device_map is not None:
        rows.append(["device_map", _placement(b.device_map), _placement(s.device_map)])
    if b.unmapped is not None or s.unmapped is not None:
        rows.append(["unmapped weights", _unmapped(b.unmapped), _unmapped(s.unmapped)])
    return rows


def _placement(device_map: dict[str, str] | None) -> Cell:
    """How many modules a device map put on each device (`—` without one)."""
    if device_map is None:
        return cell(None)
    counts = Counter(device_map.values())
    return ", ".join(f"{n} on {device}" for device, n in sorted(counts.items()))


def _unmapped(unmapped: dict[str, str] | None) -> Cell:
    return cell(None) if unmapped is None else f"{len(unmapped)} (not measured by the weight guards)"


def _deltas(deltas: EditDeltas | None) -> list[tuple[str, Any]]:
    """The edit's structural deltas, with the per-module bit widths counted by width (hundreds of modules)."""
    if deltas is None:
        return [("deltas", None)]
    widths = Counter(deltas.bitwidth_map.values())
    return [
        ("deltas.params_changed", deltas.params_changed),
        ("deltas.layers_modified", deltas.layers_modified),
        ("deltas.modules_changed", f"{len(deltas.modules_changed)} modules"),
        ("deltas.bitwidth_map", ", ".join(f"{n} modules at {bits} bits" for bits, n in sorted(widths.items()))),
    ]


# verify recomputes numbers from the evidence; these fields are the issuer's word until the models are re-executed.
MODELS_TITLE = (
    "Models (as the issuer states them: only a re-execution checks them, invarlock verify CERT --baseline B "
    "--subject S)"
)
DATASET_TITLE = "Dataset (provider, split, source and licence as the issuer states them)"
EDIT_TITLE = "Edit (name, plan and plan digest checked by verify; the deltas as the issuer states them)"
PROVENANCE_NOTE = "as the issuer states it: invarlock verify CERT --events STORE checks it against the run's events"
# what "Verified" covers, as verify prints it after its checks (application/verification/verify_proves.py)
VERIFIED_LINE = (
    "Verified: digest and every recomputation from the evidence match. Not recomputed: the evidence itself (NLL "
    "sums, paired measures, guard measurements, model digests: a re-execution, invarlock verify CERT --baseline B "
    "--subject S, checks it) and the facts marked as the issuer states them (a signature or verify --events binds "
    "them)."
)


def input_tables(cert: c.Certificate) -> list[Table]:
    """Models, edit and dataset."""
    ds, ed, pairing = cert.dataset, cert.edit, cert.pairing
    models = Table(MODELS_TITLE, ["field", "baseline", "subject"], _model_rows(cert))
    edit = kv_table(
        EDIT_TITLE, [("name", ed.name), ("plan", ed.plan), ("plan digest", ed.plan_digest), *_deltas(ed.deltas)]
    )
    dataset = kv_table(
        DATASET_TITLE,
        [
            ("provider / split", f"{ds.provider} / {ds.split}"),
            ("source", ds.source),
            ("licence", ds.licence),
            ("seq_len / stride", f"{ds.seq_len} / {ds.stride}"),
            (
                "windows preview / final / calibration",
                f"{ds.windows.preview} / {ds.windows.final} / {ds.windows.calibration}",
            ),
            ("windows available", ds.windows_available),
            ("duplicates dropped", ds.duplicates_dropped),
            ("stream tokens", ds.stream_tokens),
            ("approximate counts", ds.approximate_counts),
            (
                "pairing",
                f"match {cell(pairing.match_fraction)}, overlap {cell(pairing.overlap_fraction)}, "
                f"{pairing.paired_windows} paired windows",
            ),
            ("pairing issue", pairing.reason),
        ],
    )
    return [models, edit, dataset]


def policy_tables(cert: c.Certificate) -> list[Table]:
    """Tier, profile, every resolved threshold, every override of the tier table and the policy digest."""
    resolved = cert.policy.resolved
    gates = resolved.get("gates")
    top = [(k, v) for k, v in sorted(resolved.items()) if k not in ("gates", "overrides")]
    tables = [kv_table("Policy", [*top, ("policy digest", cert.policy.digest)])]
    overrides = resolved.get("overrides")
    listed = sorted(overrides.items()) if isinstance(overrides, dict) else [("overrides", overrides)]
    tables.append(kv_table("Overrides of the tier table", listed or [("none", "the tier table as published")]))
    if isinstance(gates, dict):
        tables.append(kv_table("Gate thresholds", sorted(gates.items())))
    return tables


def provenance_tables(cert: c.Certificate) -> list[Table]:
    """Tool, command, timing, environment, seeds and the event-log head."""
    pv, log = cert.provenance, cert.provenance.event_log
    run = kv_table(
        f"Provenance ({PROVENANCE_NOTE})",
        [
            ("tool", f"{cert.tool.name} {cert.tool.version}"),
            ("command", pv.command),
            ("run id", cert.run_id),
            ("status", cert.status),
            ("started at", pv.started_at),
            ("issued at", cert.issued_at),
            ("event log", f"run {log.run_id}, {log.event_count} events"),
            ("event log head hash", log.head_hash),
        ],
    )
    # the run config as recorded: what no other table shows (an accuracy run's prompt template and label words,
    # the guard settings, the execution keys) is what the issuer states the run was asked to do
    config = kv_table("Run config (as the issuer states it)", sorted(pv.config.items()))
    env = kv_table("Environment (as the issuer states it)", sorted(pv.environment.items()))
    seeds = kv_table("Seeds", sorted(pv.seeds.items()))
    return [run, baseline_evidence_table(pv), config, env, seeds]


def baseline_evidence_table(pv: c.Provenance) -> Table:
    """Where the baseline's scores, weight-guard measurements and variance taps came from: this run, or copies of
    an earlier run's records (a reused run's report did not say so)."""
    rows: list[tuple[str, Any]] = []
    for arm in pv.baseline_scoring or []:
        events = len(arm.source_events or [])
        said = f"reused from run {arm.source_run_id} ({_events(events)})" if arm.reused else "scored again"
        said += f": {arm.reason}" if not arm.reused and arm.reason else ""
        rows.append((f"{arm.arm} arm scores", said))
    copied = (("weight guards' measurements", pv.guard_baseline), ("variance guard's taps", pv.variance_baseline))
    for what, link in copied:
        if link is not None:
            rows.append((what, f"reused from run {link.source_run_id} ({_events(len(link.source_events))})"))
    title = "Baseline evidence (as the issuer states it; verify --events checks each copy against its source)"
    return kv_table(title, rows or [("baseline", "scored and measured in this run")])


def _events(count: int) -> str:
    return "1 event" if count == 1 else f"{count} events"


def digest_table(cert: c.Certificate) -> Table:
    """Every digest a reviewer may compare against other records."""
    b, s, ds = cert.baseline, cert.subject, cert.dataset
    return kv_table(
        "Digests (sha256)",
        [
            ("certificate", cert.digest),
            ("baseline weights", b.weights_sha256),
            ("subject weights", s.weights_sha256),
            ("baseline tokenizer", b.tokenizer_sha256),
            ("subject tokenizer", s.tokenizer_sha256),
            ("baseline config", b.config_sha256),
            ("subject config", s.config_sha256),
            *_gguf_digests("baseline", b.gguf),
            *_gguf_digests("subject", s.gguf),
            *[(f"{role} graph", m.graph_sha256) for role, m in (("baseline", b), ("subject", s)) if m.graph_sha256],
            ("dataset", ds.dataset_digest),
            ("window plan", ds.window_plan_digest),
            ("policy", cert.policy.digest),
        ],
    )


def _gguf_digests(role: str, gguf: GGUFSource | None) -> list[tuple[str, Any]]:
    """A model dequantized from a GGUF file: the file's digest (what a llama.cpp user ships), its tensor types'
    and its metadata's."""
    if gguf is None:
        return []
    return [
        (f"{role} GGUF file", gguf.file_sha256),
        (f"{role} GGUF tensor types", gguf.tensor_types_sha256),
        (f"{role} GGUF metadata", gguf.metadata_sha256),
    ]


def signature_line(cert: c.Certificate) -> str:
    """`signed (alg) by <fingerprint>`, not verified here, or a plain statement that the certificate is unsigned."""
    sig = cert.signature
    if sig is None:
        return "unsigned: nothing binds this certificate to a key holder"
    return (
        f"signed ({sig.alg}) by {sig.key_fingerprint}, not verified by this report: "
        "invarlock verify CERT --pubkey KEY.pub checks it against the signer's public key"
    )


def page_title(cert: c.Certificate, failures: Sequence[CheckFailure]) -> str:
    """The report's title, its shown status first: a `run_id` is any text, and one that reads like a verdict
    (`x: PASS`) must come after the real one."""
    return f"{shown_status(cert, failures)} · InvarLock certificate {cert.run_id}"


def models_line(cert: c.Certificate) -> str:
    """What was compared; it starts with a word, so a reference that begins like Markdown block syntax (four
    spaces, `1. `, `- `) stays text."""
    return f"Baseline {cert.baseline.ref} → subject {cert.subject.ref} · edit {cert.edit.name}"


def shown_status(cert: c.Certificate, failures: Sequence[CheckFailure]) -> str:
    """The verdict a report shows: the certificate's, or, when a verify check failed, that it is void (as verify
    prints it): a report must not show PASS for numbers that do not recompute."""
    if not failures:
        return cert.verdict.status
    return f"NOT ESTABLISHED (the stated {cert.verdict.status} is void: verify checks failed)"
