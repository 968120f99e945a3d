"""`invarlock certify` (baseline vs subject) and `invarlock run -c CONFIG` (baseline + built-in edit): thin
layers over the Python API (cli/api.py) that print its certificate's summary."""

from __future__ import annotations

from typing import Any

import click
import msgspec
from invarlock.application.certification.certify import CertifyRequest
from invarlock.application.certification.run_request import policy_naming_file
from invarlock.application.config import DEMO_MODEL, EditConfig, ModelConfig, RunConfig, parse_config
from invarlock.application.config_sequential import held_one_at_a_time, with_sequential
from invarlock.domain.errors import EXIT_GATES_FAILED, EXIT_OK, UsageError
from invarlock.domain.policy import PROFILES, TIERS
from invarlock.ports.ui import Progress

from . import api, console
from .api import write_certificate
from .bootstrap import DEFAULT_EVENTS
from .config_file import read_yaml
from .progress import make_progress
from .run_summary import _baseline_lines as _baseline_lines  # tests import it from here
from .run_summary import _report

__all__ = ["certify_cmd", "run_cmd", "write_certificate"]

DEMO_EDIT = EditConfig(name="quant_rtn", plan={"bits": 8, "scope": "all"})


def common_options(fn: Any) -> Any:
    options = [
        click.option(
            "--profile",
            type=click.Choice(["dev", "ci", "release"]),
            default=None,
            help="dev (any window count), ci, release (default: the config's profile, else ci)",
        ),
        click.option(
            "--tier",
            default=None,
            help="conservative | balanced | aggressive (default: the config's auto.tier, else balanced)",
        ),
        click.option("--device", default=None, help="auto | cpu | cuda | mps"),
        click.option(
            "--dtype",
            default=None,
            help="float32 | float16 | bfloat16 (default: the config's model.dtype, else float32)",
        ),
        click.option("--device-map", default=None, help="auto: spread each model over GPUs, RAM and disk (accelerate)"),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(),
            default=None,
            help="output.dir: the certificate goes to OUT/<run_id>/ unless --cert-out (default: the config's, reports)",
        ),
        click.option("--cert-out", type=click.Path(), default=None, help="directory for evaluation.cert.json"),
        click.option(
            "--events", type=click.Path(), default=DEFAULT_EVENTS, show_default=True, help="DuckDB event store"
        ),
        click.option("--demo", is_flag=True, help="embedded demo: SmolLM2-135M vs its int8 quant_rtn edit"),
        console.quiet_option,
        click.option("--json", "as_json", is_flag=True, help="print one JSON summary line"),
        click.option(
            "--sign-key", type=click.Path(), default=None, help="Ed25519 private key (invarlock keygen) to sign with"
        ),
        click.option(
            "--no-reuse",
            "no_reuse",
            is_flag=True,
            help="score the baseline even when the event store holds an identical earlier scoring (eval.reuse: false)",
        ),
        click.option(
            "--sequential/--no-sequential",
            default=None,
            help="hold one model at a time, the baseline released before the subject loads (eval.sequential: true; "
            "KL and top-1 agreement from the baseline's final hidden states, kept on disk, and its LM head), or both "
            "together (false); unset: one at a time wherever it can (docs/reference/sequential.md)",
        ),
        click.option(
            "--export",
            "export_dir",
            type=click.Path(),
            default=None,
            help="write the subject as certified (with any guard repair, e.g. VE scales) as safetensors to DIR",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _progress(opts: dict[str, Any]) -> Progress:
    return make_progress(opts["as_json"] or console.quiet(), console.verbose())


def build_request(cfg: RunConfig, subject: ModelConfig | None, command: str, opts: dict[str, Any]) -> CertifyRequest:
    """The request of `certify` (a subject) or `run` (the config's edit): flags override the config."""
    if opts.get("no_reuse"):
        cfg = msgspec.structs.replace(cfg, eval=msgspec.structs.replace(cfg.eval, reuse=False))
    if opts.get("sequential") is True:
        cfg = held_one_at_a_time(cfg)
    elif opts.get("sequential") is False:
        cfg = with_sequential(cfg, False)
    if opts.get("out_dir"):
        cfg = msgspec.structs.replace(cfg, output=msgspec.structs.replace(cfg.output, dir=opts["out_dir"]))
    request = api.certify_request(
        cfg, subject, tier=opts["tier"], profile=opts["profile"], export=opts.get("export_dir")
    )
    assert request.command == command, "certify names a subject, run does not"
    return request


def _outputs(opts: dict[str, Any]) -> dict[str, Any]:
    """Where a new or resumed run writes (event store, certificate folder, signing key) and its progress bar."""
    return {
        "events": opts["events"],
        "cert_out": opts["cert_out"],
        "sign_key": opts["sign_key"],
        "progress": _progress(opts),
    }


def _execute(request: CertifyRequest, opts: dict[str, Any], source: str | None = None) -> None:
    _guard_settings_of(request, source)
    result = api.run_request(request, **_outputs(opts))
    _finish(result, opts)


def _guard_settings_of(request: CertifyRequest, source: str | None) -> None:
    """The policy settings of the config file `source` against the tier, before the run: an error names the file
    (the run's own check, in its preflight, names the key only); anything but an E202 is left to the run."""
    if source is None or request.tier not in TIERS or request.profile not in PROFILES:
        return
    try:
        policy_naming_file(request, source)
    except UsageError as exc:
        if exc.code == "E202":
            raise


def _finish(result: api.CertifyResult, opts: dict[str, Any]) -> None:
    _report(result.certificate, result.path, opts)
    raise click.exceptions.Exit(EXIT_OK if result.certificate.verdict.status == "PASS" else EXIT_GATES_FAILED)


_FLAGS = {"out_dir": "--out"}  # option keys whose flag is not the key with dashes


def _resume(run_id: str, given: dict[str, Any], opts: dict[str, Any]) -> None:
    clashing = [_FLAGS.get(k, f"--{k.replace('_', '-')}") for k, v in given.items() if v]
    if clashing:
        raise UsageError(
            "E200",
            f"--resume continues a run with its recorded settings; {', '.join(clashing)} cannot change them",
            f"drop {', '.join(clashing)}",
        )
    result = api.resume_certify(run_id, export=opts["export_dir"], **_outputs(opts))
    _finish(result, opts)


@click.command("certify")
@click.option(
    "--baseline", "--source", "baseline", default=None, help="baseline model: path, hf:ID, gguf:FILE or demo name"
)
@click.option(
    "--subject", "--edited", "subject", default=None, help="subject model: path, hf:ID, gguf:FILE or demo name"
)
@click.option(
    "--adapter", default="auto", show_default=True, help="auto | hf_causal | hf_encoder | hf_mlm | hf_seqcls | onnx"
)
@click.option("--preset", type=click.Path(), default=None, help="YAML preset (dataset, guards, tier)")
@click.option(
    "--edit-config", type=click.Path(), default=None, help="YAML with an edit: section applied to the subject"
)
@click.option("--resume", "resume", default=None, metavar="RUN_ID", help="finish an incomplete run from its events")
@common_options
def certify_cmd(
    baseline: str | None,
    subject: str | None,
    adapter: str,
    preset: str | None,
    edit_config: str | None,
    resume: str | None,
    **opts: Any,
) -> None:
    """Compare & Certify: score BASELINE and SUBJECT on the same windows and issue a certificate."""
    if resume is not None:
        given = {"baseline": baseline, "subject": subject, "preset": preset, "edit_config": edit_config}
        recorded = ("profile", "tier", "device", "dtype", "device_map", "demo", "no_reuse", "out_dir")
        given.update({k: opts[k] for k in recorded})
        given["adapter"] = adapter != "auto" and adapter  # its default: not given
        given["sequential"], given["no_sequential"] = opts["sequential"] is True, opts["sequential"] is False
        _resume(resume, given, opts)
    request = build_request(*certify_config(baseline, subject, adapter, preset, edit_config, opts), "certify", opts)
    _execute(request, opts, source=preset)


def edit_overlay(path: str) -> EditConfig:
    """The `edit:` section of an --edit-config file (an InvarLock 0.3.7 overlay translated; a whole run config's
    other sections are checked and left unread). UsageError E201 when it has none: the subject was certified
    unedited."""
    data = read_yaml(path, what="--edit-config file", option="--edit-config")
    edit = parse_config(data, source=path).edit
    if edit is None:
        raise UsageError(
            "E201",
            f"{path}: no edit to apply (no edit: section, or edit.name noop)",
            "write edit: {name: quant_rtn, plan: {bits: 8}}",
        )
    return edit


def certify_config(
    baseline: str | None, subject: str | None, adapter: str, preset: str | None, edit_config: str | None, opts: Any
) -> tuple[RunConfig, ModelConfig]:
    """The config and subject `certify` runs (UsageError E200/E201 as certify gives them)."""
    # A preset brings data, guards and tier; the subject is certified as given, so a preset's edit is dropped.
    cfg = msgspec.structs.replace(api.load_run_config(preset), edit=None)
    if opts["demo"]:
        baseline, subject = baseline or DEMO_MODEL, subject or DEMO_MODEL
        cfg = msgspec.structs.replace(cfg, edit=DEMO_EDIT)
    if not baseline or not subject:
        raise UsageError("E200", "certify needs --baseline and --subject", "or run `invarlock certify --demo`")
    if edit_config:
        cfg = msgspec.structs.replace(cfg, edit=edit_overlay(edit_config))
    cfg, subject_cfg = api.with_models(
        cfg,
        baseline,
        subject,
        adapter=adapter,
        device=opts["device"],
        dtype=opts["dtype"],
        device_map=opts["device_map"],
    )
    assert subject_cfg is not None, "certify names a subject"
    return cfg, subject_cfg


@click.command("run")
@click.option("--config", "-c", "config", type=click.Path(), default=None, help="run config YAML")
@common_options
def run_cmd(config: str | None, **opts: Any) -> None:
    """Apply the config's built-in edit (quant_rtn) to its model and certify the result against the model."""
    _execute(build_request(run_config(config, opts), None, "run", opts), opts, source=config)


def run_config(config: str | None, opts: Any) -> RunConfig:
    """The config `run` runs (UsageError E200/E201 as run gives them)."""
    if config is None and not opts["demo"]:
        raise UsageError("E200", "run needs -c CONFIG", "or run `invarlock run --demo`")
    cfg = api.load_run_config(config)
    if opts["demo"] and cfg.edit is None:
        cfg = msgspec.structs.replace(cfg, edit=DEMO_EDIT)
    if cfg.edit is None:
        raise UsageError(
            "E201",
            f"{config}: no edit (no edit: section, or edit.name noop)",
            "add edit: {name: quant_rtn, plan: {bits: 8}}",
        )
    return api.with_models(cfg, None, None, device=opts["device"], dtype=opts["dtype"], device_map=opts["device_map"])[
        0
    ]
