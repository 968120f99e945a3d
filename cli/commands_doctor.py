"""`invarlock doctor`: the preflight of certify/run, every check run, printed as ERROR/WARNING/NOTE lines."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import click
import msgspec
from invarlock.application.doctor.diagnose import DoctorRequest, diagnose
from invarlock.domain.doctor_report import DoctorReport
from invarlock.domain.errors import InvarlockError, UsageError

from . import console
from .bootstrap import DEFAULT_EVENTS, build_doctor_deps, load_signer
from .commands_run import build_request, certify_config, run_config
from .outputs import require_apart, require_certificate_folder, require_empty_folder, require_folder


def _doctor_request(
    config: str | None, baseline: str | None, subject: str | None, opts: dict[str, Any]
) -> DoctorRequest:
    """The run certify (with --baseline/--subject, the config as its preset) or run (-c CONFIG; none: the
    embedded demo) would start, or the error building it gives."""
    events, source = opts["events"], config or "<embedded default>"
    edit = opts["edit_config"]
    if config is None and baseline is None and subject is None and edit is None:
        source = "<embedded demo> (run --demo)"
    try:
        if edit is not None and baseline is None and subject is None:
            raise UsageError(
                "E200",
                "--edit-config is certify's option and certify needs --baseline and --subject",
                "pass them with it, or put the edit in the config's edit: section (what run -c applies)",
            )
        if baseline is not None or subject is not None or edit is not None:  # --edit-config is certify's option
            cfg, subj = certify_config(baseline, subject, opts["adapter"], config, edit, {**opts, "demo": False})
            request = build_request(cfg, subj, "certify", opts)
        else:
            _refuse_adapter_without_models(opts["adapter"])
            request = build_request(run_config(config, {**opts, "demo": config is None}), None, "run", opts)
    except InvarlockError as exc:
        flags = _flag_errors(opts, None)
        return DoctorRequest(request=None, source=source, events=events, config_error=exc, flag_errors=flags)
    # without --cert-out the certificate goes under the config's output.dir (--out)
    out = None if opts.get("cert_out") else os.path.expanduser(request.config.output.dir)
    flags = _flag_errors(opts, out)
    return DoctorRequest(request=request, source=source, events=events, flag_errors=flags, config_file=config)


def _errors_of(check: Callable[[], None]) -> tuple[InvarlockError, ...]:
    try:
        check()
    except InvarlockError as exc:
        return (exc,)
    return ()


def _refuse_adapter_without_models(adapter: str) -> None:
    """Without --baseline/--subject the doctor checks `run`, which has no --adapter (it reads model.adapter)."""
    if adapter != "auto":
        raise UsageError(
            "E200",
            f"--adapter {adapter} is certify's option, and without --baseline/--subject the doctor checks `run`",
            "add --baseline and --subject, or set model.adapter in the -c config",
        )


def _flag_errors(opts: dict[str, Any], out_dir: str | None) -> tuple[InvarlockError, ...]:
    """What certify/run refuse before a run starts, in their order (cli/api.py run_request): --cert-out or the
    config's output.dir `out_dir` (E608), --export (E608), --sign-key (E700-E702), outputs that collide (E608),
    INVARLOCK_ALLOW_NETWORK (E200)."""
    from invarlock.adapters.network_switch import network_allowed

    given = {**opts, "out_dir_checked": out_dir}
    checks = [
        ("cert_out", lambda p: require_certificate_folder(p, "--cert-out")),
        ("out_dir_checked", lambda p: require_folder(p, "output.dir (--out)")),
        ("export_dir", lambda p: require_empty_folder(p, "--export")),
        ("sign_key", load_signer),
    ]
    errors: list[InvarlockError] = []
    for option, check in checks:
        if given.get(option):
            errors.extend(_errors_of(functools.partial(check, given[option])))
    apart = functools.partial(require_apart, opts["events"], opts.get("cert_out"), opts.get("export_dir"), out_dir)
    return (*errors, *_errors_of(apart), *_errors_of(network_allowed))


def _print(report: DoctorReport) -> None:
    """Every finding and a summary; with --quiet only the ERROR findings (the exit status says the rest)."""
    for finding in report.findings:
        # escaped: a finding quotes paths and config values, which must not move the cursor or start a line
        (console.out if finding.severity == "error" else console.say)(console.printable(finding.line()))
    s, r = report.summary, report.resolution
    counts = f"{s.errors} error(s), {s.warnings} warning(s), {s.notes} note(s)"
    if r.ready:
        console.say(f"doctor: {counts}; {r.command} would start")
    else:
        console.say(f"doctor: {counts}; the run would stop with {r.error_code} (exit {r.exit_code})")


@click.command("doctor")
@click.option(
    "--config", "-c", "--preset", "config", type=click.Path(), default=None, help="config (run) or preset (certify)"
)
@click.option("--edit-config", type=click.Path(), default=None, help="YAML with an edit: section, as certify takes it")
@click.option("--baseline", "--source", "baseline", default=None, help="baseline model, as certify takes it")
@click.option("--subject", "--edited", "subject", default=None, help="subject model, as certify takes it")
@click.option("--adapter", default="auto", show_default=True, help="the model adapter, as certify takes it")
@click.option("--profile", type=click.Choice(["dev", "ci", "release"]), default=None, help="dev | ci | release")
@click.option("--tier", default=None, help="conservative | balanced | aggressive")
@click.option("--device", default=None, help="auto | cpu | cuda | mps")
@click.option("--dtype", default=None, help="float32 | float16 | bfloat16")
@click.option("--device-map", default=None, help="auto: spread each model over GPUs, RAM and disk")
@click.option("--events", type=click.Path(), default=DEFAULT_EVENTS, show_default=True, help="DuckDB event store")
@click.option("--sequential/--no-sequential", default=None, help="how certify/run hold the models (unset: as they can)")
@click.option("--sign-key", type=click.Path(), default=None, help="check the key certify would sign with")
@click.option("--out", "out_dir", type=click.Path(), default=None, help="output.dir, as certify/run take it")
@click.option("--cert-out", type=click.Path(), default=None, help="check the certificate folder certify would use")
@click.option("--export", "export_dir", type=click.Path(), default=None, help="check certify's --export folder")
@click.option("--json", "as_json", is_flag=True, help="print the report as one JSON object")
def doctor_cmd(config: str | None, baseline: str | None, subject: str | None, as_json: bool, **opts: Any) -> None:
    """Preflight: check what certify/run would check before loading a model, loading no weights.

    Exit status: 0 when the run would start (warnings and notes allowed), else the status it would stop
    with (2 config, usage or input; 3 abort, e.g. E303 too few windows). docs/reference/doctor.md"""
    report = diagnose(_doctor_request(config, baseline, subject, opts), build_doctor_deps())
    if as_json:
        console.out(msgspec.json.encode(report).decode())
    else:
        _print(report)
    raise click.exceptions.Exit(report.resolution.exit_code)
