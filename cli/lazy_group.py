"""The `invarlock` group's commands, imported only when one runs (or its own --help is asked for).

Importing every command module up front costs about a second (scipy, duckdb's bindings, the application
layer), which `invarlock --version`, `invarlock --help` and shell completion should not pay. The group's
help lists each command from the static table below; tests/unit/test_cli_lazy.py checks that the table
names every command and repeats each command's own short help word for word.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, NamedTuple

import click

from . import console


class LazyCommand(NamedTuple):
    """Where a command lives (module and attribute) and the first sentence of its help, for `--help`."""

    module: str
    attribute: str
    summary: str


COMMANDS: dict[str, LazyCommand] = {
    "certify": LazyCommand(
        "commands_run",
        "certify_cmd",
        "Compare & Certify: score BASELINE and SUBJECT on the same windows and issue a certificate.",
    ),
    "run": LazyCommand(
        "commands_run",
        "run_cmd",
        "Apply the config's built-in edit (quant_rtn) to its model and certify the result against the model.",
    ),
    "calibrate": LazyCommand(
        "commands_calibrate",
        "calibrate_cmd",
        "Certify each edit of a suite and write calibration.json, calibration.md and one certificate per case.",
    ),
    "verify": LazyCommand(
        "commands_verify",
        "verify_cmd",
        "Recompute every number, digest and gate of CERTIFICATE from its evidence.",
    ),
    "replay": LazyCommand(
        "commands_replay",
        "replay_cmd",
        "Rebuild RUN_ID's certificate from its events alone (byte-identical to the issued one).",
    ),
    "runs": LazyCommand(
        "commands_audit",
        "runs_cmd",
        "List runs, oldest first: status (completed, rollback, failed, incomplete, UNSEALED or TAMPERED), "
        "verdict, models.",
    ),
    "events": LazyCommand(
        "commands_audit",
        "events_cmd",
        "Show RUN_ID's event timeline; exits 3 after it when the run fails its chain check.",
    ),
    "audit": LazyCommand(
        "commands_audit",
        "audit_cmd",
        "Run read-only SQL over the event store: one view per event type plus `runs` (see docs/audit.md).",
    ),
    "keygen": LazyCommand(
        "commands_keygen",
        "keygen_cmd",
        "Write an Ed25519 key pair: OUT (private, mode 0600) and OUT.pub; print the key's fingerprint.",
    ),
    "report": LazyCommand(
        "commands_report",
        "report_cmd",
        "Render a certificate as a self-contained HTML page or Markdown (verified first; failures are shown).",
    ),
    "doctor": LazyCommand(
        "commands_doctor",
        "doctor_cmd",
        "Preflight: check what certify/run would check before loading a model, loading no weights.",
    ),
    "plugins": LazyCommand(
        "commands_plugins",
        "plugins_cmd",
        "List the entries of GROUP (default: every group), their origin and whether they load.",
    ),
    "completion": LazyCommand(
        "commands_completion",
        "completion_cmd",
        "Print the completion script of SHELL.",
    ),
}


class Interrupted(Exception):
    """Ctrl-C during a command: click would turn the KeyboardInterrupt into an Abort after printing a blank line,
    so the group re-raises it as this (exit 130, one line: cli/main.py)."""


class LazyGroup(click.Group):
    """A click group whose subcommands come from `COMMANDS`, each module imported on first use."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # everything below has run its cleanup for it already
            raise Interrupted() from exc
        except click.UsageError as exc:
            self._name_the_command(ctx, exc)
            raise

    def _name_the_command(self, ctx: click.Context, exc: click.UsageError) -> None:
        """Give a usage error raised while parsing a subcommand's arguments (`certify --baseline` without a value:
        click's parser raises it before the subcommand's context exists) that subcommand's context, so that its
        hint names `invarlock certify --help` rather than the group's help (cli/main.py)."""
        name = ctx.invoked_subcommand
        command = self.get_command(ctx, name) if exc.ctx in (None, ctx) and name else None
        if command is not None:
            exc.ctx = click.Context(command, info_name=name, parent=ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command: click.Command = getattr(import_module(f"{__package__}.{entry.module}"), entry.attribute)
        refuse_empty_values(command)
        keep_stdout_for_the_command(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The `Commands:` section from the static table: listing imports no command module."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, click.Command(name, help=COMMANDS[name].summary).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def keep_stdout_for_the_command(command: click.Command) -> None:
    """What code other than the CLI prints while `command` (or a subcommand) runs goes to stderr (a plugin edit's
    print broke `run --json`); the help and errors click prints while parsing stay where they were."""
    if command.callback is not None and not getattr(command, "_stdout_kept", False):
        command.callback = console.commands_only_print_to_stdout(command.callback)
        command._stdout_kept = True  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        keep_stdout_for_the_command(sub)


def refuse_empty_values(command: click.Command) -> None:
    """Every text or path parameter of `command` (and of its subcommands) refuses an empty or blank value: `--tier
    ''` fell back to the default tier, `--cert-out ''` wrote to the current folder and `--events ''` named `.`."""
    for param in command.params:
        if isinstance(param.type, click.types.StringParamType | click.Path) and not getattr(param, "_no_empty", False):
            param.callback = _not_empty(param.callback)
            param._no_empty = True  # type: ignore[attr-defined]
    for sub in getattr(command, "commands", {}).values():
        refuse_empty_values(sub)


def _not_empty(callback: Any) -> Any:
    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        given = value if isinstance(value, tuple | list) else (value,)
        if any(isinstance(v, str) and not v.strip() for v in given):
            said = "is empty: give a value" if param.required else "is empty: give a value, or leave it out"
            raise click.BadParameter(said, ctx=ctx, param=param)
        return callback(ctx, param, value) if callback is not None else value

    return check
