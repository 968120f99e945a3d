"""The audit's first step: the recipient's models are the certified ones (digests, the facts stated beside them,
the GGUF record and the graph digest), and a re-applied edit is the certified one."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from invarlock.domain import certificate as c
from invarlock.domain.model import EditOutcome, GGUFSource, ModelIdentity

from .reexecute_inputs import Finding, short_digest


def identity_findings(cert: c.Certificate, identities: Mapping[str, ModelIdentity]) -> list[Finding]:
    """Weights, tokenizer and config digests of the loaded models (by role: both, or the baseline alone)
    against the certificate's, and the GGUF record of a model loaded from the GGUF file (`gguf:FILE`) against
    the certified one, the weights the adapter cannot map against the certified list, and the graph digest
    where the certificate states one (ONNX models)."""
    findings = []
    for role, section in (("baseline", cert.baseline), ("subject", cert.subject)):
        if role not in identities:
            continue
        now = identities[role]
        wrong = [
            f"{field} {short_digest(getattr(now, field))} != certified {short_digest(getattr(section, field))}"
            for field in ("weights_sha256", "tokenizer_sha256", "config_sha256")
            if getattr(now, field) != getattr(section, field)
        ]
        wrong += [  # stated beside the digests, which do not cover them (a forger's GPT2LMHeadModel passed; a
            # bfloat16 run relabelled float32 loads, as its config asks, in bfloat16: its dtype differs)
            f"{field} {getattr(now, field)!r} != certified {getattr(section, field)!r}"
            for field in ("architecture", "param_count", "dtype")
            if getattr(now, field) != getattr(section, field)
        ]
        if now.gguf is not None and now.gguf != section.gguf:
            wrong.append(_gguf_difference(now.gguf, section.gguf))
        if now.unmapped != section.unmapped:  # the not_applicable rows of the weight guards derive from it
            wrong.append(f"unmapped weights {sorted(now.unmapped or {})} != certified {sorted(section.unmapped or {})}")
        wrong += _graph_difference(now, section)
        detail = f"{role} digests recomputed: weights, tokenizer and config equal the certificate's, as do the"
        detail += " architecture, parameter count and dtype"
        detail += _graph_note(now, section) + _gguf_note(now, section)
        if wrong:
            detail = f"{role}: {'; '.join(wrong)}{_other_role(role, now.weights_sha256, cert) or _repaired(role, cert)}"
        findings.append((f"reexec:{role}_model", not wrong, detail))
    return findings


def edit_findings(
    cert: c.Certificate, applied: EditOutcome | None, edited_weights: str | None = None, copy_of: str = "the baseline"
) -> list[Finding]:
    """The edit re-applied against the certificate's edit section: its plan digest and what it says it changed
    (edit.deltas: parameters, layers, bit widths), which no digest covers. With `edited_weights` the edit was
    re-applied to a copy of `copy_of` (the baseline; for a `certify --edit-config` certificate, the subject given),
    which must then hold the certified subject's weights: the subject given is compared with the certificate, the
    certificate with the edit. A certificate recording an edit that was not re-applied fails: unchecked."""
    if applied is None:
        if cert.edit.name == "external":
            return []
        return [
            (
                "reexec:edit",
                False,
                f"the recorded edit {cert.edit.name} was not re-applied (not installed here, or the model cannot be "
                "copied): edit.plan and edit.deltas are unchecked; install the edit, or pass the checkpoint it was "
                "applied to",
            )
        ]
    done = msgspec.to_builtins(applied.deltas)
    stated = msgspec.to_builtins(cert.edit.deltas) if cert.edit.deltas is not None else {}
    wrong = [f"edit.deltas.{k}" for k in sorted(done.keys() | stated.keys()) if done.get(k) != stated.get(k)]
    if applied.plan_digest != cert.edit.plan_digest:
        wrong.insert(0, "edit.plan_digest")
    said = [f"{', '.join(wrong)} {'differs' if len(wrong) == 1 else 'differ'} from the certificate's"] if wrong else []
    if edited_weights is not None and edited_weights != cert.subject.weights_sha256:
        certified = short_digest(cert.subject.weights_sha256)
        said.append(f"its weights {short_digest(edited_weights)} are not the certified subject's {certified}")
        if copy_of != "the baseline":  # the copy was of the certified subject itself: the edit moved its own output
            said.append(
                "the edit changes its own output again (quant_rtn with clamp_ratio does), so the subject it made"
                " cannot stand in for the checkpoint it edited: pass that checkpoint as --subject"
            )
    copy = f" to a copy of {copy_of}" if edited_weights is not None else ""
    if said:
        return [("reexec:edit", False, f"{applied.name} re-applied{copy}: {'; '.join(said)}")]
    weights = ", deltas and weights" if edited_weights is not None else " and deltas"
    return [("reexec:edit", True, f"{applied.name} re-applied{copy}: its plan digest{weights} equal the certificate's")]


def _graph_difference(now: ModelIdentity, certified: ModelIdentity) -> list[str]:
    """The graph digest where the certificate states one and the loaded model's differs (or is none)."""
    if certified.graph_sha256 is None or now.graph_sha256 == certified.graph_sha256:
        return []
    found = short_digest(now.graph_sha256) if now.graph_sha256 else "none"
    return [f"graph_sha256 {found} != certified {short_digest(certified.graph_sha256)}"]


