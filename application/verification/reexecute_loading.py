"""The models a re-execution audit holds: both, or the baseline alone for its pass and then the subject
(reexecute_baseline), each placed and typed as the certificate records; the subject as the certified checkpoint
or the baseline with the recorded built-in edit applied."""

from __future__ import annotations

import gc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

from invarlock.domain import certificate as c
from invarlock.domain.errors import UsageError
from invarlock.domain.metrics import ACCURACY
from invarlock.domain.model import EditOutcome, LoadOptions, ModelIdentity
from invarlock.domain.policy import Policy
from invarlock.ports.edits import Edit
from invarlock.ports.model import DuplicableModel, LoadedModel

from ..certification.input_steps import sharing_with
from .reexecute_baseline import AuditSample, BaselinePass, baseline_pass
from .reexecute_examples import rebuild_examples
from .reexecute_inputs import RebuiltWindows, rebuild_windows
from .reexecute_placement import audit_load_options, load_certified
from .reexecute_request import ReexecutionDeps, ReexecutionRequest


@dataclass
class LoadedForAudit:
    """The models the audit holds (both, or the subject alone), both models' identities, and the baseline pass
    when the baseline was released before the subject loaded."""

    models: dict[str, LoadedModel]
    identities: dict[str, ModelIdentity]
    released: BaselinePass | None = None
    edit: EditOutcome | None = None  # what re-applying the recorded edit did
    edited_weights: str | None = None  # the weights digest of a copy so edited (of the baseline, or `edited_copy_of`)
    edited_copy_of: str = "the baseline"


def load_both(cert: c.Certificate, req: ReexecutionRequest, deps: ReexecutionDeps) -> LoadedForAudit:
    models, edit, edited = load_models(cert, req, deps)
    identities = {role: model.identity() for role, model in models.items()}
    return LoadedForAudit(models, identities, edit=edit, edited_weights=edited, edited_copy_of=_copy_of(cert))


def load_one_at_a_time(
    cert: c.Certificate, req: ReexecutionRequest, deps: ReexecutionDeps, policy: Policy
) -> LoadedForAudit:
    """The baseline alone, its pass (reexecute_baseline.baseline_pass), then the subject once the baseline is
    released: a copy of it taken before when the subject is loaded as it is (the built-in edit applied to the
    copy), else loaded then; what the baseline's kept side of KL shares with it bit for bit held once."""
    edit = _baseline_edit(cert, req, deps)
    loads = _loads(cert, req)
    baseline = load_certified(deps.loader, *loads["baseline"], "--baseline")
    beside, edited = _edit_beside(cert, req, deps, baseline, loads)
    sample = AuditSample(req.sample, req.sample_seed, deps.measurements)
    rebuild = partial(rebuilder(cert), cert, policy, deps.corpora)
    released = baseline_pass(cert, policy, baseline, rebuild, sample)
    subject = _duplicate(baseline) if loads["subject"] == loads["baseline"] else None
    del baseline
    gc.collect()  # the baseline's weights are freed before the subject's load
    if subject is None:
        subject = load_certified(deps.loader, *loads["subject"], "--subject" if req.subject else "--baseline")
    if released.answers is not None and released.answers.reference is not None:
        released.answers.reference.hold_once(subject)  # before the subject's fingerprint reads it
    if edit is not None:
        applied: EditOutcome | None = edit.apply(subject, cert.edit.plan or {})
    elif beside is not None:
        applied = beside
    else:
        applied, edited = _edited_given(cert, deps, subject)
    identities = {"baseline": released.identity, "subject": subject.identity()}
    return LoadedForAudit(
        {"subject": subject}, identities, released, applied, edited_weights=edited, edited_copy_of=_copy_of(cert)
    )


def _loads(cert: c.Certificate, req: ReexecutionRequest) -> dict[str, tuple[str, LoadOptions]]:
    return {
        role: (ref or req.baseline, audit_load_options(role, section, req.device, cert))
        for role, ref, section in (("baseline", req.baseline, cert.baseline), ("subject", req.subject, cert.subject))
    }


def rebuilder(cert: c.Certificate) -> Callable[..., RebuiltWindows]:
    return rebuild_examples if cert.primary_metric.kind == ACCURACY.kind else rebuild_windows


