"""The Python API behind `invarlock.certify` and `invarlock.resume_certify` (docs/python-api.md); verify, replay,
load_certificate and render_report are in api_verify.py.

The same use cases, events and errors as the CLI, which is a thin layer over these functions: every failure is
an `InvarlockError` carrying its E-code, message, hint and exit code. Nothing here imports torch until a model
is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from invarlock.application.certification.certify import CertifyOutcome, CertifyRequest, certify_edit, resume_run
from invarlock.application.config import EditConfig, ModelConfig, RunConfig, config_to_dict, parse_config
from invarlock.application.config_checks import refuse_unread_dataset_keys
from invarlock.application.services import Services
from invarlock.domain import certificate as c
from invarlock.domain.errors import CertificateOnRecord, UsageError, replay_hint
from invarlock.ports.ui import Progress

from . import api_arguments as args
from .bootstrap import DEFAULT_EVENTS, build_services, load_signer
from .config_file import read_config
from .nested_values import plain_copy
from .outputs import (
    CERTIFICATE_FILE,
    certificate_of,
    require_apart,
    require_certificate_folder,
    require_empty_folder,
    require_folder,
    write_atomically,
)
from .plugin_kinds import used_entries
from .resume_outputs import recorded_output_dir, refuse_certificate_in_export
from .stopped_runs import named_store, naming_the_searched_store, naming_the_store, run_outputs

PathLike = str | os.PathLike[str]
ConfigLike = PathLike | Mapping[str, Any] | RunConfig | None


@dataclass(frozen=True)
class CertifyResult:
    """A finished run: its certificate and the file it was written to."""

    certificate: c.Certificate
    path: Path


def load_run_config(config: ConfigLike) -> RunConfig:
    """A RunConfig from a YAML path, a mapping of sections, a RunConfig, or None (the embedded demo default).

    Raises UsageError E201 naming the file and key; E220/E223 for a plugin metric kind or guard that fails to
    load or is not a Metric of that kind / a guard of that name."""
    if isinstance(config, RunConfig):  # built in Python, never decoded: checked as its recorded form would be
        try:
            recorded = config_to_dict(config)
        except (TypeError, ValueError, AttributeError, KeyError) as exc:  # a section given a value of another type
            said = f"config: this RunConfig has no recorded form ({type(exc).__name__}: {exc})"
            raise UsageError("E201", said, "build each section with its own type, or pass a mapping") from None
        parsed = parse_config(recorded, source="config", as_written=False)
        refuse_unread_dataset_keys(parsed.dataset, "config")  # the user's config all the same, not a recorded one
        return parsed
    data: Any
    if config is None:
        data, source = {}, "<embedded default>"
    elif isinstance(config, Mapping):
        args.config_values("config", config)
        data, source = plain_copy(config), "<config>"
    elif isinstance(config, (str, os.PathLike)):
        source = args.path_text("config", config)
        data = read_config(source)
    else:
        raise args.refused("config", "a path, a mapping or a RunConfig", config)
    return parse_config(data, source=source)


def _edit(edit: Mapping[str, Any] | EditConfig) -> EditConfig:
    if isinstance(edit, EditConfig):  # built in Python, never decoded: checked as a mapping of it would be
        edit = msgspec.to_builtins(edit)
    if not isinstance(edit, Mapping):
        raise UsageError(
            "E201",
            f"edit must be a mapping, not {type(edit).__name__}",
            "pass {'name': 'quant_rtn', 'plan': {'bits': 8}}",
        )
    args.config_values("edit", edit)
    try:
        return msgspec.convert(plain_copy(edit), EditConfig)
    except msgspec.ValidationError as exc:
        raise UsageError("E201", f"edit: {exc}", "pass {'name': 'quant_rtn', 'plan': {'bits': 8}}") from exc


def _services(
    events: PathLike, progress: Progress | None, sign_key: PathLike | None, uses: Iterable[tuple[str, str]]
) -> Services:
    signer = load_signer(sign_key) if sign_key is not None else None  # a bad key fails before the run
    return build_services(events=events, progress=progress, signer=signer, uses=uses)


def _text(path: PathLike | None) -> str | None:
    return os.fspath(path) if path is not None else None


def write_certificate(outcome: CertifyOutcome, out_dir: PathLike, events: PathLike = DEFAULT_EVENTS) -> Path:
    """Write `out_dir`/evaluation.cert.json atomically; E608 if it cannot be written (the run is recorded in
    `events`, which the hint's replay command names when it is not the default)."""
    path = Path(out_dir) / CERTIFICATE_FILE
    hint = replay_hint(outcome.run_id, named_store(events))
    ours = (f"a certificate of run {outcome.run_id}", lambda held: certificate_of(held, outcome.run_id))
    write_atomically(path, c.to_bytes(outcome.certificate), what="the certificate", hint=hint, replaces=ours)
    return path


def with_models(
    cfg: RunConfig,
    baseline: str | None,
    subject: str | None,
    *,
    adapter: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    device_map: str | None = None,
) -> tuple[RunConfig, ModelConfig | None]:
    """`cfg` with the given baseline ref and model settings, and the subject's model config (None: no subject)."""
    given = {"id": baseline, "adapter": adapter, "device": device, "dtype": dtype, "device_map": device_map}
    model = msgspec.structs.replace(cfg.model, **{k: v for k, v in given.items() if v is not None})
    subject_cfg = msgspec.structs.replace(model, id=subject) if subject is not None else None
    return msgspec.structs.replace(cfg, model=model), subject_cfg


def certify_request(
    cfg: RunConfig,
    subject: ModelConfig | None,
    *,
    tier: str | None = None,
    profile: str | None = None,
    export: PathLike | None = None,
) -> CertifyRequest:
    """What to certify: `certify` with a subject, else `run` (the config's edit); tier and profile default to
    the config's, else balanced and ci."""
    return CertifyRequest(
        command="certify" if subject is not None else "run",
        config=cfg,
        subject=subject,
        tier=tier or cfg.auto.tier,
        profile=next((p for p in (profile, cfg.profile) if p is not None), "ci"),  # "" is refused, not read as ci
        export=os.fspath(export) if export is not None else None,
    )


def run_request(
    request: CertifyRequest,
    *,
    events: PathLike = DEFAULT_EVENTS,
    cert_out: PathLike | None = None,
    sign_key: PathLike | None = None,
    progress: Progress | None = None,
) -> CertifyResult:
    """Run `request`, recording it in `events`, and write its certificate (default: output.dir/<run_id>)."""
    out_dir = None if cert_out is not None else os.path.expanduser(request.config.output.dir)
    if cert_out is not None:  # fail before the run, not after an hour of scoring
        require_certificate_folder(os.fspath(cert_out), "--cert-out")
    if out_dir is not None:  # the certificate goes to a new folder <run_id> in it
        require_folder(out_dir, "output.dir (--out)")
    if request.export is not None:
        require_empty_folder(os.fspath(request.export), "--export")
    require_apart(events, _text(cert_out), request.export, out_dir)
    uses = used_entries(request.config, request.subject)
    with naming_the_store(events, run_outputs(sign_key, cert_out, request.export)):
        outcome = certify_edit(request, _services(events, progress, sign_key, uses))
    out = cert_out or Path(request.config.output.dir).expanduser() / outcome.run_id
    return CertifyResult(outcome.certificate, write_certificate(outcome, out, events))


def certify_run(
    baseline: str | None = None,
    subject: str | None = None,
    *,
    config: ConfigLike = None,
    edit: Mapping[str, Any] | EditConfig | None = None,
    tier: str | None = None,
    profile: str | None = None,
    adapter: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    events: PathLike = DEFAULT_EVENTS,
    cert_out: PathLike | None = None,
    sign_key: PathLike | None = None,
    export: PathLike | None = None,
    progress: Progress | None = None,
) -> CertifyResult:
    """`certify` returning the certificate's path too (what the CLI prints)."""
    baseline, subject = args.optional_path("baseline", baseline), args.optional_path("subject", subject)
    tier, profile = args.optional_text("tier", tier), args.optional_text("profile", profile)
    adapter, device, dtype = (
        args.optional_text(k, v) for k, v in (("adapter", adapter), ("device", device), ("dtype", dtype))
    )
    events, cert_out = args.path_text("events", events), args.optional_path("cert_out", cert_out)
    sign_key, export = args.optional_path("sign_key", sign_key), args.optional_path("export", export)
    progress = args.progress_of(progress)
    cfg = load_run_config(config)
    if edit is not None:
        cfg = msgspec.structs.replace(cfg, edit=_edit(edit))
    cfg, subject_cfg = with_models(cfg, baseline, subject, adapter=adapter, device=device, dtype=dtype)
    request = certify_request(cfg, subject_cfg, tier=tier, profile=profile, export=export)
    return run_request(request, events=events, cert_out=cert_out, sign_key=sign_key, progress=progress)


def certify(
    baseline: str | None = None,
    subject: str | None = None,
    *,
    config: ConfigLike = None,
    edit: Mapping[str, Any] | EditConfig | None = None,
    tier: str | None = None,
    profile: str | None = None,
    adapter: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    events: PathLike = DEFAULT_EVENTS,
    cert_out: PathLike | None = None,
    sign_key: PathLike | None = None,
    export: PathLike | None = None,
    progress: Progress | None = None,
) -> c.Certificate:
    """Certify `subject` against `baseline` (or, without a subject, the baseline edited by `edit`/the config's
    edit), record every step in the event store `events`, and write evaluation.cert.json to `cert_out`
    (default: the config's output.dir/<run_id>). Settings not given come from `config`; tier and profile
    default to the config's, else balanced and ci. A FAIL verdict is a certificate, not an exception.

    Raises:
        InvarlockError: the CLI's errors with their E-codes (UsageError exit 2, AbortError/IntegrityError 3).
    """
    return certify_run(
        baseline, subject, config=config, edit=edit, tier=tier, profile=profile, adapter=adapter, device=device,
        dtype=dtype, events=events, cert_out=cert_out, sign_key=sign_key, export=export, progress=progress,
    ).certificate  # fmt: skip


def resume_certify(
    run_id: str,
    *,
    events: PathLike = DEFAULT_EVENTS,
    cert_out: PathLike | None = None,
    sign_key: PathLike | None = None,
    export: PathLike | None = None,
    progress: Progress | None = None,
) -> CertifyResult:
    """Finish the incomplete run `run_id` from its events (scoring only what is left) and write its certificate."""
    run_id, events = args.run_id_text(run_id), args.path_text("events", events)
    cert_out, sign_key = args.optional_path("cert_out", cert_out), args.optional_path("sign_key", sign_key)
    export, progress = args.optional_path("export", export), args.progress_of(progress)
    if cert_out is not None:
        require_certificate_folder(os.fspath(cert_out), "--cert-out", run_id)
    if export is not None:
        require_empty_folder(os.fspath(export), "--export")
    require_apart(events, _text(cert_out), _text(export))
    if not os.path.lexists(events):  # a run to resume is in a store that exists: "no run ... in it" misled
        raise UsageError("E506", f"event store {os.fspath(events)} does not exist", "check the --events path")
    svc = _services(events, progress, sign_key, ())
    if export is not None and cert_out is None:
        refuse_certificate_in_export(events, run_id, export, recorded_output_dir(svc.store, run_id))
    try:
        with naming_the_store(events, run_outputs(sign_key, cert_out, export)), naming_the_searched_store(events):
            outcome = resume_run(run_id, svc, export=os.fspath(export) if export is not None else None)
    except CertificateOnRecord as recorded:  # E406: the replay it names reads this store
        raise recorded.in_store(named_store(events)) from None
    recorded_dir = os.path.expanduser(str(outcome.certificate.provenance.config["output"]["dir"]))  # as certify's
    out = cert_out or Path(recorded_dir) / outcome.run_id
    return CertifyResult(outcome.certificate, write_certificate(outcome, out, events))