def _graph_note(now: ModelIdentity, certified: ModelIdentity) -> str:
    """What the audit said of the graph: compared, or not certified (certificates before 0.3.8 state no graph
    digest; the re-scored windows then are what checks what the graph computes)."""
    if certified.graph_sha256 is not None:
        return ", and so does the graph digest"
    if now.graph_sha256 is not None:
        return "; its graph is not certified (no graph_sha256: issued before 0.3.8), the re-scored windows check it"
    return ""


def _gguf_note(now: ModelIdentity, certified: ModelIdentity) -> str:
    """What the audit said of a certified GGUF record it could not compare (the model was not loaded from a file)."""
    if certified.gguf is None or now.gguf is not None:
        return ""
    return (
        f"; its GGUF record (file {short_digest(certified.gguf.file_sha256)}) was not compared: the model was not"
        " loaded from a GGUF file (give gguf:FILE to compare it, or check it with docs/reference/recompute_gguf.py)"
    )


def _gguf_difference(now: GGUFSource, certified: GGUFSource | None) -> str:
    """The fields of the loaded file's GGUF record that differ from the certified one, each with both values."""
    if certified is None:
        return f"gguf file {short_digest(now.file_sha256)} != certified none"
    shown = [
        (name, mine, theirs)
        for name in GGUFSource.__struct_fields__
        if (mine := getattr(now, name)) != (theirs := getattr(certified, name))
    ]
    said = [f"{name} {_value(mine)} != certified {_value(theirs)}" for name, mine, theirs in shown]
    return f"gguf {'; '.join(said)}"


def _value(value: object) -> str:
    return short_digest(value) if isinstance(value, str) else str(value)


def _other_role(role: str, weights: str, cert: c.Certificate) -> str:
    """A hint when the model given for `role` holds the other certified model's weights and not its own (swapped,
    or the baseline passed as the subject); none where both certified models hold the same weights (a GGUF
    file against its dequantized checkpoint)."""
    other = "subject" if role == "baseline" else "baseline"
    if weights != getattr(cert, other).weights_sha256 or weights == getattr(cert, role).weights_sha256:
        return ""
    return f" (these are the certified {other}'s weights: pass the certified {role} as --{role})"


def _repaired(role: str, cert: c.Certificate) -> str:
    """A hint when the certificate records guard repairs: if the model given is a folder `--export` wrote, it holds
    the repaired subject, and the audit takes the subject before them (it re-applies the recorded repairs itself):
    for a `run`, leave out --subject; for certify with an edit, the checkpoint it edited; else the subject given to
    certify."""
    overhead = cert.guard_overhead
    if role != "subject" or overhead is None or not overhead.repaired_weights:
        return ""
    if cert.provenance.command == "run":
        instead = "leave out --subject (the recorded edit rebuilds it)"
    elif cert.edit.name != "external":
        instead = "pass the checkpoint certify edited"
    else:
        instead = "pass the subject checkpoint certify was given"
    repaired = len(overhead.repaired_weights)
    export = f"if this is a folder --export wrote: it holds the subject after the guards repaired {repaired} weights"
    return f" ({export}; {instead})"