def load_models(
    cert: c.Certificate, req: ReexecutionRequest, deps: ReexecutionDeps
) -> tuple[dict[str, LoadedModel], EditOutcome | None, str | None]:
    """Both models placed as the certificate records (its device map, else its device kind), or whole on the
    requested device; each through its certified adapter (a causal LM's classification head is not what
    `auto` picks) and in its certified dtype; without a subject ref, the baseline again with the recorded edit
    applied. A subject of the baseline's reference and options is a duplicate of the loaded baseline when its
    adapter can duplicate it (the checkpoint is read once); any other subject holds the weights it has bit for
    bit in common with the baseline once (input_steps.sharing_with). With the edit applied, what it did."""
    edit = _baseline_edit(cert, req, deps)
    out: dict[str, LoadedModel] = {}
    loads = _loads(cert, req)
    beside: tuple[EditOutcome | None, str | None] = (None, None)
    for role, ref in (("baseline", req.baseline), ("subject", req.subject)):
        given_as = f"--{role}" if ref is not None else "--baseline"
        if role == "baseline":
            out[role] = load_certified(deps.loader, *loads[role], given_as)
            beside = _edit_beside(cert, req, deps, out[role], loads)
            continue
        twin = _duplicate(out["baseline"]) if loads[role] == loads["baseline"] else None
        if twin is None:
            twin = sharing_with(out["baseline"], load_certified(deps.loader, *loads[role], given_as))
        out[role] = twin
    if edit is not None:
        return out, edit.apply(out["subject"], cert.edit.plan or {}), None
    if beside == (None, None):
        return out, *_edited_given(cert, deps, out["subject"])
    return out, *beside


def _edit_beside(
    cert: c.Certificate,
    req: ReexecutionRequest,
    deps: ReexecutionDeps,
    baseline: LoadedModel,
    loads: dict[str, tuple[str, LoadOptions]],
) -> tuple[EditOutcome | None, str | None]:
    """With --subject of a `run` certificate (a built-in edit recorded), the edit re-applied to a copy of the
    baseline: what it did and the copy's weights digest, for `reexec:edit` to compare with the certificate's edit
    and subject (the given subject is compared with the certificate by its digests); the copy is dropped here.
    Without --subject the edited copy is the audit's subject itself."""
    edit = deps.edits.get(cert.edit.name)
    if req.subject is None or edit is None or edits_subject_checkpoint(cert):
        return None, None
    options = loads["subject"][1]  # the certified subject's dtype and placement
    copy = _duplicate(baseline) if options == loads["baseline"][1] else None
    if copy is None:
        copy = load_certified(deps.loader, req.baseline, options, "--baseline")
    applied = edit.apply(copy, cert.edit.plan or {})
    weights = copy.identity().weights_sha256
    del copy
    gc.collect()
    return applied, weights


def _duplicate(model: LoadedModel) -> LoadedModel | None:
    return model.duplicate() if isinstance(model, DuplicableModel) else None


def edits_subject_checkpoint(cert: c.Certificate) -> bool:
    """A `certify --edit-config` certificate whose subject checkpoint is not its baseline's: its edit was applied
    to another checkpoint than the baseline (with the same reference, the baseline edited, as `run` does)."""
    edited = cert.provenance.command == "certify" and cert.edit.name != "external"
    return edited and cert.subject.ref != cert.baseline.ref


def _baseline_edit(cert: c.Certificate, req: ReexecutionRequest, deps: ReexecutionDeps) -> Edit | None:
    """The recorded edit to apply to the baseline to make the audit's subject: without --subject only."""
    if req.subject is not None:
        return None
    if edits_subject_checkpoint(cert):
        raise UsageError(
            "E200",
            f"the certificate's edit ({cert.edit.name}) was applied to the subject checkpoint certify was given, "
            "not to the baseline",
            "pass that checkpoint (or the subject the edit made) with --subject",
        )
    return _recorded_edit(cert, deps.edits)


def _edited_given(
    cert: c.Certificate, deps: ReexecutionDeps, subject: LoadedModel
) -> tuple[EditOutcome | None, str | None]:
    """For a `certify --edit-config` certificate, the recorded edit applied to the --subject given: in place when
    that is not the certified subject (the checkpoint certify edited, which becomes the audit's subject), else to a
    copy of it, dropped once measured (the subject the edit made: an edit that changes nothing more re-makes its
    weights and deltas), with the copy's weights digest. (None, None) when the certificate records no such edit,
    or the edit is not installed here or the subject cannot be copied (reexec:edit then fails: unchecked)."""
    edit = deps.edits.get(cert.edit.name)
    if not edits_subject_checkpoint(cert) or edit is None:
        return None, None
    if subject.identity().weights_sha256 != cert.subject.weights_sha256:
        return edit.apply(subject, cert.edit.plan or {}), None
    copy = _duplicate(subject)
    if copy is None:
        return None, None
    applied = edit.apply(copy, cert.edit.plan or {})
    weights = copy.identity().weights_sha256
    del copy
    gc.collect()
    return applied, weights


def _copy_of(cert: c.Certificate) -> str:
    return "the subject given" if edits_subject_checkpoint(cert) else "the baseline"


def _recorded_edit(cert: c.Certificate, edits: Mapping[str, Edit]) -> Edit:
    name = cert.edit.name
    if name not in edits:
        raise UsageError(
            "E200",
            f"the certificate's subject is not a built-in edit of the baseline (edit: {name})",
            "pass the subject checkpoint you hold with --subject",
        )
    return edits[name]
