"""`invarlock verify CERT` (needs neither torch nor the models, unless it re-executes the certificate)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click
import msgspec
from invarlock.application.verification.verify import VerifyReport, proves
from invarlock.domain.errors import EXIT_INTEGRITY, EXIT_USAGE, InvarlockError, UsageError
from invarlock.domain.policy import REEXECUTION_DEFAULT_SAMPLE, VERIFY_MAX_REPLICATES

from . import api_verify as api
from . import console
from .reexecute import ReexecutionOptions, reexecution_options, refuse_audit_options_alone


def _verdict_line(report: VerifyReport, exit_code: int) -> str:
    """The last line; after a failed integrity check the certificate's stated verdict is not established."""
    if exit_code == EXIT_INTEGRITY:
        return f"Verdict: not established — integrity checks failed, so the stated verdict is void  (exit {exit_code})"
    return f"Verdict: {console.verdict(report.verdict) if report.verdict else 'not established'}  (exit {exit_code})"


def envelope(report: VerifyReport, exit_code: int, error: dict[str, str] | None, notes: Sequence[str] = ()) -> str:
    """The one `verify --json` line: the checks run so far, and `error` ({code, message, hint}) when verify stopped
    on one (cli/main.py prints it for an error raised past this command too)."""
    said: dict[str, object] = {
        "format_version": "verify-v1",
        "ok": error is None and report.ok and exit_code == 0,
        "checks": [{"name": ch.name, "ok": ch.ok, "detail": ch.detail} for ch in report.checks],
        "verdict": report.verdict if exit_code != EXIT_INTEGRITY else None,
        "exit_code": exit_code,
        "proves": msgspec.to_builtins(proves()),
    }
    if error is not None:
        said["error"] = error
    if notes:
        said["notes"] = list(notes)
    return json.dumps(said)


def _emit(report: VerifyReport, as_json: bool, error: InvarlockError | None = None, notes: Sequence[str] = ()) -> None:
    exit_code = EXIT_USAGE if error is not None else report.exit_code
    if as_json:
        said = None if error is None else {"code": error.code, "message": error.message, "hint": error.hint}
        console.out(envelope(report, exit_code, said, notes))
    else:
        for line in notes:
            console.say(f"NOTE: {console.printable(line)}")
        for ch in report.checks:
            detail = console.printable(f"{ch.name}: {ch.detail}")  # holds certificate text
            console.say(f"{'ok  ' if ch.ok else console.verdict('FAIL')}  {detail}")
        if error is None:
            _echo_proves()
            console.say(_verdict_line(report, exit_code))
    if error is not None and not as_json:
        raise error
    if error is not None:  # the one line every error prints on stderr, beside the envelope (docs/user-guide.md)
        console.error(error.one_line())
    raise click.exceptions.Exit(exit_code)


def _echo_proves() -> None:
    said = proves()
    console.say("Recomputed by verify: " + "; ".join(said.recomputed))
    console.say("Trusted inputs: " + "; ".join(said.trusted_inputs) + f" ({said.trusted_inputs_check})")
    console.say("Stated, not recomputed: " + "; ".join(said.stated) + f" ({said.stated_check})")


@click.command("verify")
@click.argument("certificate", type=click.Path())
@click.option("--events", type=click.Path(), default=None, help="also check the event chain and replay")
@click.option("--tier", default=None, help="re-decide under YOUR tier instead of the certificate's policy")
@click.option("--profile", default=None, help="profile for --tier (default: the certificate's)")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(),
    default=None,
    help="YAML {tier, profile, overrides, guards, evidence}: YOUR policy",
)
@click.option("--pubkey", type=click.Path(), default=None, help="trusted Ed25519 public key: the signature must verify")
@click.option("--require-signature", is_flag=True, help="an unsigned certificate fails (exit 3)")
@click.option("--json", "as_json", is_flag=True, help="print exactly one JSON line")
@click.option(
    "--max-replicates",
    type=click.IntRange(min=1),
    default=VERIFY_MAX_REPLICATES,
    show_default=True,
    help="refuse (exit 2) a certificate or policy whose bootstrap needs more replicates",
)
@reexecution_options
def verify_cmd(
    certificate: str,
    events: str | None,
    tier: str | None,
    profile: str | None,
    policy_file: str | None,
    pubkey: str | None,
    require_signature: bool,
    as_json: bool,
    max_replicates: int,
    reexecution: ReexecutionOptions,
) -> None:
    """Recompute every number, digest and gate of CERTIFICATE from its evidence."""
    report = VerifyReport()
    notes: list[str] = []
    audit = {"baseline": reexecution.baseline, "subject": reexecution.subject}
    try:
        if not reexecution.requested:
            refuse_audit_options_alone(reexecution)
        api.verify_into(
            report,
            certificate,
            policy=policy_file,
            tier=tier,
            profile=profile,
            events=events,
            models={role: ref for role, ref in audit.items() if ref is not None},
            sample=REEXECUTION_DEFAULT_SAMPLE if reexecution.sample is None else reexecution.sample,
            sample_seed=reexecution.sample_seed,
            device=reexecution.device,
            exact=reexecution.exact,
            sequential=reexecution.sequential,
            pubkey=pubkey,
            require_signature=require_signature,
            max_replicates=max_replicates,
            notes=notes,
        )
    except UsageError as exc:
        report.add("schema" if exc.code == "E601" else "input", False, exc.message)
        _emit(report, as_json, exc, notes)
    _emit(report, as_json, notes=notes)
