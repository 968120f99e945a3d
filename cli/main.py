"""The `invarlock` command line. Every error is one line; exit codes follow ARCHITECTURE.md §1."""

from __future__ import annotations

import os
import sys
import traceback

import click
from invarlock.domain.errors import InvarlockError

from .commands_audit import audit_cmd, events_cmd, runs_cmd
from .commands_calibrate import calibrate_cmd
from .commands_keygen import keygen_cmd
from .commands_report import report_cmd
from .commands_run import certify_cmd, run_cmd
from .commands_verify import replay_cmd, verify_cmd
from .version import tool_version


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(tool_version(), prog_name="invarlock", message="%(prog)s %(version)s · schema=v1")
def cli() -> None:
    """InvarLock: certify that a weight edit of a language model preserves quality.

    Exit codes: 0 success/PASS, 1 gates FAIL, 2 usage/config/schema invalid, 3 integrity failure or hard abort.
    """


for command in (
    certify_cmd,
    run_cmd,
    calibrate_cmd,
    verify_cmd,
    replay_cmd,
    runs_cmd,
    events_cmd,
    audit_cmd,
    keygen_cmd,
    report_cmd,
):
    cli.add_command(command)


def main() -> None:
    """Console entry point: maps InvarlockError to its one-line message and exit code, never a traceback."""
    try:
        # Without standalone mode click returns (not raises) the code of a `click.exceptions.Exit`.
        code = cli.main(standalone_mode=False)
    except InvarlockError as exc:
        click.echo(exc.one_line(), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("ERROR [INVARLOCK:E000] interrupted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"ERROR [INVARLOCK:E200] {exc.format_message()} — see `invarlock --help`", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("ERROR [INVARLOCK:E000] interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug or an environment failure we did not foresee: still one line
        if os.environ.get("INVARLOCK_DEBUG") == "1":
            traceback.print_exc()
        first = str(exc).splitlines()[0] if str(exc) else ""
        click.echo(
            f"ERROR [INVARLOCK:E999] unexpected {type(exc).__name__}: {first} — "
            "rerun with INVARLOCK_DEBUG=1 for the traceback and report it",
            err=True,
        )
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
